"""Fixtures for the simulator tests: a small pinned-clock world served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from maplecollect.sim import RunningSimulator, Simulator, serve_simulator

from .helpers import Api, small_config


@pytest.fixture
def simulator() -> Simulator:
    return Simulator(small_config())


@pytest.fixture
async def running(simulator: Simulator) -> AsyncIterator[RunningSimulator]:
    async with serve_simulator(simulator) as served:
        yield served


@pytest.fixture
async def api(running: RunningSimulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(base_url=running.base_url) as session:
        yield Api(session)
