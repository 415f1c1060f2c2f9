"""CHARACTER_BASIC and ITEM_EQUIPMENT: the raw body per ocid of the upstream OCID run.

An ocid answering OPENAPI00003 (the character was renamed or re-created and
the cached mapping is stale) is looked up again by name once; the fresh
mapping replaces the cached one.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from maplecollect.artifacts.writer import ChunkWriter
from maplecollect.collect.heap import frozen_heap
from maplecollect.collect.inputs import OcidKey, ocids
from maplecollect.collect.ocid import CacheWriter
from maplecollect.collect.outcome import Entry, failed, ok
from maplecollect.collect.pipeline import ResumePoint, collect_ordered, write_all
from maplecollect.control.context import RunContext
from maplecollect.dates import LATEST
from maplecollect.errors import RecordError
from maplecollect.nexon.bodies import ocid_of
from maplecollect.nexon.breaker import CircuitBreaker
from maplecollect.nexon.client import ApiResponse, NexonClient
from maplecollect.phases import Phase

INVALID_IDENTIFIER = "OPENAPI00003"
Call = Callable[[str, str | None], Awaitable[ApiResponse]]


def _endpoint_call(client: NexonClient, phase: Phase, breaker: CircuitBreaker) -> Call:
    if phase is Phase.CHARACTER_BASIC:
        endpoint = client.character_basic
    elif phase is Phase.ITEM_EQUIPMENT:
        endpoint = client.item_equipment
    else:
        raise ValueError(f"{phase} is not a character phase")
    # A partial, not a wrapper coroutine: no extra frame per request.
    return functools.partial(endpoint, breaker=breaker)


class CharacterPhase:
    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    async def run(self, ctx: RunContext) -> None:
        endpoint = ctx.phase.endpoint
        keys = await ocids(ctx.services.store(), ctx.run.upstream_run_id)
        ctx.progress.set_total(len(keys))
        client = await ctx.services.nexon()
        breaker = ctx.breaker
        call = _endpoint_call(client, self.phase, breaker)
        date = None if ctx.run.snapshot_date == LATEST else ctx.run.snapshot_date
        cache = CacheWriter(ctx.repo)

        async def relookup(key: OcidKey) -> ApiResponse | None:
            """The ocid went stale: ask /id for the name once, then fetch the new ocid."""
            try:
                res = await client.character_id(key.character_name, breaker=breaker)
                fresh = ocid_of(res.body)
            except (RecordError, ValueError):
                return None
            if fresh == key.ocid:
                return None
            await cache.add(key.character_name, key.world_name, fresh)
            return await call(fresh, date)

        async def fetch(item: tuple[int, OcidKey]) -> list[Entry]:
            index, key = item
            try:
                res = await call(key.ocid, date)
                return [ok(index, key.ocid, endpoint, res.fetched_at, res.body, empty=res.empty)]
            except RecordError as exc:
                if exc.code != INVALID_IDENTIFIER:
                    return [failed(index, key.ocid, endpoint, exc)]
                first_error = exc
            try:
                retried = await relookup(key)
            except RecordError as exc:
                return [failed(index, key.ocid, endpoint, exc)]
            if retried is None:
                return [failed(index, key.ocid, endpoint, first_error)]
            return [
                ok(index, key.ocid, endpoint, retried.fetched_at, retried.body, empty=retried.empty)
            ]

        async def body(writer: ChunkWriter, resume: ResumePoint) -> None:
            items = ((i, k) for i, k in enumerate(keys) if i >= resume.next_index)
            await collect_ordered(ctx, writer, items, fetch, workers=ctx.settings.max_in_flight)

        try:
            with frozen_heap():
                await write_all(ctx, endpoint, body)
        finally:
            await cache.flush()
