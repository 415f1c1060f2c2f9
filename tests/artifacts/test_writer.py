from __future__ import annotations

import asyncio
import itertools
import random
import threading
from typing import Any

import orjson
import pytest

from maplecollect.artifacts import (
    ChunkWriter,
    PublishedChunk,
    Store,
    layout,
    read_failed,
    read_run,
    record_line,
)
from maplecollect.artifacts import codec as codec_module
from maplecollect.artifacts.lines import record_pieces
from maplecollect.artifacts.manifest import build_manifest, write_manifest
from maplecollect.artifacts.store import Staging
from maplecollect.errors import ClosedError, StoreError

from .helpers import ENDPOINT, RUN, Recorder, all_files, body, fail, rec, sha256_of, writer


def read_back(store: Store, chunks: list[PublishedChunk]) -> list[dict[str, Any]]:
    return list(read_run(RUN, ENDPOINT, store=store, verify=True)) if chunks else []


async def finish(store: Store, chunks: list[PublishedChunk], status: str = "COMPLETED") -> None:
    manifest = build_manifest(
        run_id=RUN,
        phase="ITEM_EQUIPMENT",
        endpoint=ENDPOINT,
        upstream_run_id="up",
        snapshot_date="2026-11-26",
        started_at="2026-11-27T03:00:00Z",
        completed_at="2026-11-27T04:00:00Z",
        status=status,
        chunks=chunks,
    )
    await write_manifest(store, manifest, success=status == "COMPLETED")


async def test_rotation_by_records_in_input_order(store: Store) -> None:
    rec_ = Recorder(store)
    w = writer(store, max_records=10, on_publish=rec_)
    for i in range(25):
        await w.add(i, rec(i))
    chunks = await w.close()

    assert [c.part for c in chunks] == [1, 2, 3]
    assert [c.records for c in chunks] == [10, 10, 5]
    assert [(c.first_index, c.last_index) for c in chunks] == [(0, 9), (10, 19), (20, 24)]
    assert rec_.chunks == chunks  # on_publish once per part, in order
    assert all(c.failed == 0 and c.failed_path is None for c in chunks)
    await finish(store, chunks)
    assert [r["key"] for r in read_back(store, chunks)] == [f"ocid-{i}" for i in range(25)]


async def test_rotation_by_uncompressed_bytes(store: Store) -> None:
    line_len = len(rec(0))
    w = writer(store, max_records=10_000, max_bytes=line_len * 4)
    for i in range(10):
        await w.add(i, rec(i))
    chunks = await w.close()
    assert [c.records for c in chunks] == [4, 4, 2]
    assert [c.raw_bytes for c in chunks] == [line_len * 4, line_len * 4, line_len * 2]


async def test_failed_file_only_for_parts_with_failures(store: Store) -> None:
    rec_ = Recorder(store)
    w = writer(store, max_records=5, on_publish=rec_)
    failures = {3, 4, 17}
    for i in range(20):
        if i in failures:
            await w.add_failed(i, fail(i))
        else:
            await w.add(i, rec(i))
    chunks = await w.close()

    # A part is 5 records; failed lines ride along in the part covering their index.
    assert [(c.first_index, c.last_index, c.records, c.failed) for c in chunks] == [
        (0, 6, 5, 2),
        (7, 11, 5, 0),
        (12, 16, 5, 0),
        (17, 19, 2, 1),
    ]
    assert [c.failed_path is not None for c in chunks] == [True, False, False, True]
    base = f"runs/{RUN}/{ENDPOINT}"
    assert await store.list_names(f"{base}/failed") == [
        "part-000001.jsonl.zst",
        "part-000004.jsonl.zst",
    ]
    for c in chunks:
        assert sha256_of(store, c.path) == c.sha256
        if c.failed_path:
            assert sha256_of(store, c.failed_path) == c.failed_sha256
    await finish(store, chunks)

    assert [r["key"] for r in read_failed(RUN, ENDPOINT, store=store)] == [
        "ocid-3",
        "ocid-4",
        "ocid-17",
    ]


async def test_part_with_only_failures_still_has_an_empty_records_file(store: Store) -> None:
    w = writer(store, max_records=3)
    for i in range(3):
        await w.add_failed(i, fail(i))
    (chunk,) = await w.close()
    assert (chunk.records, chunk.failed) == (0, 3)  # failed records rotate parts too
    assert store.exists_sync(chunk.path)
    await finish(store, [chunk])
    assert read_back(store, [chunk]) == []


