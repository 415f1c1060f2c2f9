"""The fetch loop never swallows a cancellation of itself nor a writer's close failure."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from maplecollect.collect import pipeline
from maplecollect.collect.outcome import Entry
from maplecollect.collect.pipeline import ResumePoint, collect_ordered, write_all
from maplecollect.control.progress import Progress
from maplecollect.errors import RunFatalError


class _Writer:
    """Stands in for a ChunkWriter: these tests are about the error paths around it."""

    def __init__(self, close_error: Exception | None = None) -> None:
        self.close_error = close_error
        self.closed = 0

    async def add(self, index: int, line: bytes) -> None:
        raise AssertionError("nothing is written in these tests")

    add_failed = add

    async def close(self) -> None:
        self.closed += 1
        if self.close_error is not None:
            raise self.close_error

    async def abort(self) -> None:
        raise AssertionError("only a StoreError aborts")


def _ctx() -> Any:
    return SimpleNamespace(stop=asyncio.Event(), progress=Progress(), run_id="r-1")


async def test_cancelling_the_collector_while_it_waits_for_its_workers_propagates() -> None:
    ctx = _ctx()
    fetching, in_cleanup, finish_cleanup = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def fetch(key: int) -> list[Entry]:
        fetching.set()
        try:
            await asyncio.Event().wait()  # never answers: only the stop ends it
        except asyncio.CancelledError:
            in_cleanup.set()  # the collector now waits for this worker to end
            await finish_cleanup.wait()
            raise
        raise AssertionError("unreachable")

    collector = asyncio.create_task(
        collect_ordered(ctx, _Writer(), iter([0]), fetch, workers=1)  # type: ignore[arg-type]
    )
    await asyncio.wait_for(fetching.wait(), 30)
    ctx.stop.set()  # a stop: the collector cancels its workers and waits for them
    await asyncio.wait_for(in_cleanup.wait(), 30)
    collector.cancel()  # the collector itself is cancelled while gathering its workers
    finish_cleanup.set()
    with pytest.raises(asyncio.CancelledError):
        await collector
    assert collector.cancelled()


async def test_a_fetch_error_still_propagates_after_the_workers_end() -> None:
    async def fetch(key: int) -> list[Entry]:
        raise RunFatalError("OPENAPI00005: the key is not valid")

    with pytest.raises(RunFatalError, match="OPENAPI00005"):
        await collect_ordered(_ctx(), _Writer(), iter([0, 1]), fetch, workers=2)  # type: ignore[arg-type]


async def test_a_writer_close_failure_on_the_error_path_is_logged_and_noted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = _Writer(close_error=OSError("No space left on device"))

    async def open_writer(ctx: Any, endpoint: str) -> tuple[_Writer, ResumePoint]:
        return writer, ResumePoint(0, 1, 0, 0, 0)

    monkeypatch.setattr(pipeline, "open_writer", open_writer)

    async def body(w: Any, resume: ResumePoint) -> None:
        raise RunFatalError("OPENAPI00006: the API is under maintenance")

    with (
        caplog.at_level(logging.ERROR, logger=pipeline.__name__),
        pytest.raises(RunFatalError, match="OPENAPI00006") as raised,
    ):
        await write_all(_ctx(), "character-basic", body)
    assert writer.closed == 1
    # The run ends with the first error; the close failure rides along, never dropped.
    assert raised.value.__notes__ == [
        "closing the writer also failed: OSError: No space left on device"
    ]
    [record] = caplog.records
    assert "closing the character-basic writer after an error failed" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)


async def test_a_writer_close_failure_on_success_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    async def open_writer(ctx: Any, endpoint: str) -> tuple[_Writer, ResumePoint]:
        return _Writer(close_error=OSError("EIO")), ResumePoint(0, 1, 0, 0, 0)

    monkeypatch.setattr(pipeline, "open_writer", open_writer)

    async def body(w: Any, resume: ResumePoint) -> None:
        return None

    with pytest.raises(OSError, match="EIO"):
        await write_all(_ctx(), "character-basic", body)
