"""The generated world: deterministic, unique names and ocids, realistic body sizes."""

from __future__ import annotations

import re

import orjson
import pytest

from maplecollect.errors import ConfigError
from maplecollect.sim import (
    BASIC_PATH,
    ITEM_EQUIPMENT_PATH,
    RANKING_PATH,
    SimConfig,
    Simulator,
)
from maplecollect.sim.catalog import REBOOT_WORLDS

from .helpers import DAY, NOW, small_config


def _sample_bodies(sim: Simulator) -> list[bytes]:
    out = [
        sim.expected_body(RANKING_PATH, {"date": DAY, "world_type": t, "page": p})
        for t in ("0", "1")
        for p in ("1", "2")
    ]
    for character in sim.world.characters[:: max(1, len(sim.world.characters) // 15)]:
        for path in (BASIC_PATH, ITEM_EQUIPMENT_PATH):
            out.append(sim.expected_body(path, {"ocid": character.ocid, "date": DAY}))
    return out


def test_same_seed_same_bytes() -> None:
    first, second = Simulator(small_config()), Simulator(small_config())
    assert first.world_summary() == second.world_summary()
    assert _sample_bodies(first) == _sample_bodies(second)
    assert [c.ocid for c in first.world.characters] == [c.ocid for c in second.world.characters]


def test_different_seed_different_world() -> None:
    first, second = Simulator(small_config(seed=1)), Simulator(small_config(seed=2))
    assert not {c.ocid for c in first.world.characters} & {c.ocid for c in second.world.characters}
    assert [c.ranking_name for c in first.world.characters] != [
        c.ranking_name for c in second.world.characters
    ]
    assert _sample_bodies(first)[0] != _sample_bodies(second)[0]


def test_names_and_ocids_are_unique_and_well_formed(simulator: Simulator) -> None:
    characters = simulator.world.characters
    every_name = [c.ranking_name for c in characters] + [c.name for c in characters if c.renamed]
    assert len(every_name) == len(set(every_name)), "names are globally unique (KMS)"
    ocids = [c.ocid for c in characters]
    assert len(set(ocids)) == len(ocids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", o) for o in ocids)


def test_summary_is_the_ground_truth(simulator: Simulator) -> None:
    world = simulator.world
    summary = simulator.world_summary()
    assert summary["characters"] == len(world.characters) == 450
    assert summary["rankingRows"]["0"] + summary["rankingRows"]["1"] == 450
    assert summary["rankingRows"]["1"] == sum(1 for c in world.characters if c.world_type == 1)
    assert summary["distinctNames"] == len({c.ranking_name for c in world.characters})
    assert summary["renamedNames"] == round(0.04 * 450)
    assert summary["emptyCharacters"] == round(0.04 * 450)
    assert summary["seed"] == 7
    assert all((c.world_type == 1) == (c.world_name in REBOOT_WORLDS) for c in world.characters)
    assert not any(c.renamed and c.empty for c in world.characters)


def test_ocid_is_stable_per_character_when_the_world_grows() -> None:
    small = Simulator(small_config(characters=50))
    large = Simulator(small_config(characters=80))
    assert [c.ocid for c in small.world.characters] == [c.ocid for c in large.world.characters[:50]]


def test_item_equipment_size_scales_with_level() -> None:
    sim = Simulator(SimConfig(seed=3, characters=300, now=NOW, empty_fraction=0.0))
    ranked = sorted(sim.world.characters, key=lambda c: c.level)
    sizes = {
        c.ocid: len(sim.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": c.ocid, "date": DAY}))
        for c in (ranked[0], ranked[len(ranked) // 2], ranked[-1])
    }
    lowest, middle, top = (sizes[c.ocid] for c in (ranked[0], ranked[len(ranked) // 2], ranked[-1]))
    assert 0.85 * 200_000 <= top <= 1.15 * 200_000
    assert 0.85 * 40_000 <= lowest <= 1.15 * 40_000
    assert lowest < middle < top
    basic = sim.expected_body(BASIC_PATH, {"ocid": ranked[-1].ocid, "date": DAY})
    assert 700 <= len(basic) <= 1600, "basic is about 1 KB"


def test_item_equipment_date_is_spliced_not_rebuilt(simulator: Simulator) -> None:
    ocid = next(c.ocid for c in simulator.world.characters if not c.empty)
    one = simulator.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": ocid, "date": "2026-11-25"})
    two = simulator.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": ocid, "date": "2026-11-26"})
    assert one.replace(b"2026-11-25T", b"2026-11-26T") == two
    assert orjson.loads(one)["date"] == "2026-11-25T00:00+09:00"


@pytest.mark.parametrize(
    "overrides",
    [
        {"characters": 0},
        {"worlds": ("Atlantis",)},
        {"classes": ("고양이",)},
        {"renamed_fraction": 1.5},
        {"renamed_fraction": 0.6, "empty_fraction": 0.6},
        {"item_min_bytes": 50_000, "item_max_bytes": 40_000},
        {"api_keys": {}},
        {"api_keys": {"k": 0.0}},
    ],
)
def test_invalid_config_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        small_config(**overrides)


def test_restricted_worlds_and_classes() -> None:
    sim = Simulator(small_config(worlds=("루나", "에오스"), classes=("히어로", "아란")))
    assert {c.world_name for c in sim.world.characters} == {"루나", "에오스"}
    assert {c.job.character_class for c in sim.world.characters} == {"히어로", "아란"}