async def test_files_are_published_before_on_publish_and_no_temp_file_is_visible(
    store: Store,
) -> None:
    rec_ = Recorder(store)
    w = writer(store, max_records=4, on_publish=rec_, batch_bytes=64)
    for i in range(12):
        await (w.add_failed(i, fail(i)) if i % 5 == 0 else w.add(i, rec(i)))
    await w.close()
    for chunk, listing in zip(rec_.chunks, rec_.listings, strict=True):
        name = layout.part_name(chunk.part, ".jsonl.zst")
        assert name in listing["chunks"]
        assert (name in listing["failed"]) == (chunk.failed > 0)
        # Nothing of a later part exists yet, and no temp name is lying around.
        assert all(layout.parse_part(n) is not None for n in listing["chunks"] + listing["failed"])
        assert max(layout.parse_part(n) or 0 for n in listing["chunks"]) == chunk.part


async def test_small_batches_keep_content_and_order(store: Store) -> None:
    w = writer(store, max_records=1000, batch_bytes=100)
    lines = [rec(i, size=i * 7) for i in range(300)]
    for i, line in enumerate(lines):
        await w.add(i, line)
    chunks = await w.close()
    assert chunks[0].raw_bytes == sum(map(len, lines))
    await finish(store, chunks)
    assert [r["body"]["i"] for r in read_back(store, chunks)] == list(range(300))


async def test_resume_numbering_with_next_part(store: Store) -> None:
    w = writer(store, max_records=2, next_part=7)
    for i in range(100, 105):
        await w.add(i, rec(i))
    chunks = await w.close()
    assert [c.part for c in chunks] == [7, 8, 9]
    assert chunks[0].path == f"runs/{RUN}/{ENDPOINT}/chunks/part-000007.jsonl.zst"
    assert w.next_part == 10


async def test_input_order_and_line_shape_are_enforced(store: Store) -> None:
    w = writer(store)
    await w.add(5, rec(5))
    with pytest.raises(ValueError):
        await w.add(5, rec(5))
    with pytest.raises(ValueError):
        await w.add_failed(4, fail(4))
    with pytest.raises(ValueError):
        await w.add(6, b'{"a":1}')  # no newline
    with pytest.raises(ValueError):
        await w.add(6, b'{"a":\n1}\n')  # two lines
    await w.add(6, rec(6))  # the writer is still fine
    assert [c.records for c in await w.close()] == [2]


async def test_flush_close_and_lifecycle(store: Store) -> None:
    w = writer(store, max_records=100)
    assert await w.flush() is None
    await w.add(0, rec(0))
    assert w.open_items == 1
    first = await w.flush()
    assert first is not None and first.records == 1 and w.open_items == 0
    await w.add(1, rec(1))
    chunks = await w.close()
    assert [c.part for c in chunks] == [1, 2]
    assert await w.close() == chunks
    with pytest.raises(ClosedError):
        await w.add(2, rec(2))


async def test_context_manager_closes_or_aborts(store: Store) -> None:
    async with writer(store, max_records=2) as w:
        for i in range(3):
            await w.add(i, rec(i))
    assert [c.records for c in w.published] == [2, 1]

    with pytest.raises(RuntimeError):
        async with writer(store, max_records=100, next_part=10) as w2:
            await w2.add(0, rec(0))
            raise RuntimeError("boom")
    assert w2.published == ()
    assert not any("part-000010" in f for f in all_files(store))


