"""Every field of every endpoint is present, with the official name and JSON type."""

from __future__ import annotations

import re
from typing import Any

import orjson

from maplecollect.sim import BASIC_PATH, ID_PATH, ITEM_EQUIPMENT_PATH, RANKING_PATH, Simulator

from .helpers import DAY, Api

NoneType = type(None)
API_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T00:00\+09:00")

RANKING_ROW = {
    "date": str,
    "ranking": int,
    "character_name": str,
    "world_name": str,
    "class_name": str,
    "sub_class_name": str,
    "character_level": int,
    "character_exp": int,
    "character_popularity": int,
    "character_guildname": (str, NoneType),
}
BASIC = {
    "date": str,
    "character_name": str,
    "world_name": str,
    "character_gender": str,
    "character_class": str,
    "character_class_level": str,
    "character_level": int,
    "character_exp": int,
    "character_exp_rate": str,
    "character_guild_name": (str, NoneType),
    "character_image": str,
    "character_date_create": str,
    "access_flag": str,
    "liberation_quest_clear": str,
}
ITEM_EQUIPMENT = {
    "date": str,
    "character_gender": str,
    "character_class": str,
    "preset_no": int,
    "item_equipment": list,
    "item_equipment_preset_1": list,
    "item_equipment_preset_2": list,
    "item_equipment_preset_3": list,
    "title": (dict, NoneType),
    "medal_shape": (dict, NoneType),
    "dragon_equipment": list,
    "mechanic_equipment": list,
}
_STATS = ("str", "dex", "int", "luk", "max_hp", "max_mp", "attack_power", "magic_power")
_PHYSICAL = ("armor", "speed", "jump")
OPTION_KEYS = {
    "item_total_option": {
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "ignore_monster_armor",
        "all_stat",
        "damage",
        "equipment_level_decrease",
        "max_hp_rate",
        "max_mp_rate",
    },
    "item_base_option": {
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "ignore_monster_armor",
        "all_stat",
        "max_hp_rate",
        "max_mp_rate",
        "base_equipment_level",
    },
    "item_exceptional_option": {*_STATS, "exceptional_upgrade"},
    "item_add_option": {
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "damage",
        "all_stat",
        "equipment_level_decrease",
    },
    "item_etc_option": {*_STATS, *_PHYSICAL},
    "item_starforce_option": {*_STATS, *_PHYSICAL},
}
INT_OPTIONS = {"equipment_level_decrease", "base_equipment_level", "exceptional_upgrade"}
ITEM = {
    "item_equipment_part": str,
    "item_equipment_slot": str,
    "item_name": str,
    "item_icon": str,
    "item_description": (str, NoneType),
    "item_shape_name": str,
    "item_shape_icon": str,
    "item_gender": (str, NoneType),
    **dict.fromkeys(OPTION_KEYS, dict),
    "potential_option_flag": (str, NoneType),
    "additional_potential_option_flag": (str, NoneType),
    "potential_option_grade": (str, NoneType),
    "additional_potential_option_grade": (str, NoneType),
    "potential_option_1": (str, NoneType),
    "potential_option_2": (str, NoneType),
    "potential_option_3": (str, NoneType),
    "additional_potential_option_1": (str, NoneType),
    "additional_potential_option_2": (str, NoneType),
    "additional_potential_option_3": (str, NoneType),
    "equipment_level_increase": int,
    "growth_exp": int,
    "growth_level": int,
    "scroll_upgrade": str,
    "cuttable_count": str,
    "golden_hammer_flag": str,
    "scroll_resilience_count": str,
    "scroll_upgradeable_count": str,
    "soul_name": (str, NoneType),
    "soul_option": (str, NoneType),
    "starforce": str,
    "starforce_scroll_flag": str,
    "special_ring_level": int,
    "date_expire": (str, NoneType),
    "freestyle_flag": str,
}
POTENTIAL = [k for k in ITEM if "potential" in k]
TITLE = {
    "title_name",
    "title_icon",
    "title_description",
    "date_expire",
    "date_option_expire",
    "title_shape_name",
    "title_shape_icon",
    "title_shape_description",
}
MEDAL_SHAPE = {
    "medal_shape_name",
    "medal_shape_icon",
    "medal_shape_description",
    "medal_shape_changed_name",
    "medal_shape_changed_icon",
    "medal_shape_changed_description",
}


