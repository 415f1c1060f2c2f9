"""GET /events: the outbox as a pull feed, with a bounded long-poll (docs/downstream.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from maplecollect.api.deps import RepoDep
from maplecollect.api.responses import answers
from maplecollect.contract.models import EventPublic, EventsPagePublic

router = APIRouter(tags=["events"])

# Long-polls end well inside common proxy and client timeouts (the CLI's is 30 s).
MAX_WAIT_SECONDS = 25.0


@router.get("/events", response_model=EventsPagePublic, responses=answers())
async def events(
    repo: RepoDep,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="return events with seq > after")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait_seconds: Annotated[
        float,
        Query(
            alias="timeout",
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="seconds to wait for a first event (long-poll)",
        ),
    ] = 0.0,
) -> EventsPagePublic:
    found = await repo.events.wait_after(after, limit, wait_seconds)
    return EventsPagePublic(
        events=[EventPublic.model_validate(e) for e in found],
        next_after=found[-1].seq if found else after,
    )
