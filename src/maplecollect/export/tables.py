"""The exported tables as DuckDB SQL over a run's JSON Lines chunks. Pure: builds strings.

The reader is given the exact JSON shape (docs/nexon-api-fields.md), so DuckDB reads only
the fields a table keeps and casts the API's number-strings to integers while reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from maplecollect.nexon.fields import BASIC_FIELDS, ITEM_OPTION_KEYS
from maplecollect.phases import Phase

# Option blocks of an item: JSON field → column prefix, and the keys of each block.
OPTION_BLOCKS: dict[str, tuple[str, tuple[str, ...]]] = {
    block: (block.removeprefix("item_").removesuffix("_option"), keys)
    for block, keys in ITEM_OPTION_KEYS.items()
}
_ITEM_TEXT = (
    "item_equipment_part",
    "item_equipment_slot",
    "item_name",
    "item_shape_name",
    "item_gender",
    "potential_option_flag",
    "potential_option_grade",
    "potential_option_1",
    "potential_option_2",
    "potential_option_3",
    "additional_potential_option_flag",
    "additional_potential_option_grade",
    "additional_potential_option_1",
    "additional_potential_option_2",
    "additional_potential_option_3",
    "golden_hammer_flag",
    "soul_name",
    "soul_option",
    "starforce_scroll_flag",
    "date_expire",
    "freestyle_flag",
)
_ITEM_INT = (
    "starforce",
    "scroll_upgrade",
    "scroll_upgradeable_count",
    "scroll_resilience_count",
    "cuttable_count",
    "equipment_level_increase",
    "growth_exp",
    "growth_level",
    "special_ring_level",
)
# The arrays of an item-equipment body, with the `preset` each row gets
# (0: what is equipped now; NULL for the job-specific sets).
ITEM_ARRAYS = (
    ("item_equipment", "0"),
    ("item_equipment_preset_1", "1"),
    ("item_equipment_preset_2", "2"),
    ("item_equipment_preset_3", "3"),
    ("dragon_equipment", "NULL"),
    ("mechanic_equipment", "NULL"),
)


def _struct(fields: list[str]) -> str:
    return "STRUCT(" + ", ".join(fields) + ")"


def _item_type() -> str:
    fields = [f'"{name}" VARCHAR' for name in _ITEM_TEXT]
    fields += [f'"{name}" INTEGER' for name in _ITEM_INT]
    for block, (_prefix, keys) in OPTION_BLOCKS.items():
        fields.append(f'"{block}" ' + _struct([f'"{k}" INTEGER' for k in keys]))
    return _struct(fields)


def _item_columns() -> list[str]:
    cols = [f'it."{name}" AS {name}' for name in _ITEM_TEXT if not name.endswith("_flag")]
    cols += [
        "it.potential_option_flag = 'true' AS potential_option_sealed",
        "it.additional_potential_option_flag = 'true' AS additional_potential_option_sealed",
        "it.golden_hammer_flag AS golden_hammer",
        "it.starforce_scroll_flag AS starforce_scroll",
        "it.freestyle_flag AS freestyle",
    ]
    cols += [f'it."{name}" AS {name}' for name in _ITEM_INT]
    for block, (prefix, keys) in OPTION_BLOCKS.items():
        cols += [f'it."{block}"."{k}" AS {prefix}_{k}' for k in keys]
    return cols


@dataclass(frozen=True)
class Table:
    """One exported table: its name, the character key and its SELECT over a run's files."""

    name: str
    character_key: str  # the column a character is identified by (dedupe, counts)
    sql: str

    def select(self, files: list[str], run_id: str) -> str:
        """The SELECT over `files`; `run_id` must be a checked id (it becomes a literal)."""
        listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        return self.sql.replace("{files}", listed).replace("{run_id}", run_id)


def _reader(body: str) -> str:
    columns = "{key: 'VARCHAR', fetchedAt: 'TIMESTAMPTZ', empty: 'BOOLEAN', body: '" + body + "'}"
    # One body is at most a few MB; the default limit (16 MB) would also do.
    return (
        "read_json({files}, format = 'newline_delimited', columns = "
        + columns
        + ", maximum_object_size = 67108864)"
    )


