"""What one fetched key becomes: entries (record or failed lines) with input indexes."""

from __future__ import annotations

from dataclasses import dataclass

from maplecollect.artifacts.lines import failed_line, record_line, record_pieces
from maplecollect.errors import RecordError
from maplecollect.nexon.client import utc_iso

# Bodies from this size on go to the writer as pieces, not copied into a line first;
# smaller ones are joined (one exact-size object is cheaper than three list items).
_SPLICE_FROM = 16 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One line for the writer. `index` orders it in the run's input (strictly increasing)."""

    index: int
    line: bytes | tuple[bytes, ...]  # one line, or its pieces (ChunkWriter.add takes both)
    failed: bool
    code: str | None = None  # a failed entry's error code, counted in failuresByCode


def ok(
    index: int, key: str, endpoint: str, fetched_at: str, body: bytes, *, empty: bool = False
) -> Entry:
    if len(body) < _SPLICE_FROM:
        return Entry(index, record_line(key, endpoint, fetched_at, body, empty), failed=False)
    return Entry(index, record_pieces(key, endpoint, fetched_at, body, empty), failed=False)


def failed(index: int, key: str, endpoint: str, exc: RecordError) -> Entry:
    """A per-key failure: written as a failed record with its code and attempts."""
    line = failed_line(key, endpoint, utc_iso(), exc.status, exc.code, exc.message, exc.attempts)
    return Entry(index, line, failed=True, code=exc.code)
