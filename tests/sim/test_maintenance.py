"""Maintenance: runtime switches and windows on the simulator clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from maplecollect.errors import ConfigError
from maplecollect.sim import (
    BASIC_PATH,
    ID_PATH,
    KST,
    RANKING_PATH,
    MaintenanceWindow,
    Simulator,
)

from .helpers import DAY, Api


@pytest.mark.parametrize("path", [RANKING_PATH, ID_PATH, BASIC_PATH])
async def test_game_maintenance_switch(api: Api, path: str) -> None:
    await api.sim("/_sim/config", {"gameMaintenance": True})
    reply = await api.get(path, {"date": DAY})
    assert (reply.status, reply.error_name) == (400, "OPENAPI00010")
    await api.sim("/_sim/config", {"gameMaintenance": False})
    after = await api.get(path, {"date": DAY})
    assert after.status == 200 or after.error_name != "OPENAPI00010"


async def test_api_maintenance_switch_wins(api: Api) -> None:
    await api.sim("/_sim/config", {"gameMaintenance": True, "apiMaintenance": True})
    reply = await api.get(RANKING_PATH, {"date": DAY})
    assert (reply.status, reply.error_name) == (503, "OPENAPI00011")


async def test_maintenance_does_not_hide_a_bad_key(api: Api) -> None:
    await api.sim("/_sim/config", {"apiMaintenance": True})
    assert (await api.get(RANKING_PATH, key="nope")).error_name == "OPENAPI00005"


async def test_windows_follow_the_clock(api: Api, simulator: Simulator) -> None:
    reply = await api.sim(
        "/_sim/config",
        {
            "maintenanceWindows": [
                {"kind": "game", "start": "2026-11-27T08:00:00+09:00", "end": "2026-11-27T10:00"},
                {"kind": "api", "start": "2026-11-27T09:00:00+09:00", "end": "2026-11-27T09:30"},
            ]
        },
    )
    assert reply.status == 200
    clock = simulator.controls.clock
    expectations = [
        ("2026-11-27T07:59:59", None),
        ("2026-11-27T08:00:00", "OPENAPI00010"),
        ("2026-11-27T09:10:00", "OPENAPI00011"),
        ("2026-11-27T09:30:00", "OPENAPI00010"),
        ("2026-11-27T10:00:00", None),
    ]
    for moment, code in expectations:
        clock.pin(datetime.fromisoformat(moment).replace(tzinfo=KST))
        got = await api.get(RANKING_PATH, {"date": DAY})
        assert (got.error_name if got.status != 200 else None) == code, moment


def test_window_validation() -> None:
    start = datetime(2026, 11, 27, 8, tzinfo=KST)
    with pytest.raises(ConfigError):
        MaintenanceWindow("game", start, start)
    with pytest.raises(ConfigError):
        MaintenanceWindow("lunch", start, start.replace(hour=9))  # type: ignore[arg-type]


async def test_bad_window_patch_is_refused(api: Api) -> None:
    reply = await api.sim(
        "/_sim/config",
        {"maintenanceWindows": [{"kind": "api", "start": "2026-11-27T10:00", "end": "2026-11-27"}]},
    )
    assert reply.status == 400
    assert (await api.sim("/_sim/config")).json()["maintenanceWindows"] == []
