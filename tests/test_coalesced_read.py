"""CoalescedRead: concurrent callers share reads, and no answer predates its caller."""

from __future__ import annotations

import asyncio

import pytest

from maplecollect.state.coalesce import CoalescedRead


class Source:
    """A read that returns the value current when it STARTED, and can be held open."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def read(self) -> int:
        self.reads += 1
        seen = self.value
        self.started.set()
        await self.gate.wait()
        return seen


async def test_callers_during_a_read_share_the_next_read_not_the_current_one() -> None:
    src = Source()
    coalesced = CoalescedRead(src.read)
    first = asyncio.create_task(coalesced())
    await src.started.wait()  # the first read has started and seen value 0
    src.value = 1  # a write commits while that read is in flight
    later = [asyncio.create_task(coalesced()) for _ in range(50)]
    await asyncio.sleep(0)
    src.gate.set()
    assert await first == 0
    # every later caller sees the write that happened before it arrived
    assert await asyncio.gather(*later) == [1] * 50
    assert src.reads == 2  # 51 callers, two reads


async def test_errors_reach_every_waiting_caller_and_the_next_call_reads_again() -> None:
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls <= 2:
            raise RuntimeError("database down")
        return calls

    coalesced = CoalescedRead(flaky)
    results = await asyncio.gather(*(coalesced() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await coalesced() == 3


async def test_a_cancelled_caller_does_not_cancel_the_shared_read() -> None:
    src = Source()
    coalesced = CoalescedRead(src.read)
    leaving = asyncio.create_task(coalesced())
    staying = asyncio.create_task(coalesced())
    await asyncio.sleep(0)
    leaving.cancel()
    src.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await staying == 0
