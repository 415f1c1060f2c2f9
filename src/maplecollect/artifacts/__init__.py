"""Snapshot artifacts (docs/artifacts.md): record lines, chunk writer, manifest, store, reader.

store = open_store(settings.resolved_store_url)
async with ChunkWriter(store, run_id, endpoint, codec, max_records, max_bytes,
                       next_part=1, on_publish=promote) as writer:
    await writer.add(i, record_line(...))      # or add_failed(i, failed_line(...))
await write_manifest(store, build_manifest(...), success=True)
for record in read_run(run_id, endpoint, store=store): ...
"""

from maplecollect.artifacts.chunk import ChunkInfo, PublishedChunk
from maplecollect.artifacts.codec import GZIP, ZSTD, Codec, codec_for_path, get_codec
from maplecollect.artifacts.lines import failed_line, record_line
from maplecollect.artifacts.manifest import build_manifest, manifest_url, write_manifest
from maplecollect.artifacts.reader import read_failed, read_manifest, read_run
from maplecollect.artifacts.retention import StoredRun, list_stored_runs, purge_runs
from maplecollect.artifacts.store import Store, open_store
from maplecollect.artifacts.writer import ChunkWriter

__all__ = [
    "GZIP",
    "ZSTD",
    "ChunkInfo",
    "ChunkWriter",
    "Codec",
    "PublishedChunk",
    "Store",
    "StoredRun",
    "build_manifest",
    "codec_for_path",
    "failed_line",
    "get_codec",
    "list_stored_runs",
    "manifest_url",
    "open_store",
    "purge_runs",
    "read_failed",
    "read_manifest",
    "read_run",
    "record_line",
    "write_manifest",
]
