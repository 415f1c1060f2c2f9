"""The documented fields of the API's bodies (docs/nexon-api-fields.md).

Shared by the simulator, which serves them, and the exporter, which types them, so
neither decides alone what the API sends.
"""

from __future__ import annotations

_STATS = ("str", "dex", "int", "luk", "max_hp", "max_mp", "attack_power", "magic_power")
_PHYSICAL = ("armor", "speed", "jump")
# The option blocks of an item and the keys each holds.
ITEM_OPTION_KEYS: dict[str, tuple[str, ...]] = {
    "item_total_option": (
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "ignore_monster_armor",
        "all_stat",
        "damage",
        "equipment_level_decrease",
        "max_hp_rate",
        "max_mp_rate",
    ),
    "item_base_option": (
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "ignore_monster_armor",
        "all_stat",
        "max_hp_rate",
        "max_mp_rate",
        "base_equipment_level",
    ),
    "item_exceptional_option": (*_STATS, "exceptional_upgrade"),
    "item_add_option": (
        *_STATS,
        *_PHYSICAL,
        "boss_damage",
        "damage",
        "all_stat",
        "equipment_level_decrease",
    ),
    "item_etc_option": (*_STATS, *_PHYSICAL),
    "item_starforce_option": (*_STATS, *_PHYSICAL),
}
# character/basic's fields, in the API's order.
BASIC_FIELDS = (
    "date",
    "character_name",
    "world_name",
    "character_gender",
    "character_class",
    "character_class_level",
    "character_level",
    "character_exp",
    "character_exp_rate",
    "character_guild_name",
    "character_image",
    "character_date_create",
    "access_flag",
    "liberation_quest_clear",
)
