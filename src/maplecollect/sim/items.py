"""item-equipment bodies, assembled from pre-serialised item fragments.

Each slot's `item_variants` items are serialised once, padded through `item_description`;
a body joins a deterministic choice of them as bytes (docs/simulator.md, "How bodies stay
cheap").
"""

from __future__ import annotations

import random
import string
from typing import Any

import orjson

# The option keys of each block are the API's, as the exporter reads them.
from maplecollect.nexon.fields import ITEM_OPTION_KEYS
from maplecollect.sim.catalog import (
    DESCRIPTION_SENTENCES,
    DRAGON_SLOTS,
    EQUIPMENT_SLOTS,
    MECHANIC_SLOTS,
    MEDAL_NAMES,
    POTENTIAL_GRADES,
    POTENTIAL_LINES,
    SOUL_NAMES,
    SOUL_OPTIONS,
    TITLES,
    Slot,
)
from maplecollect.sim.config import SimConfig
from maplecollect.sim.template import DATE_MARK, Template
from maplecollect.sim.world import Character

ICON_BASE = "https://open.api.nexon.com/static/maplestory/ItemIcon/"
PRESETS = (1, 2, 3)

# These option fields are numbers in the real API; every other option value is a string.
INT_OPTION_KEYS = frozenset(
    {"equipment_level_decrease", "base_equipment_level", "exceptional_upgrade"}
)


