"""A local stand-in for the Nexon Open API (KMS MapleStory) for tests, benchmarks and the demo.

    config = SimConfig(seed=7, characters=500, now=datetime(2026, 11, 27, 12, tzinfo=KST))
    async with serve_simulator(config) as running:      # or run_simulator_in_thread(config)
        running.base_url                                  # http://127.0.0.1:<port>
        running.simulator.world_summary()                 # ground truth
        running.simulator.expected_body(BASIC_PATH, {"ocid": ..., "date": "2026-11-26"})

See docs/simulator.md for the endpoints, the knobs and `POST /_sim/config`.
"""

from maplecollect.sim.apierrors import ApiError
from maplecollect.sim.clock import KST, Clock
from maplecollect.sim.config import (
    DEFAULT_API_KEY,
    DEFAULT_RATE_LIMIT,
    Faults,
    Latency,
    MaintenanceWindow,
    SimConfig,
)
from maplecollect.sim.controls import Controls
from maplecollect.sim.endpoints import (
    BASIC_PATH,
    ID_PATH,
    ITEM_EQUIPMENT_PATH,
    NEXON_PATHS,
    RANKING_PATH,
)
from maplecollect.sim.server import RunningSimulator, run_simulator_in_thread, serve_simulator
from maplecollect.sim.simulator import Simulator
from maplecollect.sim.world import Character, World

__all__ = [
    "BASIC_PATH",
    "DEFAULT_API_KEY",
    "DEFAULT_RATE_LIMIT",
    "ID_PATH",
    "ITEM_EQUIPMENT_PATH",
    "KST",
    "NEXON_PATHS",
    "RANKING_PATH",
    "ApiError",
    "Character",
    "Clock",
    "Controls",
    "Faults",
    "Latency",
    "MaintenanceWindow",
    "RunningSimulator",
    "SimConfig",
    "Simulator",
    "World",
    "run_simulator_in_thread",
    "serve_simulator",
]
