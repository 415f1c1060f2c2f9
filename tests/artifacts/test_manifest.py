from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from maplecollect.artifacts import PublishedChunk, Store, build_manifest, write_manifest
from maplecollect.artifacts.manifest import manifest_url

from .helpers import ENDPOINT, RUN, fail, rec, sha256_of, writer


async def make_chunks(store: Store) -> list[PublishedChunk]:
    w = writer(store, max_records=3)
    for i in range(8):
        await (w.add_failed(i, fail(i)) if i == 4 else w.add(i, rec(i)))
    return await w.close()


def manifest_for(chunks: list[Any], status: str = "COMPLETED", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "run_id": RUN,
        "phase": "ITEM_EQUIPMENT",
        "endpoint": ENDPOINT,
        "upstream_run_id": "20261127-020000-ocid-x",
        "snapshot_date": "2026-11-26",
        "started_at": datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
        "completed_at": datetime(2026, 11, 27, 13, 0, tzinfo=timezone(timedelta(hours=9))),
        "status": status,
        "chunks": chunks,
    }
    args.update(kw)
    return build_manifest(**args)


async def test_manifest_lists_every_part_with_sizes_and_checksums(store: Store) -> None:
    chunks = await make_chunks(store)
    m = manifest_for(list(reversed(chunks)))  # order of the input does not matter

    assert m["formatVersion"] == 1
    assert m["runId"] == RUN and m["endpoint"] == ENDPOINT and m["phase"] == "ITEM_EQUIPMENT"
    assert m["upstreamRunId"] == "20261127-020000-ocid-x"
    assert m["snapshotDate"] == "2026-11-26" and m["status"] == "COMPLETED"
    assert m["startedAt"] == "2026-11-27T03:00:00Z"
    assert m["completedAt"] == "2026-11-27T04:00:00Z"  # converted to UTC
    assert m["codec"] == "zstd"
    assert (m["parts"], m["records"], m["failed"]) == (3, 7, 1)
    assert (m["firstIndex"], m["lastIndex"]) == (0, 7)
    assert m["rawBytes"] == sum(c.raw_bytes for c in chunks)
    assert m["compressedBytes"] == sum(c.compressed_bytes for c in chunks)
    assert m["failedCompressedBytes"] == sum(c.failed_compressed_bytes or 0 for c in chunks)
    assert [e["part"] for e in m["chunks"]] == [1, 2, 3]
    base = f"runs/{RUN}/{ENDPOINT}"
    for entry, chunk in zip(m["chunks"], chunks, strict=True):
        assert entry["path"] == f"chunks/part-{chunk.part:06d}.jsonl.zst"
        assert sha256_of(store, f"{base}/{entry['path']}") == entry["sha256"]
        assert store.fs.size(store.full_path(f"{base}/{entry['path']}")) == entry["compressedBytes"]
        assert (entry["firstIndex"], entry["lastIndex"]) == (chunk.first_index, chunk.last_index)
        if entry["failedPath"]:
            assert sha256_of(store, f"{base}/{entry['failedPath']}") == entry["failedSha256"]
        else:
            assert entry["failedSha256"] is None and chunk.failed == 0
    assert [e["failed"] for e in m["chunks"]] == [0, 1, 0]


async def test_success_marker_is_written_after_the_manifest(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real = store.write_bytes

    async def spy(rel: str, data: bytes) -> None:
        await real(rel, data)
        order.append(rel.rsplit("/", 1)[-1])

    monkeypatch.setattr(store, "write_bytes", spy)
    m = manifest_for(await make_chunks(store))
    url = await write_manifest(store, m, success=True)

    assert order == ["manifest.json", "_SUCCESS"]
    assert url == manifest_url(store, RUN, ENDPOINT)
    assert orjson.loads(store.cat(f"runs/{RUN}/{ENDPOINT}/manifest.json")) == m


@pytest.mark.parametrize("status", ["STOPPED", "FAILED"])
async def test_stopped_or_failed_runs_get_a_manifest_but_no_success(
    store: Store, status: str
) -> None:
    chunks = await make_chunks(store)
    base = f"runs/{RUN}/{ENDPOINT}"
    store.put_atomic(f"{base}/_SUCCESS", b"")  # stale marker must go
    await write_manifest(store, manifest_for(chunks, status), success=False)
    assert orjson.loads(store.cat(f"{base}/manifest.json"))["status"] == status
    assert not store.exists_sync(f"{base}/_SUCCESS")
    with pytest.raises(ValueError):
        await write_manifest(store, manifest_for(chunks, status), success=True)


def test_empty_run_manifest() -> None:
    m = manifest_for([], "STOPPED")
    assert (m["parts"], m["records"], m["codec"], m["firstIndex"]) == (0, 0, None, None)


async def test_inconsistent_parts_are_refused(store: Store) -> None:
    chunks = await make_chunks(store)
    with pytest.raises(ValueError):
        manifest_for([chunks[0], chunks[0]])
    with pytest.raises(ValueError):
        manifest_for([chunks[0], dataclasses.replace(chunks[1], first_index=1)])
    with pytest.raises(ValueError):
        manifest_for(chunks, run_id="another-run")
    with pytest.raises(ValueError):
        manifest_for(chunks, status="RUNNING")
    with pytest.raises(ValueError):
        manifest_for(chunks, started_at=datetime(2026, 11, 27))  # naive


@dataclasses.dataclass
class ChunkRowLike:
    """What the state layer's `chunks` row carries (no codec, no failed raw bytes)."""

    part: int
    first_index: int
    last_index: int
    records: int
    failed: int
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    path: str
    failed_sha256: str | None
    failed_path: str | None
    failed_compressed_bytes: int | None


async def test_rows_from_the_database_build_the_same_manifest(store: Store) -> None:
    chunks = await make_chunks(store)
    names = {f.name for f in dataclasses.fields(ChunkRowLike)}
    rows = [ChunkRowLike(**{k: getattr(c, k) for k in names}) for c in chunks]
    assert manifest_for(rows) == manifest_for(chunks)
