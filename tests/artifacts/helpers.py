"""Small helpers shared by the artifact tests."""

from __future__ import annotations

import hashlib

import orjson

from maplecollect.artifacts import ChunkWriter, PublishedChunk, Store, failed_line, record_line

RUN = "20261127-030000-equip-abc123"
ENDPOINT = "item-equipment"
FETCHED = "2026-11-27T03:00:00Z"


def body(i: int, size: int = 50) -> bytes:
    return orjson.dumps({"date": "2026-11-26", "i": i, "pad": "x" * size})


def rec(i: int, size: int = 50) -> bytes:
    return record_line(f"ocid-{i}", ENDPOINT, FETCHED, body(i, size), empty=False)


def fail(i: int) -> bytes:
    return failed_line(f"ocid-{i}", ENDPOINT, FETCHED, 400, "OPENAPI00003", "invalid id", 1)


class Recorder:
    """on_publish callback that remembers each chunk and what the store showed then."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.chunks: list[PublishedChunk] = []
        self.listings: list[dict[str, list[str]]] = []

    async def __call__(self, chunk: PublishedChunk) -> None:
        base = f"runs/{chunk.run_id}/{chunk.endpoint}"
        self.listings.append(
            {
                "chunks": await self.store.list_names(f"{base}/chunks"),
                "failed": await self.store.list_names(f"{base}/failed"),
            }
        )
        self.chunks.append(chunk)


def writer(store: Store, **kw: object) -> ChunkWriter:
    kw.setdefault("max_records", 10)
    kw.setdefault("max_bytes", 1 << 20)
    return ChunkWriter(store, RUN, ENDPOINT, **kw)  # type: ignore[arg-type]


def sha256_of(store: Store, rel: str) -> str:
    return hashlib.sha256(store.cat(rel)).hexdigest()


def all_files(store: Store) -> list[str]:
    """Every file under the store root, store-relative, temp files included."""
    root = store.root.rstrip("/") + "/"
    if not store.fs.exists(store.root):
        return []
    return sorted(p[len(root) :] if p.startswith(root) else p for p in store.fs.find(store.root))
