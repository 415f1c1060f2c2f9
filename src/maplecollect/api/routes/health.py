"""GET /health: open, cheap, says whether the database answers."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maplecollect import API_VERSION, __version__
from maplecollect.api.deps import RepoDep

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/health")
async def health(repo: RepoDep) -> JSONResponse:
    body = {"status": "UP", "version": __version__, "apiVersion": API_VERSION, "database": "UP"}
    try:
        await repo.ping()
    except Exception as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        body.update(status="DOWN", database="DOWN")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
