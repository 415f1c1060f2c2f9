"""POST /api/internal/stop/phase/{phase} and /stop/loop/phase/{phase}."""

from __future__ import annotations

from fastapi import APIRouter, Response

from maplecollect.api.deps import LoopablePhaseDep, PhaseDep, SupervisorDep
from maplecollect.api.responses import answers
from maplecollect.contract.models import (
    InvalidPhaseError,
    LoopStopRequested,
    NotLooping,
    NotRunning,
    StopRequested,
)

router = APIRouter(tags=["stop"])

# 202 when a stop was requested, 200 when there was nothing to stop: two models for
# two codes, so each is declared under its code in `responses` (no single
# `response_model`); the route returns the contract model, serialised by FastAPI.


@router.post(
    "/stop/phase/{phase}",
    status_code=202,
    response_model=None,
    responses=answers({202: StopRequested, 200: NotRunning, 400: InvalidPhaseError}, write=True),
)
async def stop_phase(
    phase: PhaseDep, sup: SupervisorDep, response: Response
) -> StopRequested | NotRunning:
    """Stop the phase's run (and its loop) at the next batch boundary."""
    result = await sup.stop_phase(phase)
    if not result.requested:
        response.status_code = 200
        return NotRunning(phase=phase, last_run_id=result.run_id)
    return StopRequested(phase=phase, run_id=result.run_id, loop_id=result.loop_id)


@router.post(
    "/stop/loop/phase/{phase}",
    status_code=202,
    response_model=None,
    responses=answers(
        {202: LoopStopRequested, 200: NotLooping, 400: InvalidPhaseError}, write=True
    ),
)
async def stop_loop(
    phase: LoopablePhaseDep, sup: SupervisorDep, response: Response
) -> LoopStopRequested | NotLooping:
    """Stop the phase's loop; its running iteration ends STOPPED."""
    loop = await sup.stop_loop(phase)
    if loop is None:
        response.status_code = 200
        return NotLooping(phase=phase)
    return LoopStopRequested(phase=phase, loop_id=loop.loop_id, run_id=loop.current_run_id)
