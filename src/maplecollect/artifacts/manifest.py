"""manifest.json of a (run, endpoint): every part, totals, run facts. Written last.

Keys are camelCase and documented in docs/artifacts.md. Chunk paths in the
manifest are relative to the endpoint folder, so a copied run stays readable.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from maplecollect.artifacts import layout
from maplecollect.artifacts.chunk import ChunkInfo
from maplecollect.artifacts.codec import codec_for_path
from maplecollect.artifacts.store import Store

FORMAT_VERSION = 1
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "STOPPED", "ABANDONED"})


def iso_time(value: datetime | str | None) -> str | None:
    """UTC ISO 8601 with a `Z`; strings are kept as given (already formatted)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime in manifest; pass an aware (UTC) time")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _relative(folder: str, path: str | None) -> str | None:
    return f"{folder}/{posixpath.basename(path)}" if path else None


def chunk_entry(chunk: ChunkInfo) -> dict[str, Any]:
    """The manifest entry of one part."""
    return {
        "part": chunk.part,
        "firstIndex": chunk.first_index,
        "lastIndex": chunk.last_index,
        "records": chunk.records,
        "failed": chunk.failed,
        "path": _relative(layout.CHUNKS, chunk.path),
        "rawBytes": chunk.raw_bytes,
        "compressedBytes": chunk.compressed_bytes,
        "sha256": chunk.sha256,
        "failedPath": (
            f"{layout.FAILED}/{posixpath.basename(chunk.failed_path)}"
            if chunk.failed_path
            else None
        ),
        "failedCompressedBytes": chunk.failed_compressed_bytes,
        "failedSha256": chunk.failed_sha256,
    }


def _check_chunks(run_id: str, endpoint: str, chunks: Sequence[ChunkInfo]) -> None:
    """Parts must belong here, be unique and cover ascending, disjoint input ranges."""
    previous: ChunkInfo | None = None
    for c in chunks:
        expected = layout.chunk_path(run_id, endpoint, c.part, codec_for_path(c.path).extension)
        if c.path != expected:
            raise ValueError(f"part {c.part} path {c.path!r} is not {expected!r}")
        if c.first_index > c.last_index:
            raise ValueError(f"part {c.part} has an empty input range")
        if previous is not None and (
            c.part <= previous.part or c.first_index <= previous.last_index
        ):
            raise ValueError(f"part {c.part} overlaps or repeats part {previous.part}")
        previous = c


def build_manifest(
    *,
    run_id: str,
    phase: str,
    endpoint: str,
    upstream_run_id: str | None,
    snapshot_date: str,
    started_at: datetime | str,
    completed_at: datetime | str | None,
    status: str,
    chunks: Sequence[ChunkInfo],
) -> dict[str, Any]:
    """The manifest dict. Raises ValueError on an unknown status or inconsistent parts."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"manifest status must be one of {sorted(FINAL_STATUSES)}, not {status!r}")
    ordered = sorted(chunks, key=lambda c: c.part)
    _check_chunks(run_id, endpoint, ordered)
    codecs = {codec_for_path(c.path).name for c in ordered}
    return {
        "formatVersion": FORMAT_VERSION,
        "runId": run_id,
        "phase": str(phase),
        "endpoint": endpoint,
        "upstreamRunId": upstream_run_id,
        "snapshotDate": snapshot_date,
        "status": status,
        "startedAt": iso_time(started_at),
        "completedAt": iso_time(completed_at),
        "codec": codecs.pop() if len(codecs) == 1 else ("mixed" if codecs else None),
        "parts": len(ordered),
        "records": sum(c.records for c in ordered),
        "failed": sum(c.failed for c in ordered),
        "rawBytes": sum(c.raw_bytes for c in ordered),
        "compressedBytes": sum(c.compressed_bytes for c in ordered),
        "failedCompressedBytes": sum(c.failed_compressed_bytes or 0 for c in ordered),
        "firstIndex": ordered[0].first_index if ordered else None,
        "lastIndex": ordered[-1].last_index if ordered else None,
        "chunks": [chunk_entry(c) for c in ordered],
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


async def write_manifest(
    store: Store,
    manifest: dict[str, Any],
    success: bool,
    *,
    guard: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """Write manifest.json atomically, then `_SUCCESS` if `success` (COMPLETED only).

    A non-success manifest removes a stale `_SUCCESS` first, so `_SUCCESS` always
    means "the manifest next to me says COMPLETED". Returns the manifest's URL.
    `guard(what)` is awaited before each write (the run's lease check) and
    stops the writes by raising.
    """
    run_id, endpoint = manifest["runId"], manifest["endpoint"]
    if success and manifest["status"] != "COMPLETED":
        raise ValueError(f"_SUCCESS is only for COMPLETED runs, not {manifest['status']}")
    rel = layout.manifest_path(run_id, endpoint)
    marker = layout.success_path(run_id, endpoint)
    if guard is not None:
        await guard("writing the manifest")
    if not success:
        await store.remove(marker)
    await store.write_bytes(rel, encode_manifest(manifest))
    if success:
        if guard is not None:
            await guard("writing _SUCCESS")
        await store.write_bytes(marker, b"")
    return store.url_for(rel)


def manifest_url(store: Store, run_id: str, endpoint: str) -> str:
    """Where the manifest of (run, endpoint) is or will be: the run's `manifestPath`."""
    return store.url_for(layout.manifest_path(run_id, endpoint))
