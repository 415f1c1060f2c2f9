from __future__ import annotations

import json

import orjson
import pytest

from maplecollect.artifacts.lines import embeddable_body, failed_line, record_line, record_pieces

BODY = '{"date":"2026-11-26","character_name":"메이플","item_equipment":[{"a":1.50,"b":null}]}'


def test_record_line_is_one_json_line_with_body_embedded_as_json() -> None:
    line = record_line("ocid-1", "item-equipment", "2026-11-27T03:00:00Z", BODY.encode(), False)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    obj = orjson.loads(line)
    assert obj == {
        "key": "ocid-1",
        "endpoint": "item-equipment",
        "fetchedAt": "2026-11-27T03:00:00Z",
        "status": 200,
        "empty": False,
        "body": json.loads(BODY),
    }
    assert list(obj) == ["key", "endpoint", "fetchedAt", "status", "empty", "body"]
    # Spliced, not re-serialised: the body's own bytes are in the line.
    assert BODY.encode() in line


def test_empty_flag() -> None:
    line = record_line("k", "character-basic", "t", b'{"date":"2026-11-26"}', True)
    assert orjson.loads(line)["empty"] is True


@pytest.mark.parametrize(
    "raw",
    [
        b'{\n  "a": [1,\n 2],\r\n  "b": "x"\n}\n',
        b'  {"a": 1}\n\n',
        b'{"a":\r1}',
    ],
)
def test_body_with_raw_newlines_stays_on_one_line(raw: bytes) -> None:
    line = record_line("k", "e", "t", raw, False)
    assert line.count(b"\n") == 1 and b"\r" not in line
    assert orjson.loads(line)["body"] == json.loads(raw)


def test_body_value_is_preserved_exactly_even_beyond_64_bit_ints() -> None:
    raw = b'{"big": 123456789012345678901234567890,\n "f": 1.10}'
    line = record_line("k", "e", "t", raw, False)
    assert json.loads(line)["body"] == json.loads(raw)


def test_small_fields_are_escaped() -> None:
    line = record_line('we"ird\nkey', "e", "t", b"[]", False)
    assert line.count(b"\n") == 1
    assert orjson.loads(line)["key"] == 'we"ird\nkey'


def test_empty_body_is_refused() -> None:
    with pytest.raises(ValueError):
        embeddable_body(b" \n ")


def test_body_without_newlines_is_passed_through_as_is() -> None:
    raw = b'{"a":1}'
    assert embeddable_body(raw) is raw


def test_failed_line() -> None:
    line = failed_line("name", "ocid-lookup", "t", None, None, "timeout\nafter 6 tries", 6)
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "key": "name",
        "endpoint": "ocid-lookup",
        "fetchedAt": "t",
        "status": None,
        "errorCode": None,
        "errorMessage": "timeout\nafter 6 tries",
        "attempts": 6,
    }
    line = failed_line("o", "character-basic", "t", 400, "OPENAPI00003", "invalid", 1)
    assert orjson.loads(line)["status"] == 400
    assert orjson.loads(line)["errorCode"] == "OPENAPI00003"


def test_record_pieces_join_to_the_record_line_and_keep_the_body_object() -> None:
    raw = b'{"date": null,\n "a": [1, 2]}'
    for empty in (False, True):
        pieces = record_pieces("k", "e", "t", raw, empty)
        assert b"".join(pieces) == record_line("k", "e", "t", raw, empty)
    clean = b'{"date":null,"a":[1,2]}'
    assert record_pieces("k", "e", "t", clean, False)[1] is clean  # no copy of the body
