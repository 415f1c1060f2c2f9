"""Run state: /run-status, /runs, /runs/{runId}, /resume/run/{runId}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from maplecollect.api.deps import RepoDep, RunIdDep, SupervisorDep, parse_phase
from maplecollect.api.errors import ApiError
from maplecollect.api.responses import answers
from maplecollect.api.routes.triggers import SLOT_CONFLICTS, slot_conflict
from maplecollect.contract.models import (
    InvalidPhaseError,
    InvalidRunIdError,
    InvalidStatusError,
    LoopPublic,
    NotResumableError,
    RunDetailPublic,
    RunNotFoundError,
    RunPublic,
    RunResumed,
    RunStatusPublic,
)
from maplecollect.contract.statuses import ErrorCode, RunStatus
from maplecollect.echo import echo
from maplecollect.errors import RunNotFound, SlotConflict
from maplecollect.phases import ORDER, Phase
from maplecollect.state.models import RunRow

router = APIRouter(tags=["runs"])


def _public(row: RunRow | None) -> RunPublic | None:
    return RunPublic.model_validate(row) if row is not None else None


@router.get("/run-status", response_model=RunStatusPublic, responses=answers())
async def run_status(repo: RepoDep) -> RunStatusPublic:
    """Each phase's slot, its last terminal run, and its newest loop."""
    snap = await repo.status_snapshot()
    active = [r for r in snap.active.values() if r is not None]
    terminal = [r for r in snap.last_terminal.values() if r is not None]
    return RunStatusPublic(
        slots={p: _public(snap.active[p] or snap.newest[p]) for p in ORDER},
        last_completed_by_phase={p: _public(snap.last_terminal[p]) for p in ORDER},
        current=_public(max(active, key=lambda r: r.started_at, default=None)),
        last_completed=_public(
            max(terminal, key=lambda r: r.completed_at or r.updated_at, default=None)
        ),
        loop_summaries={
            p: LoopPublic.model_validate(loop) if (loop := snap.newest_loop[p]) else None
            for p in ORDER
        },
    )


def _status(value: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        raise ApiError(
            400,
            InvalidStatusError(
                error=ErrorCode.INVALID_STATUS,
                message=f"unknown status {echo(value)!r}",
                allowed=list(RunStatus),
            ),
        ) from None


# Enums in the document; parsed here so that anything else is INVALID_PHASE/INVALID_STATUS.
_PHASE_QUERY = Query(json_schema_extra={"enum": [p.value for p in ORDER]})
_STATUS_QUERY = Query(json_schema_extra={"enum": [s.value for s in RunStatus]})


@router.get(
    "/runs",
    response_model=list[RunPublic],
    responses=answers({400: (InvalidPhaseError, InvalidStatusError)}),
)
async def list_runs(
    repo: RepoDep,
    phase: Annotated[str | None, _PHASE_QUERY] = None,
    status: Annotated[str | None, _STATUS_QUERY] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunPublic]:
    """Runs newest first, optionally of one phase and/or status."""
    parsed_phase: Phase | None = parse_phase(phase) if phase is not None else None
    parsed_status = _status(status) if status is not None else None
    rows = await repo.list_runs(phase=parsed_phase, status=parsed_status, limit=limit)
    return [RunPublic.model_validate(r) for r in rows]


@router.get(
    "/runs/{run_id}",
    response_model=RunDetailPublic,
    responses=answers({400: InvalidRunIdError, 404: RunNotFoundError}),
)
async def get_run(run_id: RunIdDep, repo: RepoDep) -> RunDetailPublic:
    """One run with its published chunks."""
    row = await repo.get_run(run_id)
    if row is None:
        raise RunNotFound(run_id)
    return RunDetailPublic.of(row, await repo.list_chunks(run_id))


@router.post(
    "/resume/run/{run_id}",
    status_code=202,
    response_model=RunResumed,
    responses=answers(
        {
            400: InvalidRunIdError,
            404: RunNotFoundError,
            409: (*SLOT_CONFLICTS, NotResumableError),
        },
        write=True,
    ),
)
async def resume_run(run_id: RunIdDep, sup: SupervisorDep) -> RunResumed:
    """Continue a FAILED, ABANDONED or INTERRUPTED run after its last chunk, same run id."""
    try:
        run = await sup.resume(run_id)
    except SlotConflict as exc:
        raise slot_conflict(exc) from None
    return RunResumed.of_row(run)
