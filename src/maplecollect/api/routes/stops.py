"""POST /api/internal/stop/phase/{phase} and /stop/loop/phase/{phase}."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maplecollect.api.deps import LoopablePhaseDep, PhaseDep, SupervisorDep

router = APIRouter(tags=["stop"])


@router.post("/stop/phase/{phase}")
async def stop_phase(phase: PhaseDep, sup: SupervisorDep) -> JSONResponse:
    result = await sup.stop_phase(phase)
    if not result.requested:
        return JSONResponse(
            {"status": "NOT_RUNNING", "phase": phase.value, "lastRunId": result.run_id}
        )
    body = {"status": "STOP_REQUESTED", "phase": phase.value, "runId": result.run_id}
    if result.loop_id is not None:
        body["loopId"] = result.loop_id
    return JSONResponse(body, status_code=202)


@router.post("/stop/loop/phase/{phase}")
async def stop_loop(phase: LoopablePhaseDep, sup: SupervisorDep) -> JSONResponse:
    loop = await sup.stop_loop(phase)
    if loop is None:
        return JSONResponse({"status": "NOT_LOOPING", "phase": phase.value})
    return JSONResponse(
        {
            "status": "STOP_REQUESTED",
            "phase": phase.value,
            "loopId": loop.loop_id,
            "runId": loop.current_run_id,
        },
        status_code=202,
    )
