"""A local stand-in for the Nexon Open API (KMS MapleStory) for tests, benchmarks and the demo.

docs/simulator.md shows its use from Python, the endpoints and the knobs.
"""

# The names below load on first use (PEP 562), so `import maplecollect.sim.config` (the
# `maplecollect sim` command's options, the CLI's --help) does not pay for aiohttp.web and
# the server; see docs/performance.md ("Start-up").
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maplecollect.sim.clock import KST
    from maplecollect.sim.config import Faults, Latency, MaintenanceWindow, SimConfig
    from maplecollect.sim.endpoints import BASIC_PATH, ID_PATH, ITEM_EQUIPMENT_PATH, RANKING_PATH
    from maplecollect.sim.server import RunningSimulator, run_simulator_in_thread, serve_simulator
    from maplecollect.sim.simulator import Simulator

_WHERE = {
    "KST": "clock",
    "Faults": "config",
    "Latency": "config",
    "MaintenanceWindow": "config",
    "SimConfig": "config",
    "BASIC_PATH": "endpoints",
    "ID_PATH": "endpoints",
    "ITEM_EQUIPMENT_PATH": "endpoints",
    "RANKING_PATH": "endpoints",
    "RunningSimulator": "server",
    "run_simulator_in_thread": "server",
    "serve_simulator": "server",
    "Simulator": "simulator",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "BASIC_PATH",
    "ID_PATH",
    "ITEM_EQUIPMENT_PATH",
    "KST",
    "RANKING_PATH",
    "Faults",
    "Latency",
    "MaintenanceWindow",
    "RunningSimulator",
    "SimConfig",
    "Simulator",
    "run_simulator_in_thread",
    "serve_simulator",
]
