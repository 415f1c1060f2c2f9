"""The files are plain JSONL.zst / JSONL.gz that DuckDB reads with a glob (docs/artifacts.md)."""

from __future__ import annotations

import duckdb
import pytest

from maplecollect.artifacts import ChunkWriter, Store, record_line

from .helpers import body


async def write(store: Store, run_id: str, n: int, codec: str) -> None:
    w = ChunkWriter(store, run_id, "item-equipment", codec=codec, max_records=7)
    for i in range(n):
        await w.add(i, record_line(f"{run_id}-{i}", "item-equipment", "t", body(i), i % 4 == 0))
    await w.close()


@pytest.mark.parametrize(("codec", "ext"), [("zstd", "zst"), ("gzip", "gz")])
async def test_duckdb_reads_every_run_with_one_glob(
    local_store: Store, codec: str, ext: str
) -> None:
    await write(local_store, "run-a", 20, codec)
    await write(local_store, "run-b", 9, codec)
    # A crashed attempt's temp file must not be picked up by the glob.
    staging = local_store.open_staging("runs/run-b/item-equipment/chunks/part-000099.jsonl.zst")
    staging.write(b"garbage")
    try:
        check(local_store, ext)
    finally:
        staging.discard()


def check(local_store: Store, ext: str) -> None:
    glob = f"{local_store.root}/runs/*/item-equipment/chunks/*.jsonl.{ext}"
    assert duckdb.sql(f"select count(*) from read_json('{glob}')").fetchall() == [(29,)]
    rows = duckdb.sql(
        f"select key, empty, body.i from read_json('{glob}', format='newline_delimited')"
        " where key = 'run-b-8'"
    ).fetchall()
    assert rows == [("run-b-8", True, 8)]
