"""Coalesce concurrent identical reads without ever answering with stale data.

A caller that arrives while a read is in flight may have written after it started,
so it waits for the NEXT read, shared by everyone who arrived meanwhile: at most two
reads are ever queued. Hand-written: asyncio has no such primitive, and caching
libraries (aiocache, async-lru) serve results from before the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class CoalescedRead(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._current: asyncio.Future[T] | None = None  # the read in flight
        self._queued: asyncio.Future[T] | None = None  # shared by callers who came after it

    async def __call__(self) -> T:
        if self._current is None:
            fut = self._start()
        else:
            if self._queued is None:
                self._queued = asyncio.get_running_loop().create_future()
            fut = self._queued
        # shield: one caller going away (client disconnect) must not cancel the others' read
        return await asyncio.shield(fut)

    def _start(self) -> asyncio.Future[T]:
        task: asyncio.Future[T] = asyncio.ensure_future(self._read())
        self._current = task
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[T]) -> None:
        self._current = None
        if not task.cancelled():
            task.exception()  # retrieved: callers that are still waiting get it too
        queued, self._queued = self._queued, None
        if queued is not None:
            self._start().add_done_callback(lambda done: _copy(done, queued))


def _copy(source: asyncio.Future[T], target: asyncio.Future[T]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())
