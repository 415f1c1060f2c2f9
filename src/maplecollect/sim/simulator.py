"""`Simulator`: the world, its bodies, the runtime controls and counters, in one object."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from maplecollect.sim.app import create_app
from maplecollect.sim.bodies import Bodies
from maplecollect.sim.config import SimConfig
from maplecollect.sim.controls import Controls
from maplecollect.sim.endpoints import Endpoints
from maplecollect.sim.ratelimit import SlidingWindowLimiter
from maplecollect.sim.stats import Stats
from maplecollect.sim.world import World


class Simulator:
    """A simulated Nexon Open API. Build once (the world is generated here), serve many times."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.world = World(self.config)
        self.controls = Controls(self.config)
        self.stats = Stats()
        self.limiter = SlidingWindowLimiter()
        # Time source of the rate limit and maxPerSecond (tests may freeze it).
        self.monotonic: Callable[[], float] = time.monotonic
        fault_seed = self.config.fault_seed
        self.rng = random.Random(fault_seed if fault_seed is not None else self.config.seed + 1)
        self._bodies = Bodies(self.config, self.world)
        self.endpoints = Endpoints(
            self.world,
            self._bodies,
            self.controls.clock,
            null_date_for_latest=self.config.null_date_for_latest,
        )
        self._sleepers: set[asyncio.Future[None]] = set()
        self._closing = False
        self._app: web.Application | None = None

    # -- serving -------------------------------------------------------------------------

    def create_app(self) -> web.Application:
        return create_app(self)

    @property
    def app(self) -> web.Application:
        """An aiohttp application for this simulator (the same one on every access)."""
        if self._app is None:
            self._app = self.create_app()
        return self._app

    async def sleep(self, seconds: float) -> None:
        """A deliberate delay (latency, hang) that `wake_sleepers` ends early at shutdown."""
        if self._closing or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, fut)
        self._sleepers.add(fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._sleepers.discard(fut)

    @property
    def pending_sleeps(self) -> int:
        """Requests sleeping on purpose right now (latency or hang)."""
        return len(self._sleepers)

    def allow_sleeps(self) -> None:
        """Called when serving starts: deliberate sleeps sleep again."""
        self._closing = False

    def wake_sleepers(self) -> None:
        """Called at shutdown: end every deliberate sleep now, and skip new ones."""
        self._closing = True
        for fut in list(self._sleepers):
            _resolve(fut)

    # -- introspection -------------------------------------------------------------------

    def world_summary(self) -> dict[str, Any]:
        return self.world.summary()

    def reset_stats(self) -> None:
        """Clear the counters and the rate-limit windows (a fresh measurement)."""
        self.stats.reset()
        self.limiter.reset()

    def expected_response(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of a request to a Nexon path, at the current simulator clock,
        ignoring keys, rate limits, latency, faults and maintenance."""
        answer = self.endpoints.resolve(path, params or {})
        return answer.status, answer.body

    def expected_body(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        return self.expected_response(path, params)[1]


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
