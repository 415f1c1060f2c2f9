"""The outbox: events written with the change they announce, readable in seq order."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from events.seed import NOW, chunk_row, run_row, seed_run
from maplecollect.errors import LeaseLost
from maplecollect.events.schema import NewEvent, chunk_ready
from maplecollect.phases import Phase
from maplecollect.state import migrations, outbox
from maplecollect.state.database import create_sync_db_engine
from maplecollect.state.models import Base, ChunkRow, RunStatus
from maplecollect.state.repository import Lease, Repository


async def test_each_promoted_chunk_and_the_completion_are_announced(repo: Repository) -> None:
    await seed_run(repo, "ie-1", 3)
    events = await repo.events.after(0, 100)
    assert [e.event_type for e in events] == ["SNAPSHOT_CHUNK_READY"] * 3 + [
        "SNAPSHOT_RUN_COMPLETED"
    ]
    assert [e.key for e in events] == [
        "ie-1:item-equipment:part-000001",
        "ie-1:item-equipment:part-000002",
        "ie-1:item-equipment:part-000003",
        "ie-1:item-equipment",
    ]
    assert [e.topic for e in events][-2:] == [
        "external-api.snapshot.chunk-ready",
        "external-api.snapshot.run-completed",
    ]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    chunk = events[0].value
    assert chunk == {
        "eventId": events[0].event_id,
        "eventType": "SNAPSHOT_CHUNK_READY",
        "schemaVersion": 1,
        "runId": "ie-1",
        "phase": "ITEM_EQUIPMENT",
        "endpoint": "item-equipment",
        "snapshotDate": "2026-11-26",
        "chunkId": "part-000001",
        "objectKey": "runs/ie-1/item-equipment/chunks/part-000001.jsonl.zst",
        "recordCount": 10,
        "failedCount": 0,
        "uncompressedBytes": 10_000,
        "compressedBytes": 1_000,
        "sha256": "ab" * 32,
        "firstIndex": 0,
        "lastIndex": 9,
        "createdAt": "2026-11-27T03:00:00Z",
    }
    done = events[-1].value
    assert done["manifestPath"] == "memory://ie-1/m.json"
    assert (done["chunkCount"], done["startedAt"], done["finishedAt"]) == (
        3,
        "2026-11-27T03:00:00Z",
        "2026-11-27T03:00:00Z",
    )
    assert {"totalRecords", "totalFailed", "runId", "endpoint", "createdAt"} <= set(done)
    # after= and limit= page through the same sequence.
    assert [e.seq for e in await repo.events.after(seqs[1], 1)] == [seqs[2]]
    assert await repo.events.after(seqs[-1], 100) == []


async def test_ocid_lookup_completion_is_also_lookup_ready(repo: Repository) -> None:
    await seed_run(repo, "oc-1", 1, phase=Phase.OCID_LOOKUP)
    events = await repo.events.after(0, 100)
    assert [(e.event_type, e.topic) for e in events[1:]] == [
        ("SNAPSHOT_RUN_COMPLETED", "external-api.snapshot.run-completed"),
        ("OCID_LOOKUP_READY", "external-api.ocid.lookup-ready"),
    ]
    assert events[1].value["runId"] == events[2].value["runId"] == "oc-1"
    assert events[1].event_id != events[2].event_id


async def test_failed_runs_are_announced_stopped_ones_are_not(repo: Repository) -> None:
    failed = Lease.of(await repo.create_run(run_row("cb-1", Phase.CHARACTER_BASIC)))
    await repo.finish_run(failed, RunStatus.FAILED, now=NOW, error_message="OPENAPI00005 bad key")
    stopped = Lease.of(await repo.create_run(run_row("cb-2", Phase.CHARACTER_BASIC)))
    await repo.finish_run(stopped, RunStatus.STOPPED, now=NOW)
    events = await repo.events.after(0, 100)
    assert [(e.event_type, e.key) for e in events] == [
        ("SNAPSHOT_RUN_FAILED", "cb-1:character-basic")
    ]
    assert events[0].value["errorMessage"] == "OPENAPI00005 bad key"


async def test_a_retried_finish_announces_once(repo: Repository) -> None:
    """Supervisor retries finish_run when it cannot tell whether the commit went through.

    Under fencing a second finish of an ended run is refused (its lease is gone
    with the RUNNING status), so it cannot announce the end twice either.
    """
    await seed_run(repo, "ie-2", 1)
    run = await repo.get_run("ie-2")
    assert run is not None
    with pytest.raises(LeaseLost):
        await repo.finish_run(Lease.of(run), RunStatus.COMPLETED, now=NOW)
    types = [e.event_type for e in await repo.events.after(0, 100)]
    assert types == ["SNAPSHOT_CHUNK_READY", "SNAPSHOT_RUN_COMPLETED"]


async def test_a_failed_promotion_leaves_neither_chunk_nor_event(repo: Repository) -> None:
    await repo.create_run(run_row("ie-3"))
    bad = chunk_row("ie-3", "item-equipment", 1)
    bad.path = None  # type: ignore[assignment]  # NOT NULL: the transaction fails
    with pytest.raises(Exception, match=r"(?i)null"):
        await repo.add_chunk(bad)
    assert await repo.list_chunks("ie-3") == []
    assert await repo.events.after(0, 100) == []


async def test_a_long_poll_wakes_on_a_commit_and_gives_up_after_its_wait(
    repo: Repository,
) -> None:
    await repo.create_run(run_row("ie-4"))
    assert await repo.events.wait_after(0, 10, 0.05) == []  # bounded: nothing came
    waiter = asyncio.create_task(repo.events.wait_after(0, 10, 60))
    await asyncio.sleep(0)  # let the waiter take its first (empty) look
    await repo.add_chunk(chunk_row("ie-4", "item-equipment", 1))
    async with asyncio.timeout(30):
        found = await waiter
    assert [e.key for e in found] == ["ie-4:item-equipment:part-000001"]


async def test_cursors_start_at_zero_and_never_move_back(repo: Repository) -> None:
    assert await repo.events.cursor("redis-streams") == 0
    await repo.events.ack("redis-streams", 7, now=NOW)
    await repo.events.ack("redis-streams", 5, now=NOW)
    assert await repo.events.cursor("redis-streams") == 7
    await repo.events.ack("redis-streams", 9, now=NOW)
    assert await repo.events.cursors() == {"redis-streams": 9}


def _event(n: int) -> NewEvent:
    return chunk_ready(
        run_id="ie-race",
        phase="ITEM_EQUIPMENT",
        endpoint="item-equipment",
        snapshot_date="2026-11-26",
        part=n,
        object_key=f"k{n}",
        records=1,
        failed=0,
        raw_bytes=1,
        compressed_bytes=1,
        sha256="0" * 64,
        first_index=n,
        last_index=n,
        now=NOW,
    )


async def _commit_event(repo: Repository, n: int) -> None:
    async with repo._session.begin() as session:
        await outbox.append(session, [_event(n)])


async def _wait_for_a_blocked_advisory_lock(repo: Repository) -> None:
    async with asyncio.timeout(30):
        while True:
            async with repo.engine.connect() as conn:
                waiting = await conn.scalar(
                    # pg_locks is server-wide: count only this database's waiters
                    # (other xdist workers and test runs have databases of their own).
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                        " AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("serialised", [True, False])
async def test_postgres_readers_never_skip_an_event_of_a_slow_transaction(
    postgres_schema_url: str, serialised: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T1 takes seq 1 and commits late; T2 takes seq 2. A reader must not see 2 before 1.

    With the outbox lock (serialised) T2 waits for T1, so the reader sees both in
    order. Without it (the control case) the reader sees 2 first and, continuing
    after=2, would never see 1: the race the lock exists for.
    """
    from events.conftest import open_repo

    if not serialised:
        monkeypatch.setattr(outbox, "_dialect", lambda _session: "no-lock")
    repo = await open_repo(postgres_schema_url)
    try:
        async with repo._session() as slow:
            async with slow.begin():
                await outbox.append(slow, [_event(1)])
                fast = asyncio.create_task(_commit_event(repo, 2))
                if serialised:
                    await _wait_for_a_blocked_advisory_lock(repo)
                else:
                    await fast
                seen_early = [e.value["chunkId"] for e in await repo.events.after(0, 10)]
            await fast
        seen_late = [e.value["chunkId"] for e in await repo.events.after(0, 10)]
    finally:
        await repo.dispose()
    assert seen_late == ["part-000001", "part-000002"]
    if serialised:
        assert seen_early == []
    else:
        assert seen_early == ["part-000002"]  # a reader continuing after=2 would skip part 1


def test_the_migration_creates_what_the_models_declare(sqlite_url: str) -> None:
    migrations.upgrade(sqlite_url)
    engine = create_sync_db_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert [d for d in diff if "events" in repr(d) or "relay_cursors" in repr(d)] == []
            assert conn.execute(select(ChunkRow)).all() == []
    finally:
        engine.dispose()