async def test_compression_and_hashing_run_off_the_event_loop_thread(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    real_compress = codec_module._Zstd.compress

    def spy(self: Any, data: bytes) -> bytes:
        threads.add(threading.get_ident())
        return real_compress(self, data)

    real_open = store.open_staging

    def spy_open(rel: str, **kwargs: Any) -> Staging:
        threads.add(threading.get_ident())
        return real_open(rel, **kwargs)

    monkeypatch.setattr(codec_module._Zstd, "compress", spy)
    monkeypatch.setattr(store, "open_staging", spy_open)
    w = writer(store, max_records=50, batch_bytes=200)
    for i in range(120):
        await w.add(i, rec(i))
    await w.close()
    assert threads and loop_thread not in threads


def noise(i: int) -> bytes:
    return orjson.dumps({"i": i, "noise": random.Random(i).randbytes(60_000).hex()})


class _FailingStaging:
    """Wraps a real staging and raises OSError on the n-th write or on commit."""

    def __init__(self, inner: Staging, fail_write_at: int | None, fail_commit: bool) -> None:
        self.inner = inner
        self.writes = 0
        self.fail_write_at = fail_write_at
        self.fail_commit = fail_commit

    @property
    def size(self) -> int:
        return self.inner.size

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes == self.fail_write_at:
            raise OSError(28, "No space left on device")
        self.inner.write(data)

    def sha256(self) -> str:
        return self.inner.sha256()

    def commit(self) -> None:
        if self.fail_commit:
            raise OSError(5, "Input/output error")
        self.inner.commit()

    def discard(self) -> None:
        self.inner.discard()


@pytest.mark.parametrize("mode", ["write", "commit"])
async def test_store_failure_mid_part_is_fatal_and_leaves_no_partial_file(
    store: Store, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    real_open = store.open_staging

    def failing_open(rel: str, **kwargs: Any) -> Staging:
        inner = real_open(rel, **kwargs)
        if "part-000002" not in rel:
            return inner
        return _FailingStaging(inner, 2 if mode == "write" else None, mode == "commit")

    monkeypatch.setattr(store, "open_staging", failing_open)
    rec_ = Recorder(store)
    w = writer(store, max_records=50, batch_bytes=100, on_publish=rec_)
    with pytest.raises(StoreError):
        for i in range(100):
            # Incompressible enough that zstd emits output before the part ends.
            await w.add(i, record_line(f"k{i}", ENDPOINT, "t", noise(i), False))

    assert [c.part for c in rec_.chunks] == [1]
    files = all_files(store)
    assert files == [f"runs/{RUN}/{ENDPOINT}/chunks/part-000001.jsonl.zst"], files
    with pytest.raises(ClosedError):
        await w.add(1000, rec(1000))
    with pytest.raises(ClosedError):
        await w.close()
    await w.abort()


async def test_on_publish_error_stops_the_writer_but_keeps_the_published_files(
    store: Store,
) -> None:
    async def boom(chunk: PublishedChunk) -> None:
        raise RuntimeError("database down")

    w = writer(store, max_records=2, on_publish=boom)
    await w.add(0, rec(0))
    with pytest.raises(RuntimeError, match="database down"):
        await w.add(1, rec(1))
    # Published but never promoted: resume's remove_parts_after drops it.
    assert all_files(store) == [f"runs/{RUN}/{ENDPOINT}/chunks/part-000001.jsonl.zst"]
    with pytest.raises(ClosedError):
        await w.flush()


async def test_cancelled_add_leaves_writer_unusable_and_abort_cleans_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    entered = threading.Event()
    real_open = store.open_staging

    class Slow(_FailingStaging):
        def commit(self) -> None:
            entered.set()
            release.wait(10)
            raise OSError(5, "slow disk gave up")

    monkeypatch.setattr(
        store, "open_staging", lambda rel, **kw: Slow(real_open(rel, **kw), None, False)
    )
    w = writer(store, max_records=2)
    await w.add(0, rec(0))
    task = asyncio.create_task(w.add(1, rec(1)))  # rotates: publishes part 1
    await asyncio.to_thread(entered.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ClosedError):
        await w.add(2, rec(2))
    release.set()
    await w.abort()  # waits for the thread, then drops the temp file
    assert all_files(store) == []


async def test_two_writers_of_different_endpoints_run_concurrently(store: Store) -> None:
    a = ChunkWriter(store, RUN, "character-basic", max_records=7, batch_bytes=100)
    b = ChunkWriter(store, RUN, "item-equipment", codec="gzip", max_records=5, batch_bytes=100)

    async def feed(w: ChunkWriter, n: int) -> list[PublishedChunk]:
        for i in range(n):
            await w.add(i, rec(i))
        return await w.close()

    ca, cb = await asyncio.gather(feed(a, 30), feed(b, 30))
    assert sum(c.records for c in ca) == sum(c.records for c in cb) == 30
    assert all(c.path.endswith(".jsonl.gz") and c.codec == "gzip" for c in cb)


async def test_timer_flush_racing_the_feeder_loses_nothing(store: Store) -> None:
    w = writer(store, max_records=37, batch_bytes=300)
    done = asyncio.Event()

    async def feeder() -> None:
        for i in range(400):
            await w.add(i, rec(i))
        done.set()

    async def timer() -> None:
        while not done.is_set():
            await w.flush()
            await asyncio.sleep(0.002)

    await asyncio.gather(feeder(), timer())
    chunks = await w.close()
    assert sum(c.records for c in chunks) == 400
    assert all(b.first_index == a.last_index + 1 for a, b in itertools.pairwise(chunks))
    await finish(store, chunks)
    assert [r["body"]["i"] for r in read_back(store, chunks)] == list(range(400))


async def test_provenance_is_put_at_the_front_of_every_line(local_store: Store) -> None:
    stamp = {"runId": RUN, "snapshotDate": "2026-11-26"}
    w = ChunkWriter(local_store, RUN, ENDPOINT, max_records=3, batch_bytes=64, provenance=stamp)
    for i in range(7):
        await (w.add_failed(i, fail(i)) if i == 4 else w.add(i, rec(i)))
    chunks = await w.close()
    await finish(local_store, chunks)
    records = list(read_run(RUN, ENDPOINT, store=local_store, verify=True))
    failed = list(read_failed(RUN, ENDPOINT, store=local_store))
    assert [r["key"] for r in records] == [f"ocid-{i}" for i in (0, 1, 2, 3, 5, 6)]
    assert [f["key"] for f in failed] == ["ocid-4"]
    for line in (*records, *failed):
        assert list(line)[:3] == ["runId", "snapshotDate", "key"]
        assert (line["runId"], line["snapshotDate"]) == (RUN, "2026-11-26")
    assert records[0]["body"] == orjson.loads(body(0))
    # Byte counts are those of the stamped lines as stored.
    head = len(orjson.dumps(stamp))  # `{…}` as `{…,`, in front of the line without its `{`
    expected = sum(head + len(rec(i)) - 1 for i in (0, 1, 2))
    assert chunks[0].raw_bytes == expected
    with pytest.raises(ValueError, match="non-empty JSON object"):
        await ChunkWriter(local_store, RUN, "ocid-lookup", provenance=stamp).add(0, b"{}\n")


async def test_a_line_given_as_pieces_is_stored_like_the_joined_line(local_store: Store) -> None:
    # record_pieces hands a large body over without copying it into a line first.
    stamp = {"runId": RUN, "snapshotDate": "2026-11-26"}
    joined = ChunkWriter(local_store, RUN, ENDPOINT, provenance=stamp, batch_bytes=64)
    pieces = ChunkWriter(local_store, RUN, "character-basic", provenance=stamp, batch_bytes=64)
    for i in range(5):
        args = (f"ocid-{i}", ENDPOINT, "2026-11-27T03:00:00Z", body(i, size=i * 300), i == 3)
        await joined.add(i, record_line(*args))
        await pieces.add(i, record_pieces(*args))
    a, b = await joined.close(), await pieces.close()
    assert [c.raw_bytes for c in a] == [c.raw_bytes for c in b]
    for endpoint in (ENDPOINT, "character-basic"):
        manifest = build_manifest(
            run_id=RUN,
            phase="ITEM_EQUIPMENT",
            endpoint=endpoint,
            upstream_run_id="up",
            snapshot_date="2026-11-26",
            started_at="2026-11-27T03:00:00Z",
            completed_at="2026-11-27T04:00:00Z",
            status="COMPLETED",
            chunks=a if endpoint == ENDPOINT else b,
        )
        await write_manifest(local_store, manifest, success=True)
    assert list(read_run(RUN, ENDPOINT, store=local_store)) == list(
        read_run(RUN, "character-basic", store=local_store)
    )


@pytest.mark.parametrize(
    "bad",
    [(), (b'{"a":', b"1}"), (b'{"a":\n', b"1}\n"), (b'{"a":', b"1}\n\n"), (b"{", "}\n")],
)
async def test_pieces_must_make_one_line(store: Store, bad: tuple[Any, ...]) -> None:
    w = writer(store)
    with pytest.raises(ValueError):
        await w.add(0, bad)
    await w.add(0, (b'{"a":', b"1", b"}\n"))  # the writer is still fine
    assert [c.records for c in await w.close()] == [1]
