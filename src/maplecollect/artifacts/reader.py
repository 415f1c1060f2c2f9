"""Read a run back: records in input order, part by part, verified against the manifest.

Blocking and streaming (one part's compressed file at most is spooled, never the
whole run). With `verify` (default) a part's sha256 is checked before any of its
records is yielded, and its line count after; a mismatch raises StoreError.
From async code, iterate in a worker thread.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any, BinaryIO, cast

import orjson

from maplecollect.artifacts import layout
from maplecollect.artifacts.chunk import ChunkInfo
from maplecollect.artifacts.codec import DECOMPRESS_ERRORS, codec_for_path
from maplecollect.artifacts.manifest import chunk_entry
from maplecollect.artifacts.store import Store, open_store, store_errors
from maplecollect.errors import ConfigError, StoreError

_BLOCK = 1 << 20


def _resolve_store(store: Store | None, store_url: str | None) -> Store:
    if store is not None and store_url is not None:
        raise ConfigError("pass store or store_url, not both")
    if store is not None:
        return store
    if store_url is None:
        from maplecollect.config import get_settings

        store_url = get_settings().resolved_store_url
    return open_store(store_url)


def read_manifest(
    run_id: str, endpoint: str, *, store: Store | None = None, store_url: str | None = None
) -> dict[str, Any]:
    """The manifest of (run, endpoint). StoreError if it is missing or not JSON."""
    st = _resolve_store(store, store_url)
    data = st.cat(layout.manifest_path(run_id, endpoint))
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"manifest of {run_id}/{endpoint} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise StoreError(f"manifest of {run_id}/{endpoint} is not an object")
    return manifest


def read_run(
    run_id: str,
    endpoint: str,
    *,
    store: Store | None = None,
    store_url: str | None = None,
    verify: bool = True,
) -> Iterator[dict[str, Any]]:
    """Every record of (run, endpoint) in input order, as dicts."""
    st = _resolve_store(store, store_url)
    manifest = read_manifest(run_id, endpoint, store=st)
    yield from _read_files(st, run_id, endpoint, manifest, kind="", verify=verify)


def read_failed(
    run_id: str,
    endpoint: str,
    *,
    store: Store | None = None,
    store_url: str | None = None,
    verify: bool = True,
) -> Iterator[dict[str, Any]]:
    """Every failed record of (run, endpoint) in input order, as dicts."""
    st = _resolve_store(store, store_url)
    manifest = read_manifest(run_id, endpoint, store=st)
    yield from _read_files(st, run_id, endpoint, manifest, kind="failed", verify=verify)


def failure_codes(
    store: Store, run_id: str, endpoint: str, chunks: Sequence[ChunkInfo]
) -> dict[str, int]:
    """Failed records of the given published parts, counted by `errorCode` (blocking).

    A run being resumed has no manifest of its own yet: its promoted parts are
    the chunks table's rows. A failed record without a code counts as UNKNOWN.
    """
    listing = {"chunks": [chunk_entry(c) for c in sorted(chunks, key=lambda c: c.part)]}
    counts: dict[str, int] = {}
    for record in _read_files(store, run_id, endpoint, listing, kind="failed", verify=True):
        code = record.get("errorCode") or "UNKNOWN"
        counts[code] = counts.get(code, 0) + 1
    return counts


def _read_files(
    st: Store, run_id: str, endpoint: str, manifest: dict[str, Any], *, kind: str, verify: bool
) -> Iterator[dict[str, Any]]:
    # kind "" reads path/sha256/records; "failed" reads failedPath/failedSha256/failed.
    path_key, sha_key = ("failedPath", "failedSha256") if kind else ("path", "sha256")
    count_key = "failed" if kind else "records"
    base = layout.endpoint_dir(run_id, endpoint)
    for entry in manifest.get("chunks", []):
        path = entry.get(path_key)
        if path is None:
            continue
        rel = f"{base}/{_checked_entry_path(path)}"
        codec = codec_for_path(path)
        raw = _open_verified(st, rel, entry[sha_key]) if verify else st.open_read(rel)
        count = 0
        with raw:
            for line in _lines(codec.decompress(raw), st.url_for(rel)):
                count += 1
                yield orjson.loads(line)
        if verify and count != entry[count_key]:
            raise StoreError(f"{st.url_for(rel)}: {count} lines, manifest says {entry[count_key]}")


def _checked_entry_path(path: str) -> str:
    """A manifest path must be `chunks/part-N...` or `failed/part-N...` (no escaping the run)."""
    folder, name = posixpath.split(path)
    if folder not in (layout.CHUNKS, layout.FAILED) or layout.parse_part(name) is None:
        raise StoreError(f"unexpected file path in manifest: {path!r}")
    return path


def _open_verified(st: Store, rel: str, sha256: str) -> BinaryIO:
    """Open `rel` once its sha256 is known to match. Local files are hashed in
    place; remote ones are spooled to a temp file while hashing (one download).
    """
    digest = hashlib.sha256()
    with store_errors("read", st.url_for(rel)):
        if st.is_local:
            with st.open_read(rel) as f:
                while block := f.read(_BLOCK):
                    digest.update(block)
            out = st.open_read(rel)
        else:
            out = cast(BinaryIO, tempfile.TemporaryFile())  # noqa: SIM115 - returned open
            with st.open_read(rel) as f:
                shutil.copyfileobj(_HashingReader(f, digest), cast(IO[bytes], out), _BLOCK)
            out.seek(0)
    if digest.hexdigest() != sha256:
        out.close()
        raise StoreError(f"sha256 mismatch for {st.url_for(rel)}: manifest says {sha256}")
    return out


class _HashingReader:
    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._digest.update(data)
        return data


def _lines(blocks: Iterator[bytes], where: str) -> Iterator[bytes]:
    """Split decompressed blocks into lines without holding more than a block."""
    rest = b""
    try:
        for block in blocks:
            parts = (rest + block).split(b"\n")
            rest = parts.pop()
            yield from parts
    except DECOMPRESS_ERRORS as exc:
        raise StoreError(f"cannot decompress {where}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot read {where}: {exc}") from exc
    if rest:
        raise StoreError(f"{where}: last line has no newline (truncated file?)")
