"""Date rules with a pinned clock: earliest date, malformed dates, availability, latest."""

from __future__ import annotations

from datetime import date, datetime

import aiohttp
import pytest

from maplecollect.sim import (
    BASIC_PATH,
    ITEM_EQUIPMENT_PATH,
    KST,
    RANKING_PATH,
    Simulator,
    serve_simulator,
)
from maplecollect.sim.clock import Clock, latest_character_date, latest_ranking_date

from .helpers import Api, small_config


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KST)


def _ocid(simulator: Simulator) -> str:
    return next(c.ocid for c in simulator.world.characters if not c.empty)


async def test_ranking_is_ready_at_0930_kst_on_the_day(api: Api, simulator: Simulator) -> None:
    clock = simulator.controls.clock
    clock.pin(at("2026-11-27T09:29:59"))
    early = await api.get(RANKING_PATH, {"date": "2026-11-27"})
    assert (early.status, early.error_name) == (400, "OPENAPI00009")
    clock.pin(at("2026-11-27T09:30:00"))
    ready = await api.get(RANKING_PATH, {"date": "2026-11-27"})
    assert ready.status == 200
    assert ready.json()["ranking"][0]["date"] == "2026-11-27T00:00+09:00"


@pytest.mark.parametrize("path", [BASIC_PATH, ITEM_EQUIPMENT_PATH])
async def test_character_data_is_ready_at_0200_kst_next_day(
    api: Api, simulator: Simulator, path: str
) -> None:
    clock = simulator.controls.clock
    params = {"ocid": _ocid(simulator), "date": "2026-11-26"}
    clock.pin(at("2026-11-27T01:59:59"))
    early = await api.get(path, params)
    assert (early.status, early.error_name) == (400, "OPENAPI00009")
    clock.pin(at("2026-11-27T02:00:00"))
    ready = await api.get(path, params)
    assert ready.status == 200
    assert ready.json()["date"] == "2026-11-26T00:00+09:00"


async def test_clock_in_another_zone_is_converted(api: Api, simulator: Simulator) -> None:
    # 2026-11-26T17:00Z is 02:00 KST on the 27th.
    simulator.controls.clock.pin(datetime.fromisoformat("2026-11-26T17:00:00+00:00"))
    reply = await api.get(BASIC_PATH, {"ocid": _ocid(simulator), "date": "2026-11-26"})
    assert reply.status == 200


@pytest.mark.parametrize("path", [RANKING_PATH, BASIC_PATH, ITEM_EQUIPMENT_PATH])
@pytest.mark.parametrize(
    "bad", ["2023-12-20", "2026-13-01", "20261126", "2026-11-26T00:00", "", "2026-02-30"]
)
async def test_malformed_or_too_early_dates(
    api: Api, simulator: Simulator, path: str, bad: str
) -> None:
    reply = await api.get(path, {"ocid": _ocid(simulator), "date": bad})
    assert (reply.status, reply.error_name) == (400, "OPENAPI00004")


@pytest.mark.parametrize("path", [RANKING_PATH, BASIC_PATH, ITEM_EQUIPMENT_PATH])
async def test_first_day_exists(api: Api, simulator: Simulator, path: str) -> None:
    reply = await api.get(path, {"ocid": _ocid(simulator), "date": "2023-12-21"})
    assert reply.status == 200


async def test_no_date_means_latest(api: Api, simulator: Simulator) -> None:
    clock = simulator.controls.clock
    clock.pin(at("2026-11-27T09:29:00"))
    ranking = await api.get(RANKING_PATH)
    assert ranking.json()["ranking"][0]["date"] == "2026-11-26T00:00+09:00"
    clock.pin(at("2026-11-27T09:30:00"))
    ranking = await api.get(RANKING_PATH)
    assert ranking.json()["ranking"][0]["date"] == "2026-11-27T00:00+09:00"
    # Character endpoints answer the newest data with "date": null, like the real API.
    basic = await api.get(BASIC_PATH, {"ocid": _ocid(simulator)})
    assert basic.status == 200
    assert basic.json()["date"] is None
    assert basic.json()["character_name"] is not None


async def test_latest_can_carry_the_latest_date() -> None:
    sim = Simulator(small_config(null_date_for_latest=False))
    async with serve_simulator(sim) as running, aiohttp.ClientSession(running.base_url) as s:
        api = Api(s)
        ocid = _ocid(sim)
        sim.controls.clock.pin(at("2026-11-27T01:59:00"))
        before = await api.get(BASIC_PATH, {"ocid": ocid})
        sim.controls.clock.pin(at("2026-11-27T02:00:00"))
        after = await api.get(BASIC_PATH, {"ocid": ocid})
    assert before.json()["date"] == "2026-11-25T00:00+09:00"
    assert after.json()["date"] == "2026-11-26T00:00+09:00"


async def test_before_any_data_no_date_is_not_ready(api: Api, simulator: Simulator) -> None:
    simulator.controls.clock.pin(at("2023-12-21T08:00:00"))
    ranking = await api.get(RANKING_PATH)
    assert ranking.error_name == "OPENAPI00009"
    basic = await api.get(BASIC_PATH, {"ocid": _ocid(simulator)})
    assert basic.error_name == "OPENAPI00009"


async def test_clock_via_control_endpoint(api: Api) -> None:
    reply = await api.sim("/_sim/config", {"now": "2026-11-27T09:00:00+09:00"})
    assert reply.status == 200
    assert reply.json()["now"] == "2026-11-27T09:00:00+09:00"
    early = await api.get(RANKING_PATH, {"date": "2026-11-27"})
    assert early.error_name == "OPENAPI00009"
    await api.sim("/_sim/config", {"now": "2026-11-27T10:00:00"})  # naive = KST
    assert (await api.get(RANKING_PATH, {"date": "2026-11-27"})).status == 200


def test_latest_date_rules() -> None:
    assert latest_ranking_date(at("2026-11-27T09:29:59")) == date(2026, 11, 26)
    assert latest_ranking_date(at("2026-11-27T09:30:00")) == date(2026, 11, 27)
    assert latest_character_date(at("2026-11-27T01:59:59")) == date(2026, 11, 25)
    assert latest_character_date(at("2026-11-27T02:00:00")) == date(2026, 11, 26)


def test_unpinned_clock_follows_real_time() -> None:
    clock = Clock(at("2026-11-27T00:00:00"))
    assert clock.now() == at("2026-11-27T00:00:00")
    clock.pin(None)
    assert clock.pinned is None
    assert clock.now().tzinfo is not None
    assert clock.now() != at("2026-11-27T00:00:00")