def assert_shape(obj: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    assert set(obj) == set(schema), f"{where}: fields differ: {set(obj) ^ set(schema)}"
    for field, kind in schema.items():
        value = obj[field]
        # bool is an int in Python; the API never sends JSON booleans in these fields.
        assert not isinstance(value, bool), f"{where}.{field} is a bool"
        assert isinstance(value, kind), f"{where}.{field}: {type(value).__name__} is not {kind}"


def assert_item(item: dict[str, Any], where: str) -> None:
    assert_shape(item, ITEM, where)
    for option, keys in OPTION_KEYS.items():
        values = item[option]
        assert set(values) == keys, f"{where}.{option}: {set(values) ^ keys}"
        for key, value in values.items():
            expected = int if key in INT_OPTIONS else str
            assert type(value) is expected, f"{where}.{option}.{key}: {value!r}"


async def test_ranking_rows(api: Api) -> None:
    reply = await api.get(RANKING_PATH, {"date": DAY})
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    body = reply.json()
    assert list(body) == ["ranking"]
    assert len(body["ranking"]) == 200
    for i, row in enumerate(body["ranking"]):
        assert_shape(row, RANKING_ROW, f"ranking[{i}]")
        assert row["date"] == f"{DAY}T00:00+09:00"


async def test_id(api: Api, simulator: Simulator) -> None:
    character = next(c for c in simulator.world.characters if not c.renamed)
    reply = await api.get(ID_PATH, {"character_name": character.name})
    assert reply.status == 200
    body = reply.json()
    assert body == {"ocid": character.ocid}
    assert re.fullmatch(r"[0-9a-f]{32}", body["ocid"])


async def test_basic(api: Api, simulator: Simulator) -> None:
    for character in [c for c in simulator.world.characters if not c.empty][:20]:
        reply = await api.get(BASIC_PATH, {"ocid": character.ocid, "date": DAY})
        assert reply.status == 200
        body = reply.json()
        assert_shape(body, BASIC, "basic")
        assert API_DATETIME.fullmatch(body["date"])
        assert API_DATETIME.fullmatch(body["character_date_create"])
        assert body["access_flag"] in ("true", "false")
        assert body["liberation_quest_clear"] in ("0", "1", "2")
        assert float(body["character_exp_rate"]) < 100
        assert body["character_image"].startswith("https://open.api.nexon.com/")


async def test_item_equipment(api: Api, simulator: Simulator) -> None:
    checked_items = 0
    for character in [c for c in simulator.world.characters if not c.empty][:8]:
        reply = await api.get(ITEM_EQUIPMENT_PATH, {"ocid": character.ocid, "date": DAY})
        assert reply.status == 200
        body = reply.json()
        assert_shape(body, ITEM_EQUIPMENT, "item-equipment")
        assert body["preset_no"] in (1, 2, 3)
        assert body["item_equipment"], "every character wears something"
        for array in (
            "item_equipment",
            "item_equipment_preset_1",
            "item_equipment_preset_2",
            "item_equipment_preset_3",
            "dragon_equipment",
            "mechanic_equipment",
        ):
            special = array in ("dragon_equipment", "mechanic_equipment")
            for i, item in enumerate(body[array]):
                padded = {**dict.fromkeys(POTENTIAL, None), **item} if special else item
                assert_item(padded, f"{array}[{i}]")
                checked_items += 1
        if body["title"] is not None:
            presets = {f"title_preset_{n}" for n in (1, 2, 3)}
            assert set(body["title"]) == TITLE | {"preset_no"} | presets
            for preset in presets:
                assert body["title"][preset] is None or set(body["title"][preset]) == TITLE
        if body["medal_shape"] is not None:
            assert set(body["medal_shape"]) == MEDAL_SHAPE
    assert checked_items > 8


def test_dragon_and_mechanic_equipment_only_for_their_jobs(simulator: Simulator) -> None:
    seen = set()
    for character in simulator.world.characters:
        if character.empty:
            continue
        body = simulator.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": character.ocid})
        decoded = orjson.loads(body)
        job = character.job.character_class
        assert bool(decoded["dragon_equipment"]) == (job == "에반")
        assert bool(decoded["mechanic_equipment"]) == (job == "메카닉")
        for item in decoded["dragon_equipment"] + decoded["mechanic_equipment"]:
            # Dragon / machine equipment has no potential fields (docs/nexon-api-fields.md).
            assert not set(item) & {k for k in ITEM if "potential" in k}
            assert_item({**dict.fromkeys(POTENTIAL, None), **item}, job)
        seen.add(job)
    assert {"에반", "메카닉"} <= seen


async def test_empty_character_is_null_but_date(api: Api, simulator: Simulator) -> None:
    empties = [c for c in simulator.world.characters if c.empty]
    assert empties
    for path, schema in ((BASIC_PATH, BASIC), (ITEM_EQUIPMENT_PATH, ITEM_EQUIPMENT)):
        reply = await api.get(path, {"ocid": empties[0].ocid, "date": DAY})
        assert reply.status == 200
        body = reply.json()
        assert set(body) == set(schema)
        assert body["date"] == f"{DAY}T00:00+09:00"
        # Arrays the reference models never allow to be null come as [] (docs/nexon-api-fields.md).
        lists = {"item_equipment", "dragon_equipment", "mechanic_equipment"}
        assert all(v == [] for k, v in body.items() if k in lists)
        assert all(v is None for k, v in body.items() if k != "date" and k not in lists)
