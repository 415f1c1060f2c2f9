"""`maplecollect demo` end to end at a small size, as `make demo` runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.clitools import spawn
from maplecollect.artifacts import read_manifest
from maplecollect.console.options import RUN_STATUSES
from maplecollect.state.models import RunStatus


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    ran = spawn(
        [
            "demo",
            "--characters",
            "60",
            "--rate",
            "400",
            "--latency-ms",
            "1",
            "--data-dir",
            str(data),
            "--json",
        ],
        # Real settings in the environment must not leak into the demo.
        env={
            "MAPLECOLLECT_DATABASE_URL": "sqlite:////nonexistent/dir/x.db",
            "MAPLECOLLECT_STORE_URL": "/nonexistent/store",
            "MAPLECOLLECT_CHUNK_CODEC": "gzip",
            "NEXON_API_KEY": "a-real-key-must-not-be-used",
        },
        timeout=280,
    )
    assert ran.code == 0, ran.stderr[-3000:]
    summary = ran.json
    per_phase = summary["perPhase"]
    assert per_phase["RANKING_FETCH"]["records"] == 60
    assert per_phase["RANKING_FETCH"]["failed"] == 0
    ocids = per_phase["OCID_LOOKUP"]["records"]
    assert 0 < ocids <= 60
    assert per_phase["OCID_LOOKUP"]["records"] + per_phase["OCID_LOOKUP"]["failed"] == 60
    # The chain and the re-run of CHARACTER_BASIC.
    assert per_phase["CHARACTER_BASIC"] == {"runs": 2, "records": 2 * ocids, "failed": 0}
    # The chain, one finished loop iteration, one stopped (or finished) iteration.
    statuses = {r["status"] for r in summary["runs"] if r["phase"] == "ITEM_EQUIPMENT"}
    assert statuses <= {"COMPLETED", "STOPPED"}
    assert per_phase["ITEM_EQUIPMENT"]["runs"] >= 3
    assert summary["chainRequests"] > 0
    assert summary["rateLimitMinimumSeconds"] == pytest.approx(summary["chainRequests"] / 400, 0.01)

    store = Path(summary["store"])
    assert store == (data / "store").resolve()
    assert (data / "maplecollect.db").exists()
    for phase, endpoint in (
        ("RANKING_FETCH", "ranking-overall"),
        ("ITEM_EQUIPMENT", "item-equipment"),
    ):
        run_id = summary["manifests"][phase].split("/runs/")[1].split("/")[0]
        manifest = read_manifest(run_id, endpoint, store_url=str(store))
        assert manifest["status"] == "COMPLETED"
    # The printed DuckDB one-liner works as printed (from the working directory it names).
    assert summary["duckdbResult"]
    one_liner = summary["duckdb"]
    assert one_liner.startswith(sys.executable) or ".venv/bin/python" in one_liner
    check = subprocess.run(one_liner, shell=True, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert "characters" in check.stdout

    # The human summary went to stderr (stdout is JSON).
    for needle in ("records and failures per phase", "rate limit", "DuckDB", "LOOP_ACTIVE"):
        assert needle in ran.stderr


def test_run_statuses_match_the_models() -> None:
    assert tuple(s.value for s in RunStatus) == RUN_STATUSES
