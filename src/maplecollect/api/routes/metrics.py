"""GET /metrics: Prometheus text format (behind the token unless MAPLECOLLECT_METRICS_PUBLIC=1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from maplecollect.api.auth import require_metrics_access
from maplecollect.api.deps import RepoDep, SettingsDep
from maplecollect.api.responses import answers
from maplecollect.metrics import ACTIVE_LOOPS, ACTIVE_RUNS
from maplecollect.phases import ORDER
from maplecollect.state.models import LoopStatus
from maplecollect.statuspage.overview import update_gauges

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_metrics_access)],
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        },
        **answers(),
    },
)
async def metrics(repo: RepoDep, settings: SettingsDep) -> Response:
    snap = await repo.status_snapshot()
    for phase in ORDER:
        ACTIVE_RUNS.labels(phase.value).set(1 if snap.active[phase] else 0)
        loop = snap.newest_loop[phase]
        running = loop is not None and loop.status != LoopStatus.STOPPED.value
        ACTIVE_LOOPS.labels(phase.value).set(1 if running else 0)
    await update_gauges(repo, settings)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