def _options(rng: random.Random, block: str, scale: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ITEM_OPTION_KEYS[block]:
        if key in INT_OPTION_KEYS:
            out[key] = 200 if key == "base_equipment_level" else rng.choice((0, 0, 0, 1, 2))
        elif rng.random() < 0.45:
            out[key] = str(rng.randrange(1, scale))
        else:
            out[key] = "0"
    return out


def _icon(rng: random.Random) -> str:
    return ICON_BASE + "".join(rng.choices(string.ascii_uppercase, k=8)) + ".png"


def _item(rng: random.Random, slot: Slot, description: str | None) -> dict[str, Any]:
    """One equipment item with every field of the real API, in the real order."""
    name = rng.choice(slot.names)
    icon = _icon(rng)
    grade = rng.choice(POTENTIAL_GRADES)
    add_grade = rng.choice(POTENTIAL_GRADES)
    starforce = rng.choice((0, 10, 15, 17, 18, 20, 21, 22, 23))
    has_soul = slot.slot == "무기"
    return {
        "item_equipment_part": slot.part,
        "item_equipment_slot": slot.slot,
        "item_name": name,
        "item_icon": icon,
        "item_description": description,
        "item_shape_name": name,
        "item_shape_icon": icon,
        "item_gender": None,
        "item_total_option": _options(rng, "item_total_option", 400),
        "item_base_option": _options(rng, "item_base_option", 200),
        "potential_option_flag": "false",
        "additional_potential_option_flag": "false",
        "potential_option_grade": grade,
        "additional_potential_option_grade": add_grade,
        "potential_option_1": rng.choice(POTENTIAL_LINES),
        "potential_option_2": rng.choice(POTENTIAL_LINES),
        "potential_option_3": rng.choice(POTENTIAL_LINES),
        "additional_potential_option_1": rng.choice(POTENTIAL_LINES),
        "additional_potential_option_2": rng.choice(POTENTIAL_LINES),
        "additional_potential_option_3": rng.choice(POTENTIAL_LINES),
        "equipment_level_increase": 0,
        "item_exceptional_option": _options(rng, "item_exceptional_option", 30),
        "item_add_option": _options(rng, "item_add_option", 120),
        "growth_exp": 0,
        "growth_level": 0,
        "scroll_upgrade": str(rng.randrange(0, 12)),
        "cuttable_count": str(rng.choice((255, 10, 8))),
        # Flags are "0"/"1" text in the API ("1" = applied / used).
        "golden_hammer_flag": rng.choice(("0", "1")),
        "scroll_resilience_count": str(rng.randrange(0, 5)),
        "scroll_upgradeable_count": str(rng.randrange(0, 3)),
        "soul_name": rng.choice(SOUL_NAMES) if has_soul else None,
        "soul_option": rng.choice(SOUL_OPTIONS) if has_soul else None,
        "item_etc_option": _options(rng, "item_etc_option", 60),
        "starforce": str(starforce),
        "starforce_scroll_flag": rng.choice(("0", "0", "1")),
        "item_starforce_option": _options(rng, "item_starforce_option", 150),
        "special_ring_level": rng.choice((0, 0, 0, 4, 5)) if slot.part == "반지" else 0,
        "date_expire": None,
        "freestyle_flag": "0",
    }


def _special_item(rng: random.Random, slot: Slot) -> bytes:
    # Potential lines exist on worn equipment only; Evan dragon and Mechanic machine items
    # have none (the reference models' DragonInfo / MechanicInfo carry no potential fields).
    item = _item(rng, slot, None)
    return orjson.dumps({k: v for k, v in item.items() if "potential_option" not in k})


def _title(rng: random.Random, name: str) -> dict[str, Any]:
    return {
        "title_name": name,
        "title_icon": _icon(rng),
        "title_description": f"{name} 칭호.\n{rng.choice(DESCRIPTION_SENTENCES)}",
        "date_expire": None,
        "date_option_expire": None,
        "title_shape_name": None,
        "title_shape_icon": None,
        "title_shape_description": None,
    }


def _description(rng: random.Random, length: int) -> str | None:
    """Roughly `length` UTF-8 bytes of item text (None when no text is needed)."""
    if length <= 0:
        return None
    parts: list[str] = []
    size = 0
    while size < length:
        sentence = rng.choice(DESCRIPTION_SENTENCES)
        parts.append(sentence)
        size += len(sentence.encode()) + 1
    return "\n".join(parts)


def _fragments(
    rng: random.Random, slots: tuple[Slot, ...], variants: int, item_bytes: int
) -> list[list[bytes]]:
    out: list[list[bytes]] = []
    for slot in slots:
        frags: list[bytes] = []
        for _ in range(variants):
            # Measure the bare item, then pad its description to a size around item_bytes.
            bare = _item(random.Random(rng.getrandbits(64)), slot, None)
            bare_len = len(orjson.dumps(bare))
            want = int(item_bytes * rng.uniform(0.6, 1.4)) - bare_len
            bare["item_description"] = _description(rng, want)
            frags.append(orjson.dumps(bare))
        out.append(frags)
    return out


class ItemCatalog:
    """The fragment pool and the assembly of one character's item-equipment body."""

    def __init__(self, config: SimConfig, min_level: int, max_level: int) -> None:
        rng = random.Random(f"items:{config.seed}")
        self._variants = config.item_variants
        self._max_bytes = config.item_max_bytes
        self._min_bytes = config.item_min_bytes
        self._min_level, self._level_span = min_level, max_level - min_level
        # item_equipment + 3 presets, every slot filled: the size of the top character.
        per_item = config.item_max_bytes // (4 * len(EQUIPMENT_SLOTS))
        self._slots = _fragments(rng, EQUIPMENT_SLOTS, config.item_variants, per_item)
        self._dragon = [_special_item(rng, slot) for slot in DRAGON_SLOTS]
        self._mechanic = [_special_item(rng, slot) for slot in MECHANIC_SLOTS]
        self._titles = [_title(rng, name) for name in TITLES]
        self._medals = [self._medal(rng, name) for name in MEDAL_NAMES]

    @staticmethod
    def _medal(rng: random.Random, name: str) -> bytes:
        icon = _icon(rng)
        description = f"{name}에게 주어지는 훈장."
        # The reference models type every medal_shape field as a string (never null):
        # without an anvil the "changed" look is the medal itself.
        return orjson.dumps(
            {
                "medal_shape_name": name,
                "medal_shape_icon": icon,
                "medal_shape_description": description,
                "medal_shape_changed_name": name,
                "medal_shape_changed_icon": icon,
                "medal_shape_changed_description": description,
            }
        )

    def _title_object(self, rng: random.Random, preset_no: int) -> bytes:
        """`title`: the active title's fields plus `preset_no` and `title_preset_1..3`."""
        presets = [rng.choice(self._titles) if rng.random() < 0.8 else None for _ in PRESETS]
        if presets[preset_no - 1] is None:
            presets[preset_no - 1] = rng.choice(self._titles)
        active = presets[preset_no - 1]
        assert active is not None
        title: dict[str, Any] = dict(active)
        title["preset_no"] = preset_no
        for number, preset in zip(PRESETS, presets, strict=True):
            title[f"title_preset_{number}"] = preset
        return orjson.dumps(title)

    def body(self, character: Character) -> Template:
        """The body template (date still a hole) for a non-empty character."""
        # The size runs from the min at the world's lowest level to the max at the top.
        span = self._level_span
        frac = 1.0 if span == 0 else (character.level - self._min_level) / span
        target = int(self._min_bytes + (self._max_bytes - self._min_bytes) * frac)
        rng = random.Random(character.equip_seed)
        preset_no = rng.choice(PRESETS)
        choice = {
            preset: [rng.randrange(self._variants) for _ in EQUIPMENT_SLOTS] for preset in PRESETS
        }
        head = (
            b'{"date":' + orjson.dumps(DATE_MARK) + b',"character_gender":'
            + orjson.dumps(character.gender) + b',"character_class":'
            + orjson.dumps(character.job.character_class) + b',"preset_no":'
            + str(preset_no).encode() + b","
        )  # fmt: skip
        tail = (
            b',"title":' + self._title_object(rng, preset_no)
            + b',"medal_shape":' + rng.choice(self._medals)
            + b',"dragon_equipment":' + self._special(character, "에반", self._dragon)
            + b',"mechanic_equipment":' + self._special(character, "메카닉", self._mechanic)
            + b"}"
        )  # fmt: skip
        # Fill item_equipment (= the active preset) first, then the presets, until the size
        # target is met: low-level characters show fewer items and empty presets.
        size = len(head) + len(tail) + 120
        order = [0, preset_no, *(p for p in PRESETS if p != preset_no)]
        arrays: dict[int, list[bytes]] = {0: [], 1: [], 2: [], 3: []}
        for array in order:
            source = preset_no if array == 0 else array
            for slot_index, variant in enumerate(choice[source]):
                if size >= target:
                    break
                fragment = self._slots[slot_index][variant]
                arrays[array].append(fragment)
                size += len(fragment) + 1
        body = b"".join(
            [
                head,
                b'"item_equipment":[',
                b",".join(arrays[0]),
                b'],"item_equipment_preset_1":[',
                b",".join(arrays[1]),
                b'],"item_equipment_preset_2":[',
                b",".join(arrays[2]),
                b'],"item_equipment_preset_3":[',
                b",".join(arrays[3]),
                b"]",
                tail,
            ]
        )
        return Template.from_json(body)

    @staticmethod
    def _special(character: Character, job: str, fragments: list[bytes]) -> bytes:
        if character.job.character_class != job:
            return b"[]"
        return b"[" + b",".join(fragments) + b"]"
