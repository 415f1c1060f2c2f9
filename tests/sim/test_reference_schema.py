"""Simulator bodies against the vendored reference schema (tests/sim/schemas/).

The schema is derived from the official field list and the response models of the most
used client library (docs/nexon-api-fields.md, "Reference schema"); if the simulator
drifts from them (a missing, renamed, retyped or invented field), these tests fail.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from maplecollect.sim import (
    BASIC_PATH,
    ID_PATH,
    ITEM_EQUIPMENT_PATH,
    RANKING_PATH,
    Simulator,
)
from maplecollect.sim.apierrors import ALL_ERRORS

from .helpers import DAY, small_config

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "nexon-kms.schema.json").read_text())
CHARACTERS = 3_000


def validator(definition: str) -> jsonschema.protocols.Validator:
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def errors_of(definition: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(definition).iter_errors(instance)
    ]


@pytest.fixture(scope="module")
def big_simulator() -> Simulator:
    # Small item bodies keep validation quick; the fragments (every item field) are the
    # same at any size, only item_description is padded less.
    return Simulator(
        small_config(
            seed=11,
            characters=CHARACTERS,
            item_max_bytes=24_000,
            item_min_bytes=6_000,
            item_variants=4,
        )
    )


def test_ranking_id_and_basic_of_every_character(big_simulator: Simulator) -> None:
    sim = big_simulator
    ranking, ident, basic, basic_empty = (
        validator(d) for d in ("ranking", "id", "basic", "basicEmpty")
    )
    rows = 0
    for world_type in ("0", "1"):
        page = 1
        while True:
            body = orjson.loads(
                sim.expected_body(
                    RANKING_PATH, {"date": DAY, "world_type": world_type, "page": str(page)}
                )
            )
            ranking.validate(body)
            if not body["ranking"]:
                break
            rows += len(body["ranking"])
            page += 1
    assert rows == CHARACTERS
    kinds: Counter[str] = Counter()
    for character in sim.world.characters:
        ident.validate(orjson.loads(sim.expected_body(ID_PATH, {"character_name": character.name})))
        for params in ({"ocid": character.ocid, "date": DAY}, {"ocid": character.ocid}):
            body = orjson.loads(sim.expected_body(BASIC_PATH, params))
            (basic_empty if character.empty else basic).validate(body)
        kinds["empty" if character.empty else "full"] += 1
    assert kinds["empty"] > 0 and kinds["full"] > 0


ITEM_ARRAYS = {
    "item_equipment": "item",
    "item_equipment_preset_1": "item",
    "item_equipment_preset_2": "item",
    "item_equipment_preset_3": "item",
    "dragon_equipment": "specialItem",
    "mechanic_equipment": "specialItem",
}


def test_item_equipment_of_every_character(big_simulator: Simulator) -> None:
    sim = big_simulator
    body_schema = validator("itemEquipment")
    item_schemas = {d: validator(d) for d in set(ITEM_ARRAYS.values())}
    # Bodies are assembled from a pool of item fragments, so one item appears in many
    # bodies: validate each distinct item once against its definition, and the body with
    # its arrays emptied against the whole schema. Together that is the full validation.
    valid_items: set[tuple[str, bytes]] = set()
    seen: Counter[str] = Counter()
    for character in sim.world.characters:
        body = orjson.loads(
            sim.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": character.ocid, "date": DAY})
        )
        for array, definition in ITEM_ARRAYS.items():
            items = body[array]
            if not isinstance(items, list):
                continue  # null: the body validation below judges it
            for item in items:
                key = (definition, orjson.dumps(item))
                if key not in valid_items:
                    item_schemas[definition].validate(item)
                    valid_items.add(key)
            body[array] = []
        body_schema.validate(body)
        if character.empty:
            seen["empty"] += 1
        else:
            assert body["title"]["preset_no"] == body["preset_no"]
            seen[character.job.character_class] += 1
    # Both special equipment lists and the empty form were among the bodies checked.
    assert seen["에반"] and seen["메카닉"] and seen["empty"]
    assert len(valid_items) > 30  # the fragment pool, dragon and machine items


def test_error_bodies() -> None:
    error = validator("error")
    for api_error in ALL_ERRORS:
        error.validate(orjson.loads(api_error.body))


def test_schema_rejects_the_drift_it_exists_to_catch(big_simulator: Simulator) -> None:
    """The schema is not vacuous: the pre-audit shapes and typical drifts fail it."""
    sim = big_simulator
    character = next(c for c in sim.world.characters if not c.empty)
    good = orjson.loads(sim.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": character.ocid}))
    assert errors_of("itemEquipment", good) == []

    def broken(change: Any) -> dict[str, Any]:
        body = copy.deepcopy(good)
        change(body)
        return body

    drifts = {
        "title without preset_no": lambda b: b["title"].pop("preset_no"),
        "title without title_preset_2": lambda b: b["title"].pop("title_preset_2"),
        "medal_shape_changed_name null": lambda b: b["medal_shape"].update(
            medal_shape_changed_name=None
        ),
        "option value as a number": lambda b: b["item_equipment"][0]["item_total_option"].update(
            str=12
        ),
        "invented field": lambda b: b.update(character_name="x"),
        "item_equipment null": lambda b: b.update(item_equipment=None),
        "golden_hammer_flag as words": lambda b: b["item_equipment"][0].update(
            golden_hammer_flag="적용"
        ),
    }
    for name, change in drifts.items():
        assert errors_of("itemEquipment", broken(change)), name

    basic = orjson.loads(sim.expected_body(BASIC_PATH, {"ocid": character.ocid}))
    assert errors_of("basic", basic) == []
    assert errors_of("basic", {**basic, "character_level": "280"})
    assert errors_of("basic", {k: v for k, v in basic.items() if k != "access_flag"})
    assert errors_of("error", {"error": {"name": "OPENAPI7", "message": "x"}})
