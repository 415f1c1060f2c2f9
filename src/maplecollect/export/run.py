"""Export a COMPLETED run (or a day's runs) to Parquet, in bounded memory.

The layout, the export manifest and the memory budget are in docs/downstream.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from maplecollect.artifacts.layout import check_id, endpoint_dir
from maplecollect.artifacts.reader import read_manifest
from maplecollect.artifacts.store import Store
from maplecollect.dates import KST, LATEST
from maplecollect.errors import MaplecollectError, StoreError
from maplecollect.export.tables import TABLES, Table
from maplecollect.phases import Phase
from maplecollect.state.models import RunRow, RunStatus

FORMAT_VERSION = 1
EXPORTS = "_exports"


class ExportError(MaplecollectError):
    """A run cannot be exported (not COMPLETED, no manifest, a corrupt chunk)."""


@dataclass(frozen=True)
class Limits:
    """DuckDB's budget: one core, and memory well under the 1 GB target (it spills past it)."""

    threads: int = 1
    memory_limit: str = "512MB"


def partition_date(run: RunRow) -> str:
    """The run's snapshot date; `latest` runs go under the KST day they completed."""
    if run.snapshot_date != LATEST:
        return run.snapshot_date
    at = run.completed_at or run.started_at
    return at.astimezone(KST).date().isoformat()


def table_path(table: str, snapshot_date: str, run_id: str) -> str:
    return f"{table}/snapshot_date={snapshot_date}/{check_id(run_id)}.parquet"


def _sha256_file(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@contextmanager
def _local_chunks(store: Store, run: RunRow, manifest: dict[str, Any]) -> Iterator[list[str]]:
    """Local paths of the run's record files, each checked against the manifest's sha256."""
    base = endpoint_dir(run.run_id, manifest["endpoint"])
    with tempfile.TemporaryDirectory(prefix="maplecollect-export-") as tmp:
        paths: list[str] = []
        for chunk in manifest["chunks"]:
            rel = f"{base}/{chunk['path']}"
            if store.is_local:
                path = store.full_path(rel)
            else:  # DuckDB reads local files: fetch one part at a time
                path = str(Path(tmp) / Path(chunk["path"]).name)
                store.fs.get_file(store.full_path(rel), path)
            if _sha256_file(path) != chunk["sha256"]:
                raise ExportError(f"{store.url_for(rel)} does not match its manifest sha256")
            paths.append(path)
        yield paths


def _connect(tmp: str, limits: Limits) -> Any:
    import duckdb

    return duckdb.connect(
        config={
            "threads": limits.threads,
            "memory_limit": limits.memory_limit,
            "preserve_insertion_order": False,  # lets COPY stream without buffering order
            "temp_directory": tmp,
        }
    )


def _copy(con: Any, select: str, out: str) -> None:
    target = out.replace("'", "''")
    con.execute(
        f"COPY ({select}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
    )


def _counts(con: Any, path: str, table: Table) -> tuple[int, int, int]:
    """(rows, characters, distinct (character, fetched_at) pairs) of a written file."""
    key = table.character_key
    src = path.replace("'", "''")
    row = con.execute(
        f"SELECT count(*), count(DISTINCT {key}), count(DISTINCT ({key}, fetched_at)) "
        f"FROM read_parquet('{src}')"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _dedupe(con: Any, path: str, out: str, key: str) -> None:
    """Keep each character's newest record: rows of older copies are dropped."""
    src = path.replace("'", "''")
    _copy(
        con,
        f"SELECT t.* FROM read_parquet('{src}') t JOIN ("
        f"SELECT {key} AS k, max(fetched_at) AS newest FROM read_parquet('{src}') GROUP BY 1"
        f") n ON t.{key} = n.k AND t.fetched_at = n.newest",
        out,
    )


def _publish(dest: Store, local: str, rel: str) -> None:
    """Move (local) or upload (object store) `local` to `rel`; it appears only when complete."""
    final = dest.full_path(rel)
    if dest.is_local:
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        staged = f"{final}.{os.getpid()}.tmp"
        shutil.move(local, staged)
        os.replace(staged, final)
        return
    try:
        dest.fs.put_file(local, final)
    except Exception as exc:
        raise StoreError(f"uploading {dest.url_for(rel)} failed: {type(exc).__name__}") from exc


def export_run(
    run: RunRow,
    *,
    store: Store,
    dest: Store,
    limits: Limits = Limits(),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Blocking. Export one COMPLETED run's table; returns the export manifest written.

    Raises ExportError (not COMPLETED, corrupt chunk) or StoreError.
    """
    if run.status != RunStatus.COMPLETED.value:
        raise ExportError(f"run {run.run_id} is {run.status}; only COMPLETED runs are exported")
    phase = Phase(run.phase)
    table = TABLES[phase]
    try:
        manifest = read_manifest(run.run_id, phase.endpoint, store=store)
    except StoreError as exc:
        raise ExportError(f"run {run.run_id} has no readable manifest: {exc}") from exc
    date = partition_date(run)
    rel = table_path(table.name, date, run.run_id)
    entry: dict[str, Any] = {"path": rel, "rows": 0, "characters": 0, "bytes": 0, "sha256": None}
    dropped = 0
    with (
        tempfile.TemporaryDirectory(prefix="maplecollect-export-") as tmp,
        _local_chunks(store, run, manifest) as files,
    ):
        if files:
            con = _connect(tmp, limits)
            try:
                out = str(Path(tmp) / "table.parquet")
                _copy(con, table.select(files, run.run_id), out)
                rows, characters, copies = _counts(con, out, table)
                if copies > characters:
                    deduped = str(Path(tmp) / "deduped.parquet")
                    _dedupe(con, out, deduped, table.character_key)
                    new_rows, characters, _ = _counts(con, deduped, table)
                    dropped, rows, out = rows - new_rows, new_rows, deduped
            finally:
                con.close()
            entry.update(
                rows=rows,
                characters=characters,
                bytes=os.path.getsize(out),
                sha256=_sha256_file(out),
            )
            _publish(dest, out, rel)
    export = {
        "formatVersion": FORMAT_VERSION,
        "runId": run.run_id,
        "phase": run.phase,
        "endpoint": phase.endpoint,
        "snapshotDate": date,
        "exportedAt": datetime.isoformat(clock().astimezone(UTC)).replace("+00:00", "Z"),
        "source": {
            "store": store.url,
            "records": manifest["records"],
            "failed": manifest["failed"],
            "parts": manifest["parts"],
        },
        "duplicateRowsDropped": dropped,
        "tables": {table.name: entry},
    }
    dest.put_atomic(
        f"{EXPORTS}/{check_id(run.run_id)}.json", orjson.dumps(export, option=orjson.OPT_INDENT_2)
    )
    return export
