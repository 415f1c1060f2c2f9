"""Two supervisors in two processes race for one phase: exactly one wins."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from maplecollect.state import migrations

RACE = Path(__file__).resolve().parent.parent / "support" / "race_trigger.py"


def _race(url: str) -> tuple[list[str], list[str | None]]:
    migrations.upgrade(url)
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, str(RACE), url, "10"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(2)
        ]
        for proc in procs:
            stack.callback(_kill_if_running, proc)
        # A barrier: both supervisors are up before either fires, and both have
        # fired before either lets go of its slot.
        for proc in procs:
            assert _line(proc) == "ready"
        for proc in procs:
            _send(proc, "go")
        results = [json.loads(_line(proc)) for proc in procs]
        for proc in procs:
            _send(proc, "done")
        for proc in procs:
            assert proc.wait(timeout=120) == 0
    won = [r for result in results for r in result["won"]]
    conflicts = [r for result in results for r in result["conflicts"]]
    return won, conflicts


def _kill_if_running(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def _send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


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
