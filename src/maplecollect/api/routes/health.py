"""GET /health: open, cheap, says whether the database answers."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from maplecollect import API_VERSION, __version__
from maplecollect.api.deps import RepoDep
from maplecollect.contract.models import HealthPublic
from maplecollect.contract.statuses import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database does not answer"}},
)
async def health(repo: RepoDep, response: Response) -> HealthPublic:
    """200 UP, or 503 DOWN when the database does not answer (no token needed)."""
    db = Health.UP
    try:
        await repo.ping()
    except Exception as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        response.status_code = 503
        db = Health.DOWN
    return HealthPublic(status=db, version=__version__, api_version=API_VERSION, database=db)
