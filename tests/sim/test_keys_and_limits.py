"""API keys (00005 / 00002) and the per-key rate limit (00007), on a frozen monotonic clock."""

from __future__ import annotations

import asyncio

import pytest

from maplecollect.sim import ID_PATH, RANKING_PATH, Simulator
from maplecollect.sim.ratelimit import SlidingWindowLimiter

from .helpers import DAY, Api


class FrozenTime:
    """Stands in for time.monotonic so a burst lands in one window, however slow the host."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
async def test_missing_or_unknown_key(api: Api, key: str | None) -> None:
    reply = await api.get(RANKING_PATH, {"date": DAY}, key=key)
    assert (reply.status, reply.error_name) == (400, "OPENAPI00005")


async def test_unknown_path_still_needs_a_key(api: Api) -> None:
    reply = await api.get("/maplestory/v1/nothing", key=None)
    assert reply.error_name == "OPENAPI00005"


async def test_forbidden_key(api: Api, simulator: Simulator) -> None:
    simulator.controls.set_rate_limit("no-permission", None)
    simulator.controls.forbidden_keys = frozenset({"no-permission"})
    reply = await api.get(RANKING_PATH, {"date": DAY}, key="no-permission")
    assert (reply.status, reply.error_name) == (403, "OPENAPI00002")


async def _burst(api: Api, key: str, n: int) -> list[int]:
    replies = await asyncio.gather(
        *(api.get(ID_PATH, {"character_name": "없는이름"}, key=key) for _ in range(n))
    )
    return [r.status for r in replies]


async def test_rate_limit_is_per_key(api: Api, simulator: Simulator) -> None:
    frozen = FrozenTime()
    simulator.monotonic = frozen
    simulator.controls.set_rate_limit("limited", 5)
    simulator.controls.set_rate_limit("neighbour", 5)

    statuses = await _burst(api, "limited", 8)
    assert statuses.count(400) == 5  # admitted (the name does not exist: 00003)
    assert statuses.count(429) == 3
    assert await _burst(api, "neighbour", 5) == [400] * 5, "another key has its own budget"

    over = await api.get(ID_PATH, {"character_name": "x"}, key="limited")
    assert (over.status, over.error_name) == (429, "OPENAPI00007")

    frozen.now += 0.999
    assert (await _burst(api, "limited", 1)) == [429], "still inside the 1 s window"
    frozen.now += 0.001
    assert sorted(await _burst(api, "limited", 6)) == [400] * 5 + [429]

    stats = (await api.sim("/_sim/stats")).json()
    assert stats["maxPerSecond"]["limited"] == 10  # arrivals in [1000.001, 1001.0], 429s too
    assert stats["maxPerSecond"]["neighbour"] == 5


async def test_unlimited_key(api: Api, simulator: Simulator) -> None:
    simulator.monotonic = FrozenTime()
    assert set(await _burst(api, "test-key", 50)) == {400}


async def test_limit_changed_at_runtime(api: Api, simulator: Simulator) -> None:
    simulator.monotonic = FrozenTime()
    reply = await api.sim("/_sim/config", {"apiKeys": {"test-key": 2}})
    assert reply.json()["apiKeys"]["test-key"] == 2
    assert sorted(await _burst(api, "test-key", 4)) == [400, 400, 429, 429]


def test_sliding_window_boundaries() -> None:
    limiter = SlidingWindowLimiter()
    assert [limiter.admit("k", 3, t) for t in (0.0, 0.1, 0.2, 0.3)] == [True, True, True, False]
    assert limiter.admit("k", 3, 0.999) is False
    assert limiter.admit("k", 3, 1.0) is True  # the request at 0.0 left the window (t-1, t]
    assert limiter.admit("k", None, 1.0) is True


def test_fractional_rate_admits_the_whole_part() -> None:
    limiter = SlidingWindowLimiter()
    assert [limiter.admit("k", 2.5, 0.0) for _ in range(4)] == [True, True, False, False]
