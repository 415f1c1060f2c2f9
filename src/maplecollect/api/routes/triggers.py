"""POST /api/internal/trigger/phase/{phase} and /trigger/daily."""

from __future__ import annotations

from fastapi import APIRouter

from maplecollect.api.deps import (
    AirflowRunIdDep,
    PhaseDep,
    SupervisorDep,
    TriggerBodyDep,
    UpstreamDep,
)
from maplecollect.api.errors import ApiError
from maplecollect.api.responses import answers
from maplecollect.contract.models import (
    AlreadyRunning,
    ChainActiveReply,
    DailyAlreadyRunning,
    DailyStarted,
    InvalidDateError,
    InvalidHeaderError,
    InvalidPhaseError,
    InvalidRequestError,
    InvalidRunIdError,
    LoopActive,
    MissingUpstreamError,
    PhaseStarted,
    TriggerBody,
    UpstreamEmptyError,
    UpstreamNotAllowedError,
    UpstreamNotCompletedError,
    UpstreamNotFoundError,
    UpstreamPhaseMismatchError,
)
from maplecollect.contract.statuses import ErrorCode
from maplecollect.errors import ChainActive, SlotConflict

router = APIRouter(tags=["triggers"])

# The 409s of a one-shot run (a trigger, a resume): who holds the phase.
SLOT_CONFLICTS = (AlreadyRunning, LoopActive, ChainActiveReply)


def slot_conflict(exc: SlotConflict) -> ApiError:
    """409 naming what holds the phase: the daily chain still to do it, a loop, or a run
    (docs/control-api.md "The daily chain has priority")."""
    if isinstance(exc, ChainActive):
        return ApiError(409, ChainActiveReply.of_row(exc, message=str(exc)))
    return ApiError(409, (LoopActive if exc.loop_id is not None else AlreadyRunning).of_row(exc))


def _no_interval(body: TriggerBody | None) -> None:
    if body is not None and body.interval_seconds is not None:
        raise ApiError(
            400,
            InvalidRequestError(
                error=ErrorCode.INVALID_REQUEST,
                message="intervalSeconds applies to loops only (POST /loop/phase/...)",
            ),
        )


@router.post(
    "/trigger/phase/{phase}",
    status_code=202,
    response_model=PhaseStarted,
    responses=answers(
        {
            400: (
                InvalidPhaseError,
                InvalidDateError,
                InvalidHeaderError,
                InvalidRunIdError,
                MissingUpstreamError,
                UpstreamNotAllowedError,
                UpstreamPhaseMismatchError,
            ),
            404: UpstreamNotFoundError,
            409: (*SLOT_CONFLICTS, UpstreamNotCompletedError, UpstreamEmptyError),
        },
        write=True,
    ),
)
async def trigger_phase(
    phase: PhaseDep,
    sup: SupervisorDep,
    upstream: UpstreamDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> PhaseStarted:
    """Start one run of `phase`; a non-root phase needs X-Upstream-Run-Id (a run id or
    `latest`). 409 says who holds the phase."""
    _no_interval(body)
    try:
        run = await sup.trigger_phase(
            phase,
            upstream=upstream,
            date=body.date if body else None,
            airflow_run_id=airflow_run_id,
        )
    except SlotConflict as exc:
        raise slot_conflict(exc) from None
    return PhaseStarted.of_row(run)


@router.post(
    "/trigger/daily",
    status_code=202,
    response_model=DailyStarted,
    responses=answers(
        {400: (InvalidDateError, InvalidHeaderError), 409: DailyAlreadyRunning}, write=True
    ),
)
async def trigger_daily(
    sup: SupervisorDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> DailyStarted:
    """Start the daily chain (RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT)."""
    _no_interval(body)
    try:
        chain_id, run = await sup.trigger_daily(
            date=body.date if body else None, airflow_run_id=airflow_run_id
        )
    except SlotConflict as exc:
        # Always ALREADY_RUNNING (loops never refuse the chain), from the conflict's ids.
        raise ApiError(409, DailyAlreadyRunning.of_row(exc)) from None
    return DailyStarted.of_row(run, chain_id=chain_id)
