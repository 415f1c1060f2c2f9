"""Split brain, prevented: a frozen owner is fenced out (docs/reliability.md "Fencing").

Two real `maplecollect serve` replicas share one database and one store (PostgreSQL,
and SQLite with two processes on one file). Replica A runs ITEM_EQUIPMENT and is
frozen with SIGSTOP for longer than the lease; replica B interrupts the run,
resumes it under the same runId with a new lease epoch and collects; A is woken
with SIGCONT. Each replica talks to its own simulator (same world), so the
simulators tell who fetched what.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from maplecollect.artifacts import read_manifest, read_run
from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread
from support.procs import start_real_service
from support.replicas import Sampler, StateDb, started, trigger, wait_for, wait_log, wait_run
from support.sim import SIM_NOW

# Short lease so the test stays short: a run without heartbeat for 1.5 s is taken over.
LEASE_ENV = {
    "MAPLECOLLECT_HEARTBEAT_SECONDS": "0.2",
    "MAPLECOLLECT_HEARTBEAT_TIMEOUT_SECONDS": "1.5",
    "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
    "MAPLECOLLECT_AUTO_RESUME_BACKOFF_SECONDS": "0",
    # A frozen process inside a transaction loses its session (and row locks) fast.
    "MAPLECOLLECT_DB_IDLE_TRANSACTION_TIMEOUT_SECONDS": "1",
    "MAPLECOLLECT_DB_LOCK_TIMEOUT_SECONDS": "1",
    "MAPLECOLLECT_DB_BUSY_TIMEOUT_SECONDS": "2",
    "MAPLECOLLECT_CHUNK_MAX_RECORDS": "20",
    "MAPLECOLLECT_RATE_LIMIT": "80",  # slow enough to be frozen and taken over mid-phase
    "NEXON_API_KEY": "test-key",
}


def _sim_total(sim_url: str) -> int:
    stats = httpx.get(f"{sim_url}/_sim/stats", timeout=10).json()
    return sum(
        n
        for path, by_status in stats["requests"].items()
        if "item-equipment" in path
        for n in by_status.values()
    )


def _sqlite_write_lock_free(db_path: Path) -> bool:
    """Whether a writer could start now (SIGSTOP must not land inside A's write transaction:
    SQLite has no server to break a frozen writer's lock - docs/reliability.md)."""
    conn = sqlite3.connect(db_path, timeout=0.3, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _freeze(proc: subprocess.Popen[bytes], sqlite_db: Path | None) -> None:
    for _ in range(50):
        os.kill(proc.pid, signal.SIGSTOP)
        if sqlite_db is None or _sqlite_write_lock_free(sqlite_db):
            return
        os.kill(proc.pid, signal.SIGCONT)  # frozen inside a write: try again a moment later
        time.sleep(0.02)
    raise AssertionError("could not freeze replica A outside a SQLite write transaction")


def _owner_pid(owner: str) -> int:
    return int(owner.split(":")[1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_frozen_owner_is_fenced_out_and_the_run_completes_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    if backend == "postgres":
        db_url = str(request.getfixturevalue("postgres_schema_url"))
        sqlite_db = None
    else:
        sqlite_db = data / "maplecollect.db"
        db_url = f"sqlite:///{sqlite_db}"
    store_root = data / "store"
    env = dict(LEASE_ENV, MAPLECOLLECT_DATABASE_URL=db_url)
    config = SimConfig(seed=7, characters=450, now=SIM_NOW, latency=Latency(p50_ms=2))
    log_a = tmp_path / "replica-a.log"
    with (
        run_simulator_in_thread(config) as sim_a,
        run_simulator_in_thread(config) as sim_b,
        log_a.open("wb") as err_a,
    ):
        a, url_a = start_real_service(
            data, stderr=err_a, MAPLECOLLECT_NEXON_BASE_URL=sim_a.base_url, **env
        )
        b, url_b = start_real_service(data, MAPLECOLLECT_NEXON_BASE_URL=sim_b.base_url, **env)
        frozen = False
        try:
            ranking = started(url_a, "RANKING_FETCH")
            wait_run(url_a, ranking, lambda r: r["status"] == "COMPLETED")
            ocid = started(url_a, "OCID_LOOKUP", ranking)
            wait_run(url_a, ocid, lambda r: r["status"] == "COMPLETED")

            db = StateDb(db_url)
            sampler = Sampler(db, store_root)
            with sampler.running():
                victim = started(url_a, "ITEM_EQUIPMENT", ocid)
                sampler.victim = victim
                wait_run(url_a, victim, lambda r: r["chunksProcessed"] >= 2)
                # A collects the victim when it freezes (B may have resumed an earlier run
                # of A's that lost its lease on a busy machine; that is not this test's run).
                assert _owner_pid(db.run(victim)[1]) == a.pid
                _freeze(a, sqlite_db)
                frozen = True

                # B takes the run over: same runId, its own lease epoch.
                def taken_over() -> bool:
                    status, owner, epoch = db.run(victim)
                    return status == "RUNNING" and _owner_pid(owner) == b.pid and epoch >= 1

                wait_for("replica B to resume the frozen replica's run", taken_over)
                conflict = trigger(url_b, "ITEM_EQUIPMENT", ocid)
                assert conflict.status_code == 409, conflict.text
                assert conflict.json()["runId"] == victim
                chunks_at_takeover = wait_run(url_b, victim, lambda r: True)["chunksProcessed"]
                wait_run(url_b, victim, lambda r: r["chunksProcessed"] > chunks_at_takeover)

                a_before_wake = _sim_total(sim_a.base_url)
                os.kill(a.pid, signal.SIGCONT)
                frozen = False
                # On a busy machine an earlier run of A's can lose its lease too (and is
                # resumed by B): wait for the victim's own line.
                lost = wait_log(log_a, f"run {victim}: lost the lease (owner")
                assert "another process took the run over" in lost
                wait_log(log_a, "exited the run after losing its lease")
                a_after_exit = _sim_total(sim_a.base_url)
                # The woken replica neither frees the slot nor writes the run's status.
                status, owner, _ = db.run(victim)
                assert _owner_pid(owner) == b.pid
                if status == "RUNNING":
                    again = trigger(url_a, "ITEM_EQUIPMENT", ocid)
                    assert again.status_code == 409, again.text
                done = wait_run(url_b, victim, lambda r: r["terminal"])
                assert done["status"] == "COMPLETED", done
                assert _sim_total(sim_a.base_url) == a_after_exit, "A fetched after exiting"
                assert a_after_exit - a_before_wake <= 200  # at most the requests in flight

            clean = started(url_b, "ITEM_EQUIPMENT", ocid)
            wait_run(url_b, clean, lambda r: r["status"] == "COMPLETED")
        finally:
            if frozen:
                os.kill(a.pid, signal.SIGCONT)
            for proc in (a, b):
                proc.terminate()
            for proc in (a, b):
                proc.wait(timeout=60)

    # At no sampled moment did a phase have two active runs, and the victim only
    # ever moved forward: A's epoch, then B's (never a terminal status written by A).
    assert sampler.samples > 20
    assert sampler.max_active_per_phase == 1
    assert not sampler.violations, sampler.violations
    epochs = [epoch for _, _, epoch in sampler.victim_states]
    assert epochs == sorted(epochs)
    terminal = [s for s, _, _ in sampler.victim_states if s not in ("RUNNING", "INTERRUPTED")]
    assert terminal in ([], ["COMPLETED"]), sampler.victim_states
    item_runs = db.query("select run_id from runs where phase = 'ITEM_EQUIPMENT'")
    assert sorted(r[0] for r in item_runs) == sorted([victim, clean])

    # The artifacts equal an uninterrupted run's: keys and bodies, in order, none twice.
    store = str(store_root)
    got = [(r["key"], r["body"]) for r in read_run(victim, "item-equipment", store_url=store)]
    want = [(r["key"], r["body"]) for r in read_run(clean, "item-equipment", store_url=store)]
    assert got == want
    keys = [k for k, _ in got]
    assert len(keys) == len(set(keys))
    manifest = read_manifest(victim, "item-equipment", store_url=store)
    parts = manifest["chunks"]
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    for before, after in itertools.pairwise(parts):
        assert after["firstIndex"] == before["lastIndex"] + 1
    folder = store_root / "runs" / victim / "item-equipment" / "chunks"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        Path(p["path"]).name for p in parts
    ), "a stray or temp file is left in chunks/"
