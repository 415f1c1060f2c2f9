"""SQL of the transactional outbox (docs/downstream.md "The outbox").

Writers call `announce_chunk` / `announce_finish` inside the transaction that
promotes the chunk or ends the run; readers use `EventStore`. Event inserts take
one transaction-scoped advisory lock as their last step, so they commit in `seq`
order and a reader never skips one ("Sequence and ordering guarantees").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maplecollect.events import schema
from maplecollect.events.schema import EventType, NewEvent
from maplecollect.phases import Phase
from maplecollect.state.models import ChunkRow, EventRow, RelayCursorRow, RunRow, RunStatus

# Any constant works; it only has to differ from the other advisory locks (migrations: 724513).
_EVENT_LOCK = 724514


@dataclass(frozen=True)
class StoredEvent:
    """An outbox row as consumers see it: `value` is the event's JSON payload."""

    seq: int
    event_id: str
    event_type: str
    topic: str
    key: str
    run_id: str
    value: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: EventRow) -> StoredEvent:
        columns = {f.name: getattr(row, f.name) for f in fields(cls) if f.name != "value"}
        return cls(**columns, value=orjson.loads(row.payload))

    def value_bytes(self) -> bytes:
        return orjson.dumps(self.value)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def append(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    """Insert `events` in this transaction, after the lock that orders commits by `seq`."""
    if not events:
        return
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVENT_LOCK})
    await session.execute(
        insert(EventRow),
        [
            {
                "event_id": e.event_id,
                "event_type": e.event_type.value,
                "topic": e.topic,
                "key": e.key,
                "run_id": e.run_id,
                "payload": orjson.dumps(e.payload).decode(),
                "created_at": e.created_at,
            }
            for e in events
        ],
    )


async def announce_chunk(session: AsyncSession, chunk: ChunkRow, *, now: datetime) -> None:
    """SNAPSHOT_CHUNK_READY for a part being promoted in this transaction."""
    run = await session.get(RunRow, chunk.run_id)
    phase = run.phase if run is not None else ""
    snapshot_date = run.snapshot_date if run is not None else ""
    event = schema.chunk_ready(
        run_id=chunk.run_id,
        phase=phase,
        endpoint=chunk.endpoint,
        snapshot_date=snapshot_date,
        part=chunk.part,
        object_key=f"runs/{chunk.run_id}/{chunk.endpoint}/{chunk.path}",
        records=chunk.records,
        failed=chunk.failed,
        raw_bytes=chunk.raw_bytes,
        compressed_bytes=chunk.compressed_bytes,
        sha256=chunk.sha256,
        first_index=chunk.first_index,
        last_index=chunk.last_index,
        now=now,
    )
    await append(session, [event])


async def announce_finish(
    session: AsyncSession, run: RunRow, *, previous_status: str, now: datetime
) -> None:
    """RUN_COMPLETED (+ OCID_LOOKUP_READY) or RUN_FAILED for a run ending in this transaction.

    Nothing for STOPPED / ABANDONED, and nothing when the run already had this
    status (a retried `finish_run` whose first commit did go through).
    """
    if run.status == previous_status:
        return
    phase = Phase(run.phase)
    endpoint = phase.endpoint
    if run.status == RunStatus.COMPLETED.value:
        count = await session.execute(
            select(func.count())
            .select_from(ChunkRow)
            .where(ChunkRow.run_id == run.run_id, ChunkRow.endpoint == endpoint)
        )
        values: dict[str, Any] = {
            "run_id": run.run_id,
            "phase": run.phase,
            "endpoint": endpoint,
            "snapshot_date": run.snapshot_date,
            "upstream_run_id": run.upstream_run_id,
            "manifest_path": run.manifest_path,
            "total_records": run.records_processed,
            "total_failed": run.records_failed,
            "chunk_count": int(count.scalar_one()),
            "started_at": run.started_at,
            "finished_at": run.completed_at or now,
            "now": now,
        }
        events = [schema.run_completed(**values)]
        if phase is Phase.OCID_LOOKUP:
            events.append(schema.run_completed(**values, event_type=EventType.OCID_LOOKUP_READY))
        await append(session, events)
    elif run.status == RunStatus.FAILED.value:
        event = schema.run_failed(
            run_id=run.run_id,
            phase=run.phase,
            endpoint=endpoint,
            snapshot_date=run.snapshot_date,
            upstream_run_id=run.upstream_run_id,
            error_message=run.error_message,
            now=now,
        )
        await append(session, [event])


class EventBell:
    """Wakes in-process waiters when this process committed events (others are polled)."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()
        self._rung = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rung.wait(), timeout=seconds)


class EventStore:
    """Reads of the outbox and the relays' cursors."""

    poll_seconds = 0.5

    def __init__(
        self, write: async_sessionmaker[AsyncSession], read: async_sessionmaker[AsyncSession]
    ) -> None:
        self._write = write
        self._read = read
        self.bell = EventBell()

    async def after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Events with `seq > after`, ascending, at most `limit`."""
        async with self._read() as session:
            res = await session.execute(
                select(EventRow).where(EventRow.seq > seq).order_by(EventRow.seq).limit(limit)
            )
            return [StoredEvent.of(row) for row in res.scalars()]

    async def wait_after(self, seq: int, limit: int, wait_seconds: float) -> list[StoredEvent]:
        """`after`, waiting up to `wait_seconds` for the first event past `seq`.

        Commits of this process wake the wait at once; other processes' commits
        are seen by polling every `poll_seconds`.
        """
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            found = await self.after(seq, limit)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            await self.bell.wait(min(self.poll_seconds, left))

    async def cursor(self, name: str) -> int:
        """The relay's last acknowledged sequence (0 before its first ack)."""
        async with self._read() as session:
            row = await session.get(RelayCursorRow, name)
            return row.seq if row is not None else 0

    async def ack(self, name: str, seq: int, *, now: datetime) -> None:
        """Move the relay's cursor to `seq` (never backwards)."""
        async with self._write.begin() as session:
            dialect = _dialect(session)
            ins = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = ins(RelayCursorRow).values(name=name, seq=seq, updated_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=[RelayCursorRow.name],
                set_={
                    "seq": func.max(RelayCursorRow.seq, stmt.excluded.seq)
                    if dialect == "sqlite"
                    else func.greatest(RelayCursorRow.seq, stmt.excluded.seq),
                    "updated_at": stmt.excluded.updated_at,
                },
            )
            await session.execute(stmt)

    async def cursors(self) -> dict[str, int]:
        async with self._read() as session:
            res = await session.execute(select(RelayCursorRow))
            return {row.name: row.seq for row in res.scalars()}
