from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from maplecollect.artifacts import Store, layout, open_store
from maplecollect.errors import StoreError

from .helpers import all_files


def test_open_store_local_forms(tmp_path: Path) -> None:
    plain = open_store(str(tmp_path / "a"))
    url = open_store(f"file://{tmp_path}/a")
    assert plain.is_local and url.is_local
    assert plain.root == url.root == str(tmp_path / "a")
    assert plain.url_for("runs/x") == f"{tmp_path}/a/runs/x"


def test_open_store_memory() -> None:
    store = open_store("memory://bucket/prefix")
    assert not store.is_local
    assert store.url_for("runs/x") == "memory:///bucket/prefix/runs/x"


def test_s3_without_s3fs_is_a_store_error() -> None:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed")
    with pytest.raises(StoreError, match="s3"):
        open_store("s3://bucket/prefix")


async def test_atomic_small_write_and_read(store: Store) -> None:
    await store.write_bytes("runs/r/e/manifest.json", b"{}")
    assert await store.read_bytes("runs/r/e/manifest.json") == b"{}"
    assert await store.exists("runs/r/e/manifest.json")
    assert await store.list_names("runs/r/e") == ["manifest.json"]
    assert await store.list_names("runs/nothing") == []


def test_staging_is_invisible_until_commit(store: Store) -> None:
    rel = "runs/r/e/chunks/part-000001.jsonl.zst"
    staging = store.open_staging(rel)
    staging.write(b"abc")
    staging.write(b"def")
    assert not store.exists_sync(rel)
    assert all(layout.parse_part(n) is None for n in store.listdir("runs/r/e/chunks"))
    staging.commit()
    assert store.cat(rel) == b"abcdef"
    assert staging.size == 6
    assert all_files(store) == [rel]


def test_discard_leaves_nothing(store: Store) -> None:
    staging = store.open_staging("runs/r/e/chunks/part-000001.jsonl.zst")
    staging.write(b"abc")
    staging.discard()
    assert all_files(store) == []
    assert not store.exists_sync("runs/r/e/chunks/part-000001.jsonl.zst")


def test_local_temp_name_is_hidden_and_published_file_is_world_readable(
    local_store: Store,
) -> None:
    rel = "runs/r/e/chunks/part-000001.jsonl.zst"
    staging = local_store.open_staging(rel)
    (name,) = local_store.listdir("runs/r/e/chunks")
    assert layout.is_temp_name(name) and name.startswith(".part-000001.jsonl.zst.")
    staging.commit()
    mode = os.stat(local_store.full_path(rel)).st_mode
    assert stat.S_IMODE(mode) == 0o644


def test_unwritable_store_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    store = open_store(str(tmp_path / "blocker" / "store"))
    with pytest.raises(StoreError):
        store.open_staging("runs/r/e/chunks/part-000001.jsonl.zst")
    with pytest.raises(StoreError):
        store.put_atomic("runs/r/e/manifest.json", b"{}")


def test_missing_file_raises_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.cat("runs/r/e/manifest.json")


async def test_remove_parts_after_drops_orphans_and_temp_files(store: Store) -> None:
    base = "runs/r/e"
    for sub in ("chunks", "failed"):
        for part in (1, 2, 3, 4):
            store.put_atomic(f"{base}/{sub}/part-{part:06d}.jsonl.zst", b"x")
    # What a crash in the middle of writing part 5 leaves behind locally.
    store.put_atomic(f"{base}/chunks/.part-000005.jsonl.zst.abc123.tmp", b"half")
    store.put_atomic(f"{base}/manifest.json", b"{}")

    removed = await store.remove_parts_after("r", "e", 2)

    assert sorted(removed) == sorted(
        [f"{base}/{s}/part-{p:06d}.jsonl.zst" for s in ("chunks", "failed") for p in (3, 4)]
        + [f"{base}/chunks/.part-000005.jsonl.zst.abc123.tmp"]
    )
    kept = ["part-000001.jsonl.zst", "part-000002.jsonl.zst"]
    assert await store.list_names(f"{base}/chunks") == kept
    assert await store.list_names(f"{base}/failed") == kept
    assert await store.exists(f"{base}/manifest.json")
    assert await store.remove_parts_after("r", "e", 2) == []
    assert await store.remove_parts_after("r", "other", 0) == []


async def test_delete_run_removes_only_that_run(store: Store) -> None:
    store.put_atomic("runs/old/e/chunks/part-000001.jsonl.zst", b"x")
    store.put_atomic("runs/old/e/manifest.json", b"{}")
    store.put_atomic("runs/new/e/manifest.json", b"{}")
    assert await store.list_runs() == ["new", "old"]
    assert await store.delete_run("old") is True
    assert await store.delete_run("old") is False
    assert await store.list_runs() == ["new"]
    assert all_files(store) == ["runs/new/e/manifest.json"]
