from __future__ import annotations

import inspect
from collections.abc import Iterator

import orjson
import pytest

import maplecollect.artifacts as artifacts
from maplecollect.artifacts import (
    Store,
    build_manifest,
    read_failed,
    read_manifest,
    read_run,
    write_manifest,
)
from maplecollect.config import get_settings
from maplecollect.errors import ConfigError, StoreError

from .helpers import ENDPOINT, RUN, body, fail, rec, writer


async def write_run(store: Store, n: int = 23, codec: str = "zstd", every_fail: int = 5) -> None:
    w = writer(store, max_records=4, codec=codec)
    for i in range(n):
        await (w.add_failed(i, fail(i)) if i % every_fail == 1 else w.add(i, rec(i)))
    chunks = await w.close()
    manifest = build_manifest(
        run_id=RUN,
        phase="ITEM_EQUIPMENT",
        endpoint=ENDPOINT,
        upstream_run_id=None,
        snapshot_date="latest",
        started_at="2026-11-27T03:00:00Z",
        completed_at="2026-11-27T03:10:00Z",
        status="COMPLETED",
        chunks=chunks,
    )
    await write_manifest(store, manifest, success=True)


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
async def test_round_trip_records_and_failed(store: Store, codec: str) -> None:
    await write_run(store, codec=codec)
    records = list(read_run(RUN, ENDPOINT, store=store))
    ok = [i for i in range(23) if i % 5 != 1]
    assert [r["key"] for r in records] == [f"ocid-{i}" for i in ok]
    assert [r["body"] for r in records] == [orjson.loads(body(i)) for i in ok]
    assert all(r["status"] == 200 and r["empty"] is False for r in records)
    failed = list(read_failed(RUN, ENDPOINT, store=store))
    assert [r["key"] for r in failed] == [f"ocid-{i}" for i in range(23) if i % 5 == 1]
    assert all(r["errorCode"] == "OPENAPI00003" for r in failed)
    assert read_manifest(RUN, ENDPOINT, store=store)["records"] == len(ok)


async def test_read_by_store_url_and_package_import(local_store: Store) -> None:
    await write_run(local_store)
    assert artifacts.read_run is read_run
    assert len(list(read_run(RUN, ENDPOINT, store_url=local_store.url))) == 18
    with pytest.raises(ConfigError):
        list(read_run(RUN, ENDPOINT, store=local_store, store_url=local_store.url))


async def test_default_store_comes_from_settings(
    local_store: Store, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    await write_run(local_store)
    monkeypatch.setenv("MAPLECOLLECT_STORE_URL", local_store.url)
    get_settings.cache_clear()
    try:
        assert len(list(read_run(RUN, ENDPOINT))) == 18
    finally:
        get_settings.cache_clear()


async def test_reading_is_lazy_and_part_by_part(store: Store) -> None:
    await write_run(store)
    it = read_run(RUN, ENDPOINT, store=store)
    assert inspect.isgenerator(it)
    assert next(it)["key"] == "ocid-0"
    it.close()


def corrupt(store: Store, rel: str) -> None:
    data = bytearray(store.cat(rel))
    data[len(data) // 2] ^= 0xFF
    store.put_atomic(rel, bytes(data))


async def test_checksum_mismatch_is_detected_before_yielding_the_part(store: Store) -> None:
    await write_run(store)
    corrupt(store, f"runs/{RUN}/{ENDPOINT}/chunks/part-000002.jsonl.zst")
    seen: list[str] = []
    with pytest.raises(StoreError, match="sha256 mismatch"):
        seen.extend(r["key"] for r in read_run(RUN, ENDPOINT, store=store))
    assert len(seen) == 4  # part 1 only; nothing of the corrupt part 2


async def test_failed_file_checksum_is_verified(store: Store) -> None:
    await write_run(store)
    corrupt(store, f"runs/{RUN}/{ENDPOINT}/failed/part-000001.jsonl.zst")
    with pytest.raises(StoreError, match="sha256 mismatch"):
        list(read_failed(RUN, ENDPOINT, store=store))


async def test_without_verify_a_swapped_file_is_read_as_is(store: Store) -> None:
    await write_run(store)
    base = f"runs/{RUN}/{ENDPOINT}/chunks"
    store.put_atomic(f"{base}/part-000001.jsonl.zst", store.cat(f"{base}/part-000002.jsonl.zst"))
    keys = [r["key"] for r in read_run(RUN, ENDPOINT, store=store, verify=False)]
    assert keys[:4] == keys[4:8]


async def test_count_mismatch_and_bad_paths_in_the_manifest(store: Store) -> None:
    await write_run(store)
    rel = f"runs/{RUN}/{ENDPOINT}/manifest.json"
    manifest = orjson.loads(store.cat(rel))
    manifest["chunks"][0]["records"] += 1
    store.put_atomic(rel, orjson.dumps(manifest))
    with pytest.raises(StoreError, match="lines"):
        list(read_run(RUN, ENDPOINT, store=store))
    manifest["chunks"][0]["path"] = "../../other/chunks/part-000001.jsonl.zst"
    store.put_atomic(rel, orjson.dumps(manifest))
    with pytest.raises(StoreError, match="unexpected file path"):
        list(read_run(RUN, ENDPOINT, store=store))


async def test_truncated_file_is_an_error_even_without_verify(store: Store) -> None:
    await write_run(store)
    rel = f"runs/{RUN}/{ENDPOINT}/chunks/part-000001.jsonl.zst"
    store.put_atomic(rel, store.cat(rel)[:-10])
    with pytest.raises(StoreError):
        list(read_run(RUN, ENDPOINT, store=store, verify=False))


def test_missing_manifest(store: Store) -> None:
    with pytest.raises(StoreError):
        read_manifest(RUN, ENDPOINT, store=store)
    it: Iterator[object] = read_run(RUN, ENDPOINT, store=store)
    with pytest.raises(StoreError):
        next(it)
