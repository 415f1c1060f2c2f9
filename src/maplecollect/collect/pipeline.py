"""The shared fetch loop: many keys in flight, results written in input order.

Workers take keys in input order and fetch them concurrently (the client's
limiter and semaphore pace the API); an emitter hands finished results to the
ChunkWriter strictly in input order, so every part covers a contiguous input
range and a resume can continue right after the last published part.
At most `window` results wait for the emitter, which bounds memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from maplecollect.artifacts.chunk import PublishedChunk
from maplecollect.artifacts.reader import failure_codes
from maplecollect.artifacts.writer import ChunkWriter
from maplecollect.collect.outcome import Entry
from maplecollect.control.context import RunContext
from maplecollect.state.models import ChunkRow

log = logging.getLogger(__name__)
K = TypeVar("K")
# A part's row holds the published part's fields of the same names (an AttributeError,
# never a silent gap, if a column is added to one and not the other).
_CHUNK_COLUMNS = [c.name for c in ChunkRow.__table__.columns if c.name != "created_at"]


@dataclass(frozen=True)
class ResumePoint:
    """Where an attempt of a run starts: after the parts already promoted."""

    next_index: int
    next_part: int
    records: int
    failed: int
    parts: int

    @classmethod
    def of(cls, chunks: Iterable[ChunkRow], endpoint: str) -> ResumePoint:
        mine = [c for c in chunks if c.endpoint == endpoint]
        if not mine:
            return cls(0, 1, 0, 0, 0)
        last = max(mine, key=lambda c: c.part)
        return cls(
            next_index=last.last_index + 1,
            next_part=last.part + 1,
            records=sum(c.records for c in mine),
            failed=sum(c.failed for c in mine),
            parts=len(mine),
        )


async def open_writer(ctx: RunContext, endpoint: str) -> tuple[ChunkWriter, ResumePoint]:
    """A ChunkWriter for this run that promotes each published part in the DB.

    Fenced: the lease is checked right before each part is renamed into place,
    and the part's row is added only under the lease (docs/reliability.md).
    On resume, files of parts that were written but never promoted (a crash
    between publishing and recording) are removed first, and progress restarts
    from what the promoted parts hold, so nothing is counted twice.
    """
    resume = ResumePoint.of(ctx.chunks, endpoint)
    store = ctx.services.store()
    if ctx.chunks or ctx.run.resume_count:
        await store.remove_parts_after(ctx.run_id, endpoint, resume.next_part - 1)
    progress = ctx.progress
    progress.records, progress.failed, progress.chunks = resume.records, resume.failed, resume.parts
    progress.failures_by_code = {}
    if resume.failed:
        mine = [c for c in ctx.chunks if c.endpoint == endpoint]
        progress.failures_by_code = await asyncio.to_thread(
            failure_codes, store, ctx.run_id, endpoint, mine
        )

    async def promote(chunk: PublishedChunk) -> None:
        fields = {name: getattr(chunk, name) for name in _CHUNK_COLUMNS}
        await ctx.repo.add_chunk(ChunkRow(**fields, created_at=datetime.now(UTC)), lease=ctx.lease)
        progress.chunks += 1

    settings = ctx.settings
    writer = ChunkWriter(
        store,
        ctx.run_id,
        endpoint,
        codec=settings.chunk_codec,
        max_records=settings.chunk_max_records,
        max_bytes=settings.chunk_max_bytes,
        next_part=resume.next_part,
        on_publish=promote,
        # Every line says where it comes from (docs/artifacts.md, "Lines").
        provenance={"runId": ctx.run_id, "snapshotDate": ctx.run.snapshot_date},
        before_publish=ctx.check_lease,
        temp_tag=f"e{ctx.run.lease_epoch}",
    )
    return writer, resume


async def collect_ordered(
    ctx: RunContext,
    writer: ChunkWriter,
    keys: Iterator[K],
    fetch: Callable[[K], Awaitable[list[Entry]]],
    *,
    workers: int,
) -> None:
    """Fetch every key and write its entries in input order.

    `fetch` returns the key's entries (one per record; a ranking page gives
    many, a skipped key none) with indexes increasing across keys.

    Returns when all keys are written, or early when `ctx.stop` is set: then
    fetches in flight are cancelled and only the contiguous prefix of finished
    results is written (a STOPPED run's manifest lists exactly those).
    Exceptions from `fetch` (run-fatal ones; per-key failures are failed entries)
    cancel the rest and propagate after the finished prefix is written.
    """
    results: dict[int, list[Entry]] = {}
    ready = asyncio.Event()
    room = asyncio.Semaphore(max(workers * 2, 1))
    source = iter(keys)
    first_error: list[BaseException] = []
    pending_order: deque[int] = deque()  # key sequence numbers, in the order workers took them
    taken = 0

    async def worker() -> None:
        nonlocal taken
        try:
            while not ctx.stop.is_set() and not first_error:
                await room.acquire()
                try:
                    key = next(source)
                except StopIteration:
                    room.release()
                    return
                index = taken
                taken += 1
                pending_order.append(index)
                try:
                    results[index] = await fetch(key)
                except BaseException as exc:
                    room.release()
                    if not isinstance(exc, asyncio.CancelledError):
                        first_error.append(exc)
                    raise
                ready.set()
        finally:
            # A worker that ends must wake the emitter: it may be the last one, and
            # with no key at all (an empty input) nothing else ever would.
            ready.set()

    tasks = [asyncio.create_task(worker()) for _ in range(max(workers, 1))]
    stopper = asyncio.create_task(ctx.stop.wait())
    # A stop wakes the emitter through `ready`, so waiting needs no extra task per wake-up
    # (creating one per result cost more CPU than the rest of the emitter).
    stopper.add_done_callback(lambda _: ready.set())
    try:
        while True:
            # Emit the contiguous run of finished results in input order.
            while pending_order and pending_order[0] in results:
                entries = results.pop(pending_order.popleft())
                for entry in entries:
                    if entry.failed:
                        await writer.add_failed(entry.index, entry.line)
                        ctx.progress.add_failure(entry.code)
                    else:
                        await writer.add(entry.index, entry.line)
                        ctx.progress.add(records=1)
                room.release()
            if first_error or stopper.done():
                break
            if not pending_order and all(t.done() for t in tasks):
                break
            ready.clear()
            if pending_order and pending_order[0] in results:
                continue
            await ready.wait()
    finally:
        stopper.cancel()
        for task in tasks:
            task.cancel()
        # The workers' own errors and cancellations are collected here; a
        # cancellation of this collector itself propagates (never suppressed).
        await asyncio.gather(*tasks, return_exceptions=True)
    if first_error:
        raise first_error[0]


async def write_all(
    ctx: RunContext,
    endpoint: str,
    body: Callable[[ChunkWriter, ResumePoint], Awaitable[None]],
) -> None:
    """Open the run's writer, run `body`, and publish what it wrote.

    The open part is published on success, on stop and on run-fatal errors
    (a FAILED run resumes after it); a store failure aborts the open part.
    """
    from maplecollect.errors import LeaseLost, StoreError

    writer, resume = await open_writer(ctx, endpoint)
    try:
        await body(writer, resume)
    except StoreError:
        await writer.abort()
        raise
    except BaseException as exc:
        try:
            await writer.close()
        except LeaseLost as close_exc:
            # Expected once the lease is gone: the open part is not published, which is
            # the point; the supervisor logs the loss itself.
            log.info(
                "run %s: the open %s part was not published: %s", ctx.run_id, endpoint, close_exc
            )
            exc.add_note(f"the open part was not published: {close_exc}")
        except Exception as close_exc:
            # The first error is the one the run ends with; the close failure is
            # logged and noted on it, never dropped.
            log.exception(
                "run %s: closing the %s writer after an error failed", ctx.run_id, endpoint
            )
            exc.add_note(f"closing the writer also failed: {type(close_exc).__name__}: {close_exc}")
        raise
    await writer.close()
