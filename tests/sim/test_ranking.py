"""Ranking over HTTP: both world types, paging, the empty page, filters, bad parameters."""

from __future__ import annotations

from typing import Any

import pytest

from maplecollect.sim import RANKING_PATH, Simulator

from .helpers import DAY, Api


async def _all_rows(api: Api, params: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        reply = await api.get(RANKING_PATH, {**params, "page": str(page)})
        assert reply.status == 200
        chunk = reply.json()["ranking"]
        if not chunk:
            return rows, page
        assert len(chunk) <= 200
        rows.extend(chunk)
        page += 1


@pytest.mark.parametrize("world_type", ["0", "1"])
async def test_pages_cover_the_world_type(api: Api, world_type: str) -> None:
    world = (await api.sim("/_sim/world")).json()
    rows, empty_page = await _all_rows(api, {"date": DAY, "world_type": world_type})
    assert len(rows) == world["rankingRows"][world_type]
    assert empty_page == (len(rows) + 199) // 200 + 1
    assert [r["ranking"] for r in rows] == list(range(1, len(rows) + 1))
    keys = [(r["character_level"], r["character_exp"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    reboot = world_type == "1"
    assert all((r["world_name"] in ("에오스", "핼리오스")) == reboot for r in rows)


async def test_both_types_together_hold_every_character_once(api: Api) -> None:
    world = (await api.sim("/_sim/world")).json()
    normal, _ = await _all_rows(api, {"date": DAY, "world_type": "0"})
    reboot, _ = await _all_rows(api, {"date": DAY, "world_type": "1"})
    names = [r["character_name"] for r in normal + reboot]
    assert len(names) == world["characters"]
    assert len(set(names)) == world["distinctNames"]


async def test_default_world_type_is_normal(api: Api) -> None:
    default = await api.get(RANKING_PATH, {"date": DAY})
    normal = await api.get(RANKING_PATH, {"date": DAY, "world_type": "0", "page": "1"})
    assert default.body == normal.body


async def test_page_past_the_end_is_empty(api: Api) -> None:
    reply = await api.get(RANKING_PATH, {"date": DAY, "world_type": "1", "page": "999"})
    assert reply.status == 200
    assert reply.json() == {"ranking": []}


async def test_world_name_filter_ranks_within_the_world(api: Api, simulator: Simulator) -> None:
    reply = await api.get(RANKING_PATH, {"date": DAY, "world_name": "에오스", "world_type": "0"})
    rows = reply.json()["ranking"]
    expected = [c for c in simulator.world.characters if c.world_name == "에오스"]
    assert len(rows) == min(200, len(expected)) > 0
    assert {r["world_name"] for r in rows} == {"에오스"}
    assert [r["ranking"] for r in rows] == list(range(1, len(rows) + 1))


async def test_class_filter(api: Api) -> None:
    family = await api.get(RANKING_PATH, {"date": DAY, "class": "전사-전체 전직"})
    rows = family.json()["ranking"]
    assert rows
    assert {r["class_name"] for r in rows} == {"전사"}
    one = await api.get(RANKING_PATH, {"date": DAY, "class": "전사-히어로"})
    hero = one.json()["ranking"]
    assert {r["sub_class_name"] for r in hero} == {"히어로"}
    assert len(hero) < len(rows)


async def test_ocid_filter_returns_that_characters_row(api: Api, simulator: Simulator) -> None:
    character = next(c for c in simulator.world.characters if c.world_type == 1)
    reply = await api.get(RANKING_PATH, {"date": DAY, "world_type": "1", "ocid": character.ocid})
    rows = reply.json()["ranking"]
    assert [r["character_name"] for r in rows] == [character.ranking_name]
    other_type = await api.get(
        RANKING_PATH, {"date": DAY, "world_type": "0", "ocid": character.ocid}
    )
    assert other_type.json() == {"ranking": []}


async def test_renamed_characters_show_their_old_name(api: Api, simulator: Simulator) -> None:
    renamed = [c for c in simulator.world.characters if c.renamed]
    rows, _ = await _all_rows(api, {"date": DAY, "world_type": "0"})
    rows2, _ = await _all_rows(api, {"date": DAY, "world_type": "1"})
    names = {r["character_name"] for r in rows + rows2}
    assert renamed
    assert all(c.ranking_name in names and c.name not in names for c in renamed)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"page": "0"}, "OPENAPI00004"),
        ({"page": "x"}, "OPENAPI00004"),
        ({"page": "²"}, "OPENAPI00004"),
        ({"world_type": "2"}, "OPENAPI00004"),
        ({"world_name": "아틀란티스"}, "OPENAPI00004"),
        ({"class": "고양이-전체 전직"}, "OPENAPI00004"),
        ({"class": "전사"}, "OPENAPI00004"),
        ({"ocid": "not-an-ocid"}, "OPENAPI00003"),
    ],
)
async def test_bad_parameters(api: Api, params: dict[str, str], code: str) -> None:
    reply = await api.get(RANKING_PATH, {"date": DAY, **params})
    assert reply.status == 400
    assert reply.error_name == code


async def test_body_equals_expected_body(api: Api, simulator: Simulator) -> None:
    params = {"date": DAY, "world_type": "0", "page": "2"}
    reply = await api.get(RANKING_PATH, params)
    assert reply.body == simulator.expected_body(RANKING_PATH, params)
