"""Run state: /run-status, /runs, /runs/{runId}, /resume/run/{runId}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from maplecollect.api.deps import RepoDep, RunIdDep, SupervisorDep, phase_param
from maplecollect.api.errors import ApiError, error_body
from maplecollect.api.routes.triggers import slot_conflict
from maplecollect.contract.models import (
    LoopPublic,
    RunDetailPublic,
    RunPublic,
    RunStatusPublic,
)
from maplecollect.echo import echo
from maplecollect.errors import RunNotFound, SlotConflict
from maplecollect.phases import ORDER
from maplecollect.state.models import RunRow, RunStatus

router = APIRouter(tags=["runs"])


def _public(row: RunRow | None) -> RunPublic | None:
    return RunPublic.model_validate(row) if row is not None else None


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


@router.get("/run-status", response_model=RunStatusPublic)
async def run_status(repo: RepoDep) -> JSONResponse:
    snap = await repo.status_snapshot()
    slots = {p.value: _public(snap.active[p] or snap.newest[p]) for p in ORDER}
    last = {p.value: _public(snap.last_terminal[p]) for p in ORDER}
    active = [r for r in snap.active.values() if r is not None]
    current = max(active, key=lambda r: r.started_at, default=None)
    terminal = [r for r in snap.last_terminal.values() if r is not None]
    last_completed = max(terminal, key=lambda r: r.completed_at or r.updated_at, default=None)
    body = RunStatusPublic(
        slots=slots,
        last_completed_by_phase=last,
        current=_public(current),
        last_completed=_public(last_completed),
        loop_summaries={
            p.value: LoopPublic.model_validate(loop) if (loop := snap.newest_loop[p]) else None
            for p in ORDER
        },
    )
    return JSONResponse(_dump(body))


@router.get("/runs", response_model=list[RunPublic])
async def list_runs(
    repo: RepoDep,
    phase: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    parsed_phase = phase_param(phase) if phase is not None else None
    parsed_status = None
    if status is not None:
        try:
            parsed_status = RunStatus(status)
        except ValueError:
            raise ApiError(
                400,
                error_body(
                    "INVALID_STATUS",
                    f"unknown status {echo(status)!r}",
                    allowed=[s.value for s in RunStatus],
                ),
            ) from None
    rows = await repo.list_runs(phase=parsed_phase, status=parsed_status, limit=limit)
    return JSONResponse([_dump(RunPublic.model_validate(r)) for r in rows])


@router.get("/runs/{run_id}", response_model=RunDetailPublic)
async def get_run(run_id: RunIdDep, repo: RepoDep) -> JSONResponse:
    row = await repo.get_run(run_id)
    if row is None:
        raise RunNotFound(run_id)
    detail = RunDetailPublic.of(row, await repo.list_chunks(run_id))
    return JSONResponse(_dump(detail))


@router.post("/resume/run/{run_id}", status_code=202)
async def resume_run(run_id: RunIdDep, sup: SupervisorDep) -> JSONResponse:
    try:
        run = await sup.resume(run_id)
    except SlotConflict as exc:
        raise slot_conflict(exc) from None
    return JSONResponse(
        {
            "status": "RESUMED",
            "phase": run.phase,
            "runId": run.run_id,
            "upstreamRunId": run.upstream_run_id,
            "snapshotDate": run.snapshot_date,
            "resumeCount": run.resume_count,
            "recordsProcessed": run.records_processed,
        },
        status_code=202,
    )
