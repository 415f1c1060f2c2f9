"""The simulator plus the real service wired to it, for end-to-end tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from maplecollect.sim import KST, RunningSimulator, SimConfig, serve_simulator
from support.service import RunningService, fast_settings, serve

# Pinned: every date below is available on the simulator, whatever the real time.
SIM_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=KST)
SNAPSHOT = "2026-11-26"


@dataclass
class Stack:
    sim: RunningSimulator
    svc: RunningService

    @property
    def truth(self) -> dict[str, Any]:
        return dict(self.sim.simulator.world_summary())


@contextlib.asynccontextmanager
async def stack(
    tmp_path: Path, *, characters: int = 300, sim_config: SimConfig | None = None, **settings: Any
) -> AsyncIterator[Stack]:
    config = sim_config or SimConfig(seed=11, characters=characters, now=SIM_NOW)
    async with serve_simulator(config) as sim:
        values: dict[str, Any] = {
            "nexon_base_url": sim.base_url,
            "nexon_api_key": "test-key",
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.05,
            "pause_seconds": 0.05,
            "chunk_max_records": 100,
        }
        values.update(settings)
        async with serve(fast_settings(tmp_path, **values)) as svc:
            svc.date = SNAPSHOT
            yield Stack(sim=sim, svc=svc)
