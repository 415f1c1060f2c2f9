"""Snapshot artifacts (docs/artifacts.md): record lines, chunk writer, manifest, store, reader.

store = open_store(settings.resolved_store_url)
async with ChunkWriter(store, run_id, endpoint, codec, max_records, max_bytes,
                       next_part=1, on_publish=promote) as writer:
    await writer.add(i, record_line(...))      # or add_failed(i, failed_line(...))
await write_manifest(store, build_manifest(...), success=True)
for record in read_run(run_id, endpoint, store=store): ...
"""

# The names below load on first use (PEP 562), so `from maplecollect.artifacts import layout`
# (the status page, at service start) does not pay for fsspec, the writer and the reader;
# see docs/performance.md ("Start-up").
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maplecollect.artifacts.chunk import PublishedChunk
    from maplecollect.artifacts.lines import failed_line, record_line
    from maplecollect.artifacts.manifest import build_manifest, write_manifest
    from maplecollect.artifacts.reader import read_failed, read_manifest, read_run
    from maplecollect.artifacts.retention import list_stored_runs, purge_runs
    from maplecollect.artifacts.store import Store, open_store
    from maplecollect.artifacts.writer import ChunkWriter

_WHERE = {
    "PublishedChunk": "chunk",
    "failed_line": "lines",
    "record_line": "lines",
    "build_manifest": "manifest",
    "write_manifest": "manifest",
    "read_failed": "reader",
    "read_manifest": "reader",
    "read_run": "reader",
    "list_stored_runs": "retention",
    "purge_runs": "retention",
    "Store": "store",
    "open_store": "store",
    "ChunkWriter": "writer",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ChunkWriter",
    "PublishedChunk",
    "Store",
    "build_manifest",
    "failed_line",
    "list_stored_runs",
    "open_store",
    "purge_runs",
    "read_failed",
    "read_manifest",
    "read_run",
    "record_line",
    "write_manifest",
]
