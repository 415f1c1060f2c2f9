"""Leases, fencing and auto-resume in one process (docs/reliability.md).

The multi-process proofs (SIGSTOP of a replica, restart under a CLI waiter) are
tests/collect/test_fencing.py and tests/collect/test_auto_resume.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from maplecollect.artifacts.store import open_store
from maplecollect.artifacts.writer import ChunkWriter
from maplecollect.control.executor import run_row
from maplecollect.errors import LeaseLost
from maplecollect.phases import Phase
from maplecollect.state import migrations
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.models import ChunkRow, RunRow, RunStatus
from maplecollect.state.repository import Lease, Repository
from support.fake_phases import WalkerRunner, walkers
from support.service import RunningService, fast_settings, serve

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _row(run_id: str, owner: str = "host:1:aa") -> RunRow:
    row = run_row(
        Phase.RANKING_FETCH,
        owner=owner,
        now=NOW,
        upstream=None,
        snapshot_date="2026-11-26",
        airflow_run_id=None,
    )
    row.run_id = run_id  # the tests name their runs
    return row


def _chunk(run_id: str, part: int) -> ChunkRow:
    return ChunkRow(
        run_id=run_id,
        endpoint="ranking-overall",
        part=part,
        first_index=part * 10,
        last_index=part * 10 + 9,
        records=10,
        failed=0,
        raw_bytes=100,
        compressed_bytes=50,
        sha256="0" * 64,
        path=f"runs/{run_id}/ranking-overall/chunks/part-{part:06d}.jsonl.zst",
        created_at=NOW,
    )


async def _poll(
    get: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], within: float = 30
) -> Any:
    """Poll `get()` until `ok(value)` (bounded); returns the value."""
    async with asyncio.timeout(within):
        while True:
            value = await get()
            if ok(value):
                return value
            await asyncio.sleep(0.02)


def _run_json(svc: RunningService, run_id: str) -> Callable[[], Awaitable[Any]]:
    async def get() -> Any:
        return (await svc.client.get(f"/api/internal/runs/{run_id}")).json()

    return get


def _status_json(svc: RunningService) -> Callable[[], Awaitable[Any]]:
    async def get() -> Any:
        return (await svc.client.get("/api/internal/run-status")).json()

    return get


async def _repo(database_url: str) -> Repository:
    await asyncio.to_thread(migrations.upgrade, database_url)
    return Repository(create_async_db_engine(database_url))


async def test_writes_under_a_stale_lease_are_refused(database_url: str) -> None:
    repo = await _repo(database_url)
    try:
        run = await repo.create_run(_row("rank-1"))
        stale = Lease.of(run)
        # Another process takes the run over: (owner, epoch) moves on.
        await repo.finish_run(stale, RunStatus.INTERRUPTED, now=NOW, error_message="gone")
        taken = await repo.resume_run("rank-1", owner="host:2:bb", now=NOW)
        fresh = Lease.of(taken)
        assert fresh.epoch == stale.epoch + 1 and fresh.owner == "host:2:bb"

        progress: dict[str, Any] = {
            "records_processed": 99,
            "records_failed": 0,
            "chunks_processed": 9,
            "total_keys": None,
            "rate_per_second": None,
            "eta_seconds": None,
        }
        with pytest.raises(LeaseLost):
            await repo.record_progress(stale, now=NOW, **progress)
        with pytest.raises(LeaseLost):
            await repo.add_chunk(_chunk("rank-1", 1), lease=stale)
        with pytest.raises(LeaseLost):
            await repo.finish_run(stale, RunStatus.FAILED, now=NOW, error_message="late")
        with pytest.raises(LeaseLost):
            await repo.check_lease(stale, "publishing a part")
        beat = await repo.heartbeat(now=NOW, owner=stale.owner, leases=[stale])
        assert beat.lost_runs == ["rank-1"]
        beat = await repo.heartbeat(now=NOW, owner=fresh.owner, leases=[fresh])
        assert beat.lost_runs == []
        row = await repo.get_run("rank-1")
        assert row is not None
        assert (row.status, row.records_processed, row.error_message) == ("RUNNING", 0, None)
        assert await repo.list_chunks("rank-1") == []

        # The new owner's writes go through.
        await repo.add_chunk(_chunk("rank-1", 1), lease=fresh)
        assert not await repo.record_progress(fresh, now=NOW, **progress)
        done = await repo.finish_run(fresh, RunStatus.COMPLETED, now=NOW)
        assert done.status == "COMPLETED"
        assert [c.part for c in await repo.list_chunks("rank-1")] == [1]
    finally:
        await repo.dispose()


async def test_interrupted_run_keeps_its_slot(database_url: str) -> None:
    repo = await _repo(database_url)
    try:
        run = await repo.create_run(_row("rank-1"))
        await repo.finish_run(Lease.of(run), RunStatus.INTERRUPTED, now=NOW)
        from maplecollect.errors import SlotConflict

        with pytest.raises(SlotConflict) as caught:
            await repo.create_run(_row("rank-2"))
        assert caught.value.run_id == "rank-1"
        # Two replicas claim at once: exactly one wins, with the next epoch.
        claims = await asyncio.gather(
            repo.claim_interrupted(owner="host:2:bb", now=NOW, max_attempts=5),
            repo.claim_interrupted(owner="host:3:cc", now=NOW, max_attempts=5),
        )
        won = [c for batch in claims for c in batch]
        assert len(won) == 1
        assert won[0].run.lease_epoch == 1 and won[0].run.status == "RUNNING"
        assert won[0].give_up is None
    finally:
        await repo.dispose()


async def test_writer_publishes_nothing_once_the_lease_is_lost(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    lost = False
    promoted: list[int] = []

    async def guard() -> None:
        if lost:
            raise LeaseLost("rank-1", 0, "publishing a part")

    async def promote(chunk: Any) -> None:
        promoted.append(chunk.part)

    writer = ChunkWriter(
        store,
        "rank-1",
        "ranking-overall",
        max_records=2,
        on_publish=promote,
        before_publish=guard,
        temp_tag="e0",
    )
    for i in range(2):
        await writer.add(i, b'{"k":%d}\n' % i)
    assert promoted == [1]
    lost = True
    await writer.add(2, b'{"k":2}\n')
    with pytest.raises(LeaseLost):
        await writer.add(3, b'{"k":3}\n')
    folder = tmp_path / "store" / "runs" / "rank-1" / "ranking-overall" / "chunks"
    assert sorted(p.name for p in folder.iterdir()) == ["part-000001.jsonl.zst"]
    assert promoted == [1]


async def test_a_fenced_out_executor_stops_and_writes_nothing(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    phases[Phase.RANKING_FETCH].mode = "block"
    run_id = (await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")).json()["runId"]
    sup = svc.supervisor
    await _poll(_run_json(svc, run_id), lambda r: r["recordsProcessed"] >= 3)
    # What a takeover by another replica looks like from here: the epoch moves on.
    async with sup.repo.engine.begin() as conn:
        await conn.execute(
            text(
                "update runs set owner = 'elsewhere:1:ff', lease_epoch = lease_epoch + 1 "
                "where run_id = :r"
            ),
            {"r": run_id},
        )
    handle = sup.local_runs()[run_id]
    async with asyncio.timeout(20):
        await handle.done.wait()
    assert handle.final_status is None
    row = await sup.repo.get_run(run_id)
    assert row is not None
    # Nothing was written over the new owner's row: no status, no progress reset.
    assert (row.status, row.owner, row.lease_epoch) == ("RUNNING", "elsewhere:1:ff", 1)
    assert row.error_message is None
    assert run_id not in sup.local_runs()


async def test_graceful_restart_interrupts_then_resumes_under_the_same_run_id(
    tmp_path: Path, database_url: str, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, database_url=database_url)
    first = walkers()
    first[Phase.RANKING_FETCH].mode = "block"
    async with serve(settings, first) as svc:
        res = await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")
        run_id = res.json()["runId"]
        await _poll(_run_json(svc, run_id), lambda r: r["recordsProcessed"] >= 3)
    # The service stopped (SIGTERM): the run waits, holding its slot.
    repo = await _repo(database_url)
    try:
        row = await repo.get_run(run_id)
        assert row is not None
        assert row.status == "INTERRUPTED"
        assert row.error_message is not None and "automatically" in row.error_message
        records_before = row.records_processed
    finally:
        await repo.dispose()
    async with serve(settings, walkers()) as svc:
        done = await svc.wait_run(run_id)
        assert done["status"] == "COMPLETED"
        assert done["resumeCount"] == 1
        assert done["recordsProcessed"] == max(20, records_before)
        row = await svc.supervisor.repo.get_run(run_id)
        assert row is not None and row.lease_epoch == 1


async def test_without_auto_resume_a_shutdown_leaves_the_run_abandoned(
    tmp_path: Path, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, auto_resume=False)
    first = walkers()
    first[Phase.RANKING_FETCH].mode = "block"
    async with serve(settings, first) as svc:
        run_id = (await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")).json()[
            "runId"
        ]
        await _poll(_run_json(svc, run_id), lambda r: r["recordsProcessed"] >= 1)
    async with serve(settings, walkers()) as svc:
        run = (await svc.client.get(f"/api/internal/runs/{run_id}")).json()
        assert run["status"] == "ABANDONED"
        assert f"/api/internal/resume/run/{run_id}" in run["errorMessage"]


async def test_a_run_that_keeps_being_interrupted_ends_failed_with_the_reason(
    tmp_path: Path, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, auto_resume_max_attempts=2)
    url = settings.resolved_database_url
    repo = await _repo(url)
    try:
        run = await repo.create_run(_row("rank-x"))
        await repo.finish_run(
            Lease.of(run), RunStatus.INTERRUPTED, now=NOW, error_message="owner died (test)"
        )
        async with repo.engine.begin() as conn:
            await conn.execute(text("update runs set auto_resume_attempts = 2"))
    finally:
        await repo.dispose()
    async with serve(settings, walkers()) as svc:
        done = await svc.wait_run("rank-x")
    assert done["status"] == "FAILED"
    assert "interrupted 3 times without publishing a part" in done["errorMessage"]
    assert "owner died (test)" in done["errorMessage"]


async def test_a_stop_of_an_interrupted_run_ends_it_stopped(
    tmp_path: Path, clean_env: None
) -> None:
    settings = fast_settings(tmp_path)
    repo = await _repo(settings.resolved_database_url)
    try:
        run = await repo.create_run(_row("rank-s"))
        await repo.finish_run(Lease.of(run), RunStatus.INTERRUPTED, now=NOW)
        assert await repo.request_run_stop("rank-s", now=NOW)
    finally:
        await repo.dispose()
    phases = walkers()
    async with serve(settings, phases) as svc:
        done = await svc.wait_run("rank-s")
    assert done["status"] == "STOPPED"
    assert phases[Phase.RANKING_FETCH].started == ["rank-s"]  # ended by a new owner


async def test_the_daily_chain_continues_across_a_restart(
    tmp_path: Path, database_url: str, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, database_url=database_url)
    first = walkers()
    first[Phase.OCID_LOOKUP].mode = "block"
    async with serve(settings, first) as svc:
        res = await svc.client.post("/api/internal/trigger/daily")
        assert res.status_code == 202, res.text
        chain_id = res.json()["chainId"]
        async with asyncio.timeout(20):
            while True:
                chain = (await svc.client.get(f"/api/internal/chains/{chain_id}")).json()
                ocid = (chain.get("runs") or {}).get("OCID_LOOKUP")
                if ocid and ocid["recordsProcessed"] >= 2:
                    break
                await asyncio.sleep(0.02)
    async with serve(settings, walkers()) as svc:
        async with asyncio.timeout(60):
            while True:
                chain = (await svc.client.get(f"/api/internal/chains/{chain_id}")).json()
                if chain["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.05)
    assert chain["status"] == "COMPLETED", chain
    runs = chain["runs"]
    assert sorted(runs) == sorted(p.value for p in Phase)
    assert runs["OCID_LOOKUP"]["resumeCount"] == 1
    assert all(r["status"] == "COMPLETED" for r in runs.values())


async def test_a_loop_continues_across_a_restart(
    tmp_path: Path, database_url: str, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, database_url=database_url)
    first = walkers()
    first[Phase.ITEM_EQUIPMENT].mode = "block"
    async with serve(settings, first) as svc:
        ranking = await svc.complete("RANKING_FETCH")
        await svc.complete("OCID_LOOKUP", upstream=ranking)
        res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
        assert res.status_code == 202, res.text
        loop_id = res.json()["loopId"]
        async with asyncio.timeout(20):
            while True:
                status = (await svc.client.get("/api/internal/run-status")).json()
                current = status["slots"]["ITEM_EQUIPMENT"]
                if current and current["loopId"] == loop_id and current["recordsProcessed"] >= 2:
                    break
                await asyncio.sleep(0.02)
        interrupted_run = current["runId"]
    async with serve(settings, walkers()) as svc:
        async with asyncio.timeout(60):
            while True:
                loop = (await svc.client.get("/api/internal/run-status")).json()["loopSummaries"][
                    "ITEM_EQUIPMENT"
                ]
                if loop["iterationCount"] >= 2:
                    break
                await asyncio.sleep(0.05)
        assert loop["loopId"] == loop_id and loop["status"] == "RUNNING"
        resumed = (await svc.client.get(f"/api/internal/runs/{interrupted_run}")).json()
        assert resumed["status"] == "COMPLETED" and resumed["resumeCount"] == 1
        res = await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
        assert res.status_code == 202
        await _poll(
            _status_json(svc),
            lambda s: s["loopSummaries"]["ITEM_EQUIPMENT"]["status"] == "STOPPED",
        )
