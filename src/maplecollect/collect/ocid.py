"""OCID_LOOKUP: one `/id` call per distinct (world, name) of the upstream ranking.

The persistent cache (DB table) answers names looked up within the TTL with
no API call; every fresh lookup is written back in batches. Mappings are only
ever replaced, never deleted before a new one is known.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from maplecollect.artifacts.writer import ChunkWriter
from maplecollect.collect.inputs import NameKey, ranking_names
from maplecollect.collect.outcome import Entry, failed, ok
from maplecollect.collect.pipeline import ResumePoint, collect_ordered, write_all
from maplecollect.control.context import RunContext
from maplecollect.errors import RecordError
from maplecollect.nexon.bodies import ocid_of
from maplecollect.nexon.classify import BAD_BODY
from maplecollect.nexon.client import utc_iso
from maplecollect.state.models import OcidCacheRow
from maplecollect.state.repository import Repository

CACHE_BATCH = 500


def ocid_body(key: NameKey, ocid: str, source: str) -> bytes:
    return orjson.dumps(
        {
            "characterName": key.character_name,
            "worldName": key.world_name,
            "ocid": ocid,
            "source": source,
        }
    )


class CacheWriter:
    """Buffers fresh (name, world, ocid) mappings and upserts them in batches."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._rows: list[tuple[str, str | None, str]] = []
        self._lock = asyncio.Lock()

    async def add(self, name: str, world: str | None, ocid: str) -> None:
        self._rows.append((name, world, ocid))
        if len(self._rows) >= CACHE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._rows = self._rows, []
            if rows:
                await self.repo.cache_ocids(rows, now=datetime.now(UTC))


class OcidLookup:
    async def run(self, ctx: RunContext) -> None:
        endpoint = ctx.phase.endpoint
        keys = await ranking_names(ctx.services.store(), ctx.run.upstream_run_id)
        ctx.progress.set_total(len(keys))
        client = await ctx.services.nexon()
        settings = ctx.settings
        cached: dict[str, OcidCacheRow] = {}
        if settings.ocid_cache:
            cached = await ctx.repo.cached_ocids([k.character_name for k in keys])
        fresh_after = datetime.now(UTC) - timedelta(seconds=settings.ocid_cache_ttl_seconds)
        cache = CacheWriter(ctx.repo)
        breaker = ctx.breaker

        async def fetch(item: tuple[int, NameKey]) -> list[Entry]:
            index, key = item
            name = key.character_name
            hit = cached.get(name)
            if hit is not None and hit.fetched_at >= fresh_after:
                body = ocid_body(key, hit.ocid, "cache")
                return [ok(index, name, endpoint, utc_iso(hit.fetched_at), body)]
            try:
                res = await client.character_id(name, breaker=breaker)
                ocid = ocid_of(res.body)
            except RecordError as exc:
                return [failed(index, name, endpoint, exc)]
            except ValueError as exc:
                bad = RecordError(
                    f"unexpected /id body: {exc}",
                    status=200,
                    code=BAD_BODY,
                    endpoint=endpoint,
                    key=name,
                )
                return [failed(index, name, endpoint, bad)]
            await cache.add(name, key.world_name, ocid)
            return [ok(index, name, endpoint, res.fetched_at, ocid_body(key, ocid, "api"))]

        async def body(writer: ChunkWriter, resume: ResumePoint) -> None:
            items = ((i, k) for i, k in enumerate(keys) if i >= resume.next_index)
            await collect_ordered(ctx, writer, items, fetch, workers=settings.max_in_flight)

        try:
            await write_all(ctx, endpoint, body)
        finally:
            await cache.flush()
