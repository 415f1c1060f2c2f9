"""A restart is not a failure (docs/reliability.md "Auto-resume").

`maplecollect serve` gets SIGTERM mid-phase while `maplecollect trigger --wait`
follows the run; the service is started again on the same database, store and
port. The run ends INTERRUPTED, is resumed automatically under the same runId,
completes with the records of an uninterrupted run, and the waiter succeeds.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from maplecollect.artifacts import read_run
from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread
from support.procs import _clean_env, free_port, start_real_service
from support.replicas import StateDb, started, wait_for, wait_run
from support.sim import SIM_NOW, SNAPSHOT


@pytest.mark.slow
def test_restart_mid_phase_under_a_cli_waiter(tmp_path: Path) -> None:
    config = SimConfig(seed=5, characters=300, now=SIM_NOW, latency=Latency(p50_ms=2))
    with run_simulator_in_thread(config) as sim:
        env = {
            "MAPLECOLLECT_NEXON_BASE_URL": sim.base_url,
            "NEXON_API_KEY": "test-key",
            "MAPLECOLLECT_CHUNK_MAX_RECORDS": "20",
            "MAPLECOLLECT_RATE_LIMIT": "100",  # slow enough to be restarted mid-phase
            "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
            "MAPLECOLLECT_HEARTBEAT_SECONDS": "0.2",
        }
        port = free_port()
        proc, url = start_real_service(tmp_path, port=port, **env)
        waiter: subprocess.Popen[str] | None = None
        try:
            ranking = started(url, "RANKING_FETCH")
            wait_run(url, ranking, lambda r: r["status"] == "COMPLETED")
            ocid = started(url, "OCID_LOOKUP", ranking)
            wait_run(url, ocid, lambda r: r["status"] == "COMPLETED")

            exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
            assert exe
            waiter = subprocess.Popen(
                [
                    exe,
                    "trigger",
                    "ITEM_EQUIPMENT",
                    "--upstream",
                    ocid,
                    "--date",
                    SNAPSHOT,
                    "--wait",
                    "--json",
                    "--url",
                    url,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_clean_env(),
            )
            db = StateDb(f"sqlite:///{tmp_path / 'maplecollect.db'}")

            def victim_running() -> bool:
                rows = db.query(
                    "select run_id from runs "
                    "where phase = 'ITEM_EQUIPMENT' and chunks_processed >= 2"
                )
                return bool(rows)

            wait_for("the waited-for run to publish two parts", victim_running)
            ((victim,),) = db.query("select run_id from runs where phase = 'ITEM_EQUIPMENT'")
            proc.send_signal(signal.SIGTERM)  # a deploy
            # uvicorn shuts down gracefully, then re-raises the signal (exit -15).
            assert proc.wait(timeout=120) in (0, -signal.SIGTERM)
            status, _, epoch = db.run(victim)
            assert (status, epoch) == ("INTERRUPTED", 0)
            assert waiter.poll() is None, "the waiter gave up during the restart"

            proc, url = start_real_service(tmp_path, port=port, **env)
            out, err = waiter.communicate(timeout=300)
            assert waiter.returncode == 0, err
            final = json.loads(out)
            assert final["runId"] == victim
            assert final["status"] == "COMPLETED"
            assert final["resumeCount"] == 1
            assert db.run(victim)[2] == 1  # taken over with the next lease epoch

            clean = started(url, "ITEM_EQUIPMENT", ocid)
            wait_run(url, clean, lambda r: r["status"] == "COMPLETED")
        finally:
            if waiter is not None and waiter.poll() is None:
                waiter.kill()
            proc.terminate()
            proc.wait(timeout=60)

    store = str(tmp_path / "store")
    got = [(r["key"], r["body"]) for r in read_run(victim, "item-equipment", store_url=store)]
    want = [(r["key"], r["body"]) for r in read_run(clean, "item-equipment", store_url=store)]
    assert got == want
    assert len({k for k, _ in got}) == len(got)
