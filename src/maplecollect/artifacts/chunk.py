"""What a published part is: the value handed to `on_publish` and listed in the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ChunkInfo(Protocol):
    """The fields the manifest needs. PublishedChunk has them, and so does the
    state layer's `chunks` row, so a resumed run can list parts of earlier attempts.
    """

    @property
    def part(self) -> int: ...
    @property
    def first_index(self) -> int: ...
    @property
    def last_index(self) -> int: ...
    @property
    def records(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def raw_bytes(self) -> int: ...
    @property
    def compressed_bytes(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def failed_sha256(self) -> str | None: ...
    @property
    def failed_path(self) -> str | None: ...
    @property
    def failed_compressed_bytes(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PublishedChunk:
    """One part, durable in the store: chunks/part-N and, if it had failures, failed/part-N.

    Indexes are the caller's input indexes; the part covers [first_index, last_index].
    Paths are store-relative. Byte counts: raw = uncompressed, compressed = file size.
    """

    run_id: str
    endpoint: str
    part: int
    first_index: int
    last_index: int
    records: int
    failed: int
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    path: str
    failed_raw_bytes: int | None
    failed_compressed_bytes: int | None
    failed_sha256: str | None
    failed_path: str | None
    codec: str
    published_at: datetime
