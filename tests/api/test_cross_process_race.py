"""Two supervisors in two processes race for one phase: exactly one wins."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maplecollect.state import migrations

RACE = Path(__file__).resolve().parent.parent / "support" / "race_trigger.py"


def _race(url: str) -> tuple[list[str], list[str | None]]:
    migrations.upgrade(url)
    start_at = time.time() + 4.0  # both processes are up and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(RACE), url, str(start_at), "10"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    won: list[str] = []
    conflicts: list[str | None] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        result = json.loads(out.strip().splitlines()[-1])
        won += result["won"]
        conflicts += result["conflicts"]
    return won, conflicts


@pytest.mark.slow
def test_two_processes_on_postgres(postgres_schema_url: str) -> None:
    won, conflicts = _race(postgres_schema_url)
    assert len(won) == 1
    assert len(conflicts) == 19
    assert set(conflicts) == set(won)


@pytest.mark.slow
def test_two_processes_on_sqlite(tmp_path: Path) -> None:
    won, conflicts = _race(f"sqlite:///{tmp_path / 'race.db'}")
    assert len(won) == 1
    assert len(conflicts) == 19
    assert set(conflicts) == set(won)
