import msgspec
import orjson
import pytest

from maplecollect.nexon.bodies import (
    check_json,
    check_ranking_page,
    decode_error,
    is_empty_character,
    ocid_of,
    ranking_rows,
)

# Escaped and raw UTF-8 names, odd spacing: the raw slice must be kept byte for byte.
ROW_1 = (
    b'{"date":"2026-11-01","ranking":1,"character_name":"\\uc544\\ub378",'
    + '"world_name":"스카니아","class_name":"아델","character_level":300}'.encode()
)
ROW_2 = (
    b'{ "ranking" : 2 , "character_name" : "Foo", "world_name": "Bera", "extra": {"a": [1, 2]} }'
)


def test_ranking_rows_keep_each_rows_exact_bytes() -> None:
    body = b'{"ranking": [' + ROW_1 + b",\n   " + ROW_2 + b"]}"
    rows = ranking_rows(body)
    assert [r.raw for r in rows] == [ROW_1, ROW_2]
    assert [(r.character_name, r.world_name, r.ranking) for r in rows] == [
        ("아델", "스카니아", 1),
        ("Foo", "Bera", 2),
    ]
    assert ranking_rows(b'{"ranking": []}') == []


def test_ranking_rows_refuse_malformed_pages() -> None:
    with pytest.raises(ValueError):
        ranking_rows(b'{"ranking": [{"ranking": 1}]}')  # no name
    with pytest.raises(ValueError):
        ranking_rows(b'{"ranking": [')


def test_decode_error() -> None:
    body = orjson.dumps({"error": {"name": "OPENAPI00003", "message": "Please input valid id"}})
    assert decode_error(body) == ("OPENAPI00003", "Please input valid id")
    assert decode_error(b"<html>502 Bad Gateway</html>") is None
    assert decode_error(b'{"ocid": "x"}') is None
    assert decode_error(b"[1, 2]") is None


def test_ocid_of() -> None:
    assert (
        ocid_of(b'{"ocid":"e0a4f439e53c369866b55297d2f5f4eb"}')
        == "e0a4f439e53c369866b55297d2f5f4eb"
    )
    for bad in (b"{}", b'{"ocid": ""}', b'{"ocid": null}', b"nope"):
        with pytest.raises(ValueError):
            ocid_of(bad)


EMPTY_BASIC = {
    "date": "2026-11-01T00:00+09:00",
    "character_name": None,
    "world_name": None,
    "character_gender": None,
    "character_class": None,
    "character_level": None,
    "character_exp": None,
}
FULL_BASIC = {**EMPTY_BASIC, "character_name": "아델", "character_level": 285}
EMPTY_ITEMS = {
    "date": None,
    "character_gender": None,
    "character_class": None,
    "preset_no": None,
    "item_equipment": [],
    "item_equipment_preset_1": None,
    "title": None,
    "dragon_equipment": [],
}
FULL_ITEMS = {
    **EMPTY_ITEMS,
    "character_class": "아델",
    "item_equipment": [
        {"item_name": f"item {i}", "item_total_option": {"str": "10"}} for i in range(50)
    ],
}


@pytest.mark.parametrize(
    ("body", "empty"),
    [(EMPTY_BASIC, True), (FULL_BASIC, False), (EMPTY_ITEMS, True), (FULL_ITEMS, False)],
)
def test_empty_character_detection(body: dict[str, object], empty: bool) -> None:
    assert is_empty_character(orjson.dumps(body)) is empty


def test_empty_character_tolerates_whitespace_in_empty_values() -> None:
    assert is_empty_character(b'{"date": "x", "a": [ \n ], "b": { }, "c": null}')
    assert not is_empty_character(b'{"date": null, "character_level": 0}')


def test_invalid_json_raises() -> None:
    for bad in (b"", b"{", b'{"a": 1} trailing', b"<html>"):
        with pytest.raises(ValueError):
            check_json(bad)
        with pytest.raises(msgspec.DecodeError):
            is_empty_character(bad)
    check_json(b'{"a": [1, {"b": null}]}')


@pytest.mark.parametrize(
    "body",
    [b'{"error": {"name": "OPENAPI00003", "message": "x"}}', b'{"character_name": null}', b"[]"],
)
def test_a_character_body_needs_a_date_and_no_error_object(body: bytes) -> None:
    with pytest.raises(ValueError):
        is_empty_character(body)


def test_a_ranking_page_needs_its_ranking_field() -> None:
    check_ranking_page(b'{"ranking": []}')
    for body in (b'{"error": {"name": "OPENAPI00009"}}', b"{}"):
        with pytest.raises(ValueError):
            check_ranking_page(body)
        with pytest.raises(ValueError):
            ranking_rows(body)
