"""`/id`, basic and item-equipment over HTTP: the ground truth a full snapshot must match."""

from __future__ import annotations

import asyncio

import pytest

from maplecollect.sim import BASIC_PATH, ID_PATH, ITEM_EQUIPMENT_PATH, RANKING_PATH, Simulator

from .helpers import DAY, Api


async def test_full_snapshot_matches_the_ground_truth(api: Api) -> None:
    """Ranking → /id → basic + item-equipment, as the collector does it."""
    world = (await api.sim("/_sim/world")).json()
    names: list[str] = []
    for world_type in ("0", "1"):
        page = 1
        while rows := (
            await api.get(RANKING_PATH, {"date": DAY, "world_type": world_type, "page": str(page)})
        ).json()["ranking"]:
            names.extend(r["character_name"] for r in rows)
            page += 1
    assert len(names) == world["characters"]

    id_replies = await asyncio.gather(*(api.get(ID_PATH, {"character_name": n}) for n in names))
    ocids = [r.json()["ocid"] for r in id_replies if r.status == 200]
    failed = [r for r in id_replies if r.status != 200]
    assert len(ocids) == world["distinctNames"] - world["renamedNames"]
    assert {r.error_name for r in failed} == {"OPENAPI00003"}
    assert len(failed) == world["renamedNames"]

    empty = 0
    for path in (BASIC_PATH, ITEM_EQUIPMENT_PATH):
        replies = await asyncio.gather(*(api.get(path, {"ocid": o, "date": DAY}) for o in ocids))
        assert all(r.status == 200 for r in replies)
        empty = sum(1 for r in replies if r.json()["character_class"] is None)
        assert empty == world["emptyCharacters"]


async def test_renamed_character(api: Api, simulator: Simulator) -> None:
    character = next(c for c in simulator.world.characters if c.renamed)
    old = await api.get(ID_PATH, {"character_name": character.ranking_name})
    assert (old.status, old.error_name) == (400, "OPENAPI00003")
    new = await api.get(ID_PATH, {"character_name": character.name})
    assert new.json() == {"ocid": character.ocid}
    basic = await api.get(BASIC_PATH, {"ocid": character.ocid, "date": DAY})
    assert basic.json()["character_name"] == character.name


@pytest.mark.parametrize("path", [BASIC_PATH, ITEM_EQUIPMENT_PATH])
async def test_bodies_equal_expected_bytes(api: Api, simulator: Simulator, path: str) -> None:
    for character in simulator.world.characters[:10]:
        params = {"ocid": character.ocid, "date": DAY}
        reply = await api.get(path, params)
        assert reply.status == 200
        assert reply.body == simulator.expected_body(path, params)


@pytest.mark.parametrize("path", [BASIC_PATH, ITEM_EQUIPMENT_PATH])
async def test_unknown_and_missing_ocid(api: Api, path: str) -> None:
    unknown = await api.get(path, {"ocid": "0" * 32, "date": DAY})
    assert (unknown.status, unknown.error_name) == (400, "OPENAPI00003")
    garbage = await api.get(path, {"ocid": "zzz", "date": DAY})
    assert (garbage.status, garbage.error_name) == (400, "OPENAPI00003")
    missing = await api.get(path, {"date": DAY})
    assert (missing.status, missing.error_name) == (400, "OPENAPI00004")


async def test_id_errors(api: Api) -> None:
    missing = await api.get(ID_PATH)
    assert (missing.status, missing.error_name) == (400, "OPENAPI00004")
    unknown = await api.get(ID_PATH, {"character_name": "없는캐릭터이름"})
    assert (unknown.status, unknown.error_name) == (400, "OPENAPI00003")


async def test_unknown_path_under_maplestory(api: Api) -> None:
    reply = await api.get("/maplestory/v1/character/stat", {"ocid": "0" * 32})
    assert (reply.status, reply.error_name) == (400, "OPENAPI00006")
