"""POST /api/internal/loop/phase/{phase}."""

from __future__ import annotations

from fastapi import APIRouter

from maplecollect.api.deps import AirflowRunIdDep, LoopablePhaseDep, SupervisorDep, TriggerBodyDep
from maplecollect.api.errors import ApiError
from maplecollect.api.responses import answers
from maplecollect.contract.models import (
    AlreadyRunning,
    InvalidDateError,
    InvalidHeaderError,
    InvalidPhaseError,
    LoopAlreadyActive,
    LoopStarted,
)
from maplecollect.errors import SlotConflict

router = APIRouter(tags=["loops"])


@router.post(
    "/loop/phase/{phase}",
    status_code=202,
    response_model=LoopStarted,
    responses=answers(
        {
            400: (InvalidPhaseError, InvalidDateError, InvalidHeaderError),
            409: (LoopAlreadyActive, AlreadyRunning),
        },
        write=True,
    ),
)
async def start_loop(
    phase: LoopablePhaseDep,
    sup: SupervisorDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> LoopStarted:
    """Re-run a loopable phase back to back until stopped; it yields to the daily chain
    (docs/control-api.md, "Loops")."""
    try:
        loop = await sup.start_loop(
            phase,
            date=body.date if body else None,
            interval_seconds=body.interval_seconds if body else None,
            airflow_run_id=airflow_run_id,
        )
    except SlotConflict as exc:  # the phase's loop, or a one-shot run
        reply = LoopAlreadyActive if exc.loop_id is not None else AlreadyRunning
        raise ApiError(409, reply.of_row(exc)) from None
    return LoopStarted.of_row(loop)
