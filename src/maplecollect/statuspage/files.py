"""A run's files for the run page: failures by code with samples, and streaming a part file.

Only files the run's chunk rows list are served: a requested name is validated and
looked up, never joined into a store path as given.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from maplecollect.artifacts import layout
from maplecollect.artifacts.codec import DECOMPRESS_ERRORS, codec_for_path
from maplecollect.errors import StoreError
from maplecollect.state.models import ChunkRow

if TYPE_CHECKING:
    from maplecollect.artifacts.store import Store  # fsspec: only once a file is read

SAMPLES_PER_CODE = 3
MAX_SCANNED = 5000  # failed lines read at most for the samples (bounded work per request)
_BLOCK = 1 << 16
_READ_ERRORS: tuple[type[Exception], ...] = (*DECOMPRESS_ERRORS, OSError, StoreError)


@dataclass(frozen=True, slots=True)
class RunFile:
    """A file of the run, relative to the store, with its checksum when known."""

    rel: str
    name: str
    sha256: str | None


def find_file(
    run_id: str, endpoint: str, folder: str, name: str, chunks: list[ChunkRow]
) -> RunFile | None:
    """The chunk/failed file `folder/name` of (run, endpoint) if the DB lists it."""
    if folder not in (layout.CHUNKS, layout.FAILED) or layout.parse_part(name) is None:
        return None
    for c in chunks:
        if c.endpoint != endpoint:
            continue
        chunk = folder == layout.CHUNKS
        path, sha = (c.path, c.sha256) if chunk else (c.failed_path, c.failed_sha256)
        if path and posixpath.basename(path) == name:
            rel = f"{layout.endpoint_dir(run_id, endpoint)}/{folder}/{name}"
            return RunFile(rel, name, sha)
    return None


def stream(store: Store, rel: str) -> Iterator[bytes]:
    """Blocking iterator over the file's bytes (Starlette runs it in a thread)."""
    with store.open_read(rel) as f:
        while block := f.read(_BLOCK):
            yield block


def failure_samples(store: Store, chunks: list[ChunkRow]) -> dict[str, Any]:
    """Failed records grouped by error code: counts (of the lines read) and a few samples."""
    by_code: dict[str, dict[str, Any]] = {}
    records = (
        record
        for c in chunks
        if c.failed_path and c.failed
        for record in _failed_lines(store, c.failed_path)
    )
    scanned = 0
    for record in islice(records, MAX_SCANNED):
        scanned += 1
        code = str(record.get("errorCode") or record.get("status") or "UNKNOWN")
        entry = by_code.setdefault(code, {"count": 0, "samples": []})
        entry["count"] += 1
        if len(entry["samples"]) < SAMPLES_PER_CODE:
            entry["samples"].append(
                {
                    "key": str(record.get("key", ""))[:100],
                    "status": record.get("status"),
                    "message": str(record.get("errorMessage", ""))[:300],
                    "attempts": record.get("attempts"),
                }
            )
    return {"scanned": scanned, "truncated": scanned >= MAX_SCANNED, "byCode": by_code}


def _failed_lines(store: Store, path: str) -> Iterator[dict[str, Any]]:
    rel = _store_relative(store, path)
    codec = codec_for_path(path)
    rest = b""
    try:
        with store.open_read(rel) as raw:
            for block in codec.decompress(raw):
                parts = (rest + block).split(b"\n")
                rest = parts.pop()
                for line in parts:
                    try:
                        value = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(value, dict):
                        yield value
    except _READ_ERRORS:
        return  # a damaged file shows as fewer samples; the manifest check reports it


def _store_relative(store: Store, path: str) -> str:
    """Chunk rows hold store-relative paths (`runs/<id>/<endpoint>/failed/part-...`)."""
    return path.removeprefix(store.full_path("").rstrip("/") + "/")
