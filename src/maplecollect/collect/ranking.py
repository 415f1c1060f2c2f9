"""RANKING_FETCH: both world types, pages fetched concurrently, one record per row.

Pages are taken in order (world type 0 then 1, page 1..max_pages) by several
workers at once; the first empty page of a world type ends it, and pages
beyond it that were already requested simply yield nothing. A row's input
index encodes (world type, page, row), so a resume can restart inside a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from maplecollect.artifacts.writer import ChunkWriter
from maplecollect.collect.outcome import Entry, failed, ok
from maplecollect.collect.pipeline import ResumePoint, collect_ordered, write_all
from maplecollect.control.context import RunContext
from maplecollect.dates import LATEST
from maplecollect.errors import RecordError
from maplecollect.nexon.bodies import ranking_rows
from maplecollect.nexon.classify import BAD_BODY

ROWS_PER_PAGE = 200
WORLD_TYPES = (0, 1)  # 0: normal worlds, 1: reboot worlds
# Enough pages in flight to hide latency; a ranking has only hundreds of pages.
PAGE_WORKERS = 32


@dataclass(frozen=True, slots=True)
class PageKey:
    world_type: int
    page: int
    base: int  # input index of the page's first row

    @property
    def label(self) -> str:
        return f"world_type={self.world_type}&page={self.page}"


class RankingFetch:
    """The root phase."""

    async def run(self, ctx: RunContext) -> None:
        client = await ctx.services.nexon()
        endpoint = ctx.phase.endpoint
        max_pages = ctx.settings.ranking_max_pages
        date = None if ctx.run.snapshot_date == LATEST else ctx.run.snapshot_date
        ends: dict[int, int] = {}  # world type -> its first empty page

        def pages(start: int) -> Iterator[PageKey]:
            for world_type in WORLD_TYPES:
                for page in range(1, max_pages + 1):
                    base = (world_type * max_pages + page - 1) * ROWS_PER_PAGE
                    if base + ROWS_PER_PAGE <= start:
                        continue  # published by an earlier attempt
                    if page > ends.get(world_type, max_pages + 1):
                        break
                    yield PageKey(world_type, page, base)

        async def body(writer: ChunkWriter, resume: ResumePoint) -> None:
            start = resume.next_index

            async def fetch(key: PageKey) -> list[Entry]:
                if key.page > ends.get(key.world_type, max_pages + 1):
                    return []
                try:
                    res = await client.ranking_overall(
                        date=date, world_type=key.world_type, page=key.page, breaker=ctx.breaker
                    )
                    rows = ranking_rows(res.body)
                except RecordError as exc:
                    return [failed(key.base, key.label, endpoint, exc)]
                except ValueError as exc:
                    bad = RecordError(
                        f"unexpected ranking page body: {exc}",
                        status=200,
                        code=BAD_BODY,
                        endpoint=endpoint,
                        key=key.label,
                    )
                    return [failed(key.base, key.label, endpoint, bad)]
                if not rows:
                    ends[key.world_type] = min(ends.get(key.world_type, key.page), key.page)
                    return []
                return [
                    ok(
                        key.base + i,
                        f"{key.world_type}/{row.ranking}",
                        endpoint,
                        res.fetched_at,
                        row.raw,
                    )
                    for i, row in enumerate(rows)
                    if key.base + i >= start
                ]

            await collect_ordered(ctx, writer, pages(start), fetch, workers=PAGE_WORKERS)

        await write_all(ctx, endpoint, body)
