import asyncio

from maplecollect.nexon.pause import PauseGate


async def test_gate_closes_reopens_once_and_reports() -> None:
    events: list[tuple[bool, str]] = []
    gate = PauseGate(lambda paused, reason: events.append((paused, reason)))
    assert gate.is_open and await gate.wait() == 0.0
    gate.close_for(0.05, "OPENAPI00009 data not ready")
    gate.close_for(0.01, "OPENAPI00009 data not ready")  # shorter: does not shorten the pause
    assert not gate.is_open
    waited = await asyncio.gather(*(gate.wait() for _ in range(20)))
    assert gate.is_open and all(w > 0 for w in waited)
    assert events == [(True, "OPENAPI00009 data not ready"), (False, "OPENAPI00009 data not ready")]


async def test_cancel_opens_the_gate_now() -> None:
    gate = PauseGate()
    gate.close_for(60, "OPENAPI00011 API maintenance")
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)
    gate.cancel()
    await asyncio.wait_for(waiter, 5)
    assert gate.is_open


async def test_a_wait_is_bounded_even_if_the_timer_never_fires() -> None:
    gate = PauseGate()
    gate.close_for(0.01, "OPENAPI00009 data not ready")
    assert gate._timer is not None
    gate._timer.cancel()  # a lost reopen timer: the bug a bounded wait must survive
    async with asyncio.timeout(10):
        await gate.wait()
    assert gate.is_open


async def test_a_wait_follows_an_extended_pause() -> None:
    gate = PauseGate()
    gate.close_for(0.01, "first")
    waiter = asyncio.create_task(gate.wait())
    gate.close_for(0.3, "extended")
    async with asyncio.timeout(10):
        waited = await waiter
    assert waited >= 0.25 and gate.is_open
