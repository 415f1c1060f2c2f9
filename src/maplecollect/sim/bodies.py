"""Success bodies of the four endpoints, as cached date-less templates."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from maplecollect.nexon.fields import BASIC_FIELDS
from maplecollect.sim.clock import api_datetime
from maplecollect.sim.config import SimConfig
from maplecollect.sim.items import ItemCatalog
from maplecollect.sim.template import DATE_MARK, LruCache, Template
from maplecollect.sim.world import Character, World

PAGE_SIZE = 200
CHARACTER_IMAGE_BASE = "https://open.api.nexon.com/static/maplestory/character/look/"
BASIC_CACHE_ENTRIES = 65_536

ITEM_EQUIPMENT_FIELDS = (
    "date",
    "character_gender",
    "character_class",
    "preset_no",
    "item_equipment",
    "item_equipment_preset_1",
    "item_equipment_preset_2",
    "item_equipment_preset_3",
    "title",
    "medal_shape",
    "dragon_equipment",
    "mechanic_equipment",
)
EMPTY_RANKING = b'{"ranking":[]}'


# item-equipment arrays the reference models never allow to be null (docs/nexon-api-fields.md,
# "Empty characters"): an empty character answers them as [] rather than null.
NON_NULL_ARRAYS = frozenset({"item_equipment", "dragon_equipment", "mechanic_equipment"})


def _empty_template(fields: tuple[str, ...]) -> Template:
    # A character with no data since 2023-12-21: 200 with every field null (or [] for the
    # arrays above) but `date`.
    return Template.dumps(
        {f: DATE_MARK if f == "date" else ([] if f in NON_NULL_ARRAYS else None) for f in fields}
    )


def _character_image(ocid: str) -> str:
    # Real look URLs carry a long opaque upper-case token; derive a stable one from the ocid.
    token = hashlib.shake_256(ocid.encode()).digest(300)
    letters = "ABCDEFGHIJKLMNOP"
    return CHARACTER_IMAGE_BASE + "".join(letters[b >> 4] + letters[b & 15] for b in token)


def ranking_row(character: Character, rank: int) -> dict[str, Any]:
    return {
        "date": DATE_MARK,
        "ranking": rank,
        "character_name": character.ranking_name,
        "world_name": character.world_name,
        "class_name": character.job.class_name,
        "sub_class_name": character.job.sub_class_name,
        "character_level": character.level,
        "character_exp": character.exp,
        "character_popularity": character.popularity,
        "character_guildname": character.guild,
    }


class Bodies:
    """Builds each body once and keeps it as a `Template` (ranking pages, basic, equipment)."""

    def __init__(self, config: SimConfig, world: World) -> None:
        self._world = world
        self._items = ItemCatalog(config, world.min_level, world.max_level)
        self._ranking: LruCache[tuple[str, str, int], Template] = LruCache(
            config.ranking_cache_pages
        )
        self._basic: LruCache[str, Template] = LruCache(BASIC_CACHE_ENTRIES)
        self._equipment: LruCache[str, Template] = LruCache(
            config.item_cache_bytes, weigh=lambda t: t.nbytes
        )
        self._empty_basic = _empty_template(BASIC_FIELDS)
        self._empty_equipment = _empty_template(ITEM_EQUIPMENT_FIELDS)

    def ranking_page(self, scope: str, class_filter: str, page: int) -> Template:
        """Page `page` (1-based, 200 rows) of a ranking; past the end, `{"ranking":[]}`."""

        def build() -> Template:
            rows = self._world.ranking(scope, class_filter)
            start = (page - 1) * PAGE_SIZE
            chunk = rows[start : start + PAGE_SIZE]
            return Template.dumps(
                {"ranking": [ranking_row(c, start + i + 1) for i, c in enumerate(chunk)]}
            )

        return self._ranking.get_or_build((scope, class_filter, page), build)

    def ranking_of(self, scope: str, class_filter: str, ocid: str) -> Template:
        """The row of one character in a ranking (the `ocid` parameter), or no rows."""
        place = self._world.position(scope, class_filter, ocid)
        if place is None:
            return Template((EMPTY_RANKING,))
        character = self._world.ranking(scope, class_filter)[place]
        return Template.dumps({"ranking": [ranking_row(character, place + 1)]})

    @staticmethod
    def ocid(character: Character) -> bytes:
        return orjson.dumps({"ocid": character.ocid})

    def basic(self, character: Character) -> Template:
        if character.empty:
            return self._empty_basic
        return self._basic.get_or_build(character.ocid, lambda: self._build_basic(character))

    def item_equipment(self, character: Character) -> Template:
        if character.empty:
            return self._empty_equipment
        return self._equipment.get_or_build(character.ocid, lambda: self._items.body(character))

    @staticmethod
    def _build_basic(c: Character) -> Template:
        return Template.dumps(
            {
                "date": DATE_MARK,
                "character_name": c.name,
                "world_name": c.world_name,
                "character_gender": c.gender,
                "character_class": c.job.character_class,
                "character_class_level": "6" if c.level >= 260 else "5",
                "character_level": c.level,
                "character_exp": c.exp,
                "character_exp_rate": c.exp_rate,
                "character_guild_name": c.guild,
                "character_image": _character_image(c.ocid),
                "character_date_create": api_datetime(c.date_create),
                "access_flag": "true" if c.access_flag else "false",
                "liberation_quest_clear": c.liberation_quest_clear,
            }
        )
