"""Cheap checks of response bodies with msgspec: decode only what a phase needs.

Bodies stay the raw bytes received; these helpers run on the event-loop
thread (msgspec holds the GIL; on worker threads it only gets slower). Each one
still checks the WHOLE body is valid JSON, because skipping a value in msgspec
parses it. Invalid JSON raises `ValueError` (`msgspec.DecodeError`); valid JSON
of another shape raises `ValueError` too (`msgspec.ValidationError` or a plain
one): see `is_syntax_error`. A Nexon error object (`{"error": {...}}`) is never
the expected shape, whatever the status it came with.
"""

from __future__ import annotations

import msgspec


class RankingRow(msgspec.Struct, frozen=True, gc=False):
    """One row of /ranking/overall; `raw` is the row's exact JSON bytes from the page."""

    raw: bytes
    character_name: str
    world_name: str
    ranking: int


class _ErrorDetail(msgspec.Struct):
    name: str | None = None
    message: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail | None = None


class _RankingPage(msgspec.Struct):
    # Required: `{"ranking": []}` ends a world type, so a body without the field
    # (e.g. an error object) must never read as the last page.
    ranking: list[msgspec.Raw]


class _RankingFields(msgspec.Struct):
    character_name: str
    world_name: str
    ranking: int


class _Ocid(msgspec.Struct):
    ocid: str


_any_json = msgspec.json.Decoder(msgspec.Raw)
_error = msgspec.json.Decoder(_ErrorBody)
_page = msgspec.json.Decoder(_RankingPage)
_row = msgspec.json.Decoder(_RankingFields)
_ocid = msgspec.json.Decoder(_Ocid)
# Top-level fields as raw slices: nested objects (200 KB of items) are parsed, never built.
_top = msgspec.json.Decoder(dict[str, msgspec.Raw])
_EMPTY_VALUES = frozenset((b"null", b"[]", b"{}"))


def is_syntax_error(exc: ValueError) -> bool:
    """True if a check failed because the body is not JSON at all (vs. JSON of another shape)."""
    return isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError)


def check_json(body: bytes) -> None:
    """Raise ValueError unless `body` is one valid JSON document."""
    _any_json.decode(body)


def decode_error(body: bytes) -> tuple[str, str] | None:
    """`(error.name, error.message)` of a Nexon error body; None if not JSON or no error."""
    try:
        detail = _error.decode(body).error
    except msgspec.DecodeError:
        return None
    if detail is None or not detail.name:
        return None
    return detail.name, detail.message or ""


def check_ranking_page(body: bytes) -> bool:
    """Raise ValueError unless `body` is a ranking page (`{"ranking": [...]}`); never empty."""
    _page.decode(body)
    return False


def ranking_rows(body: bytes) -> list[RankingRow]:
    """Rows of a ranking page (empty list: the last page). Raises ValueError if malformed."""
    rows = []
    for raw in _page.decode(body).ranking:
        fields = _row.decode(raw)
        rows.append(
            RankingRow(
                raw=bytes(raw),
                character_name=fields.character_name,
                world_name=fields.world_name,
                ranking=fields.ranking,
            )
        )
    return rows


def ocid_of(body: bytes) -> str:
    """The `ocid` of an /id answer. Raises ValueError if missing or empty."""
    ocid = _ocid.decode(body).ocid
    if not ocid:
        raise ValueError("empty ocid")
    return ocid


def is_empty_character(body: bytes) -> bool:
    """True for a character answer with every field null except `date`.

    Works for character/basic and character/item-equipment alike: the top
    level is decoded to raw slices only. Empty lists/objects count as null
    (an empty character's item list may come as [] instead of null).
    Raises ValueError unless the body is a character object: a JSON object
    with a `date` field (null for "latest") and no `error` field.
    """
    top = _top.decode(body)
    if "date" not in top or "error" in top:
        raise ValueError("not a character body (no `date` field, or an `error` object)")
    for name, raw in top.items():
        if name == "date":
            continue
        if len(raw) > 8:  # cheap exit before copying anything (most real fields)
            return False
        if b"".join(bytes(raw).split()) not in _EMPTY_VALUES:
            return False
    return True
