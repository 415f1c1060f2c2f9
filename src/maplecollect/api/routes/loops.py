"""POST /api/internal/loop/phase/{phase}."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maplecollect.api.deps import AirflowRunIdDep, LoopablePhaseDep, SupervisorDep, TriggerBodyDep
from maplecollect.api.errors import ApiError
from maplecollect.errors import SlotConflict

router = APIRouter(tags=["loops"])


@router.post("/loop/phase/{phase}", status_code=202)
async def start_loop(
    phase: LoopablePhaseDep,
    sup: SupervisorDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> JSONResponse:
    try:
        loop = await sup.start_loop(
            phase,
            date=body.date if body else None,
            interval_seconds=body.interval_seconds if body else None,
            airflow_run_id=airflow_run_id,
        )
    except SlotConflict as exc:
        if exc.loop_id is not None:
            raise ApiError(
                409, {"status": "LOOP_ALREADY_ACTIVE", "phase": phase.value, "loopId": exc.loop_id}
            ) from None
        raise ApiError(
            409, {"status": "ALREADY_RUNNING", "phase": phase.value, "runId": exc.run_id}
        ) from None
    return JSONResponse(
        {
            "status": "LOOP_STARTED",
            "phase": loop.phase,
            "loopId": loop.loop_id,
            "iterationCount": loop.iteration_count,
            "snapshotDate": loop.snapshot_date,
            "intervalSeconds": loop.interval_seconds,
            "airflowRunId": loop.airflow_run_id,
        },
        status_code=202,
    )