RANKING_BODY = _struct(
    [
        "date VARCHAR",
        "ranking INTEGER",
        "character_name VARCHAR",
        "world_name VARCHAR",
        "class_name VARCHAR",
        "sub_class_name VARCHAR",
        "character_level INTEGER",
        "character_exp BIGINT",
        "character_popularity INTEGER",
        "character_guildname VARCHAR",
    ]
)
RANKING = Table(
    "ranking",
    "character_name",
    f"""
    SELECT '{{run_id}}' AS run_id, CAST(split_part(key, '/', 1) AS INTEGER) AS world_type,
           body.ranking AS ranking, body.character_name AS character_name,
           body.world_name AS world_name, body.class_name AS class_name,
           body.sub_class_name AS sub_class_name, body.character_level AS character_level,
           body.character_exp AS character_exp,
           body.character_popularity AS character_popularity,
           body.character_guildname AS character_guildname, fetchedAt AS fetched_at
    FROM {_reader(RANKING_BODY)}
    -- A live ranking can shift while it is paged: keep a character's best row.
    QUALIFY row_number() OVER (
        PARTITION BY body.world_name, body.character_name ORDER BY world_type, body.ranking
    ) = 1
    """,
)

OCIDS = Table(
    "ocids",
    "ocid",
    f"""
    SELECT '{{run_id}}' AS run_id, body.ocid AS ocid, body.characterName AS character_name,
           body.worldName AS world_name, fetchedAt AS fetched_at
    FROM {_reader(_struct(["ocid VARCHAR", '"characterName" VARCHAR', '"worldName" VARCHAR']))}
    QUALIFY row_number() OVER (PARTITION BY body.ocid ORDER BY fetchedAt DESC) = 1
    """,
)

# The basic body's typed fields (VARCHAR unless named here).
_BASIC_TYPES = {"character_level": "INTEGER", "character_exp": "BIGINT"}
BASIC_BODY = _struct([f"{name} {_BASIC_TYPES.get(name, 'VARCHAR')}" for name in BASIC_FIELDS])
CHARACTERS = Table(
    "characters",
    "ocid",
    f"""
    SELECT '{{run_id}}' AS run_id, key AS ocid, empty, fetchedAt AS fetched_at,
           body.character_name AS character_name, body.world_name AS world_name,
           body.character_gender AS character_gender, body.character_class AS character_class,
           TRY_CAST(body.character_class_level AS INTEGER) AS character_class_level,
           body.character_level AS character_level, body.character_exp AS character_exp,
           TRY_CAST(body.character_exp_rate AS DOUBLE) AS character_exp_rate,
           body.character_guild_name AS character_guild_name,
           body.character_image AS character_image,
           TRY_CAST(body.character_date_create AS TIMESTAMPTZ) AS character_date_create,
           body.access_flag = 'true' AS access_flag,
           TRY_CAST(body.liberation_quest_clear AS INTEGER) AS liberation_quest_clear
    FROM {_reader(BASIC_BODY)}
    QUALIFY row_number() OVER (PARTITION BY key ORDER BY fetchedAt DESC) = 1
    """,
)


def _items_sql() -> str:
    item = _item_type()
    arrays = ", ".join(f'"{name}" {item}[]' for name, _ in ITEM_ARRAYS)
    body = _struct(["date VARCHAR", "character_class VARCHAR", "preset_no INTEGER", arrays])
    names = ", ".join(f"'{name}'" for name, _ in ITEM_ARRAYS)
    presets = ", ".join(p for _, p in ITEM_ARRAYS)
    lists = ", ".join(f'body."{name}"' for name, _ in ITEM_ARRAYS)
    columns = ",\n           ".join(_item_columns())
    # No window over the records here: items rows are ~100x the records, and a run's
    # keys are unique by construction (distinct inputs, resume never repeats a key);
    # the exporter checks that on the written file (docs/downstream.md).
    return f"""
    SELECT '{{run_id}}' AS run_id, ocid, fetched_at, character_class, active_preset,
           source, preset, slot_index,
           {columns}
    FROM (
        SELECT ocid, fetched_at, character_class, active_preset, source, preset,
               unnest(arr) AS it, unnest(range(1, len(arr) + 1)) AS slot_index
        FROM (
            SELECT key AS ocid, fetchedAt AS fetched_at,
                   body.character_class AS character_class, body.preset_no AS active_preset,
                   unnest([{names}]) AS source, unnest([{presets}]) AS preset,
                   unnest([{lists}]) AS arr
            FROM {_reader(body)}
            WHERE NOT empty
        )
    )
    """


ITEMS = Table("items", "ocid", _items_sql())

TABLES: dict[Phase, Table] = {
    Phase.RANKING_FETCH: RANKING,
    Phase.OCID_LOOKUP: OCIDS,
    Phase.CHARACTER_BASIC: CHARACTERS,
    Phase.ITEM_EQUIPMENT: ITEMS,
}
