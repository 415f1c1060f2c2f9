"""POST /api/internal/trigger/phase/{phase} and /trigger/daily."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maplecollect.api.deps import (
    AirflowRunIdDep,
    PhaseDep,
    SupervisorDep,
    TriggerBodyDep,
    UpstreamDep,
)
from maplecollect.api.errors import ApiError, error_body
from maplecollect.contract.models import TriggerBody
from maplecollect.errors import ChainActive, SlotConflict

router = APIRouter(tags=["triggers"])


def slot_conflict(exc: SlotConflict) -> ApiError:
    """409 naming what holds the phase (docs/control-api.md "Slots are rows").

    CHAIN_ACTIVE: the running daily chain has not done this phase yet (nothing to
    follow: wait for the chain). LOOP_ACTIVE: a loop holds it. ALREADY_RUNNING:
    `runId` holds it; `chainId` is the chain that run belongs to, or null.
    """
    if isinstance(exc, ChainActive):
        return ApiError(
            409,
            {
                "status": "CHAIN_ACTIVE",
                "phase": exc.phase,
                "chainId": exc.chain_id,
                "message": str(exc),
            },
        )
    if exc.loop_id is not None:
        return ApiError(409, {"status": "LOOP_ACTIVE", "phase": exc.phase, "loopId": exc.loop_id})
    return ApiError(
        409,
        {
            "status": "ALREADY_RUNNING",
            "phase": exc.phase,
            "runId": exc.run_id,
            "chainId": exc.chain_id,
        },
    )


def daily_conflict(exc: SlotConflict) -> ApiError:
    """409 of /trigger/daily: always ALREADY_RUNNING (loops never refuse the chain).

    `chainId`: the running chain (follow it with GET /chains/{chainId}), or null
    when a one-shot run is in the way. `runId`/`phase`: the run holding a slot -
    the chain's current run (null between two of its phases) or the one-shot run.
    """
    return ApiError(
        409,
        {
            "status": "ALREADY_RUNNING",
            "phase": exc.phase,
            "runId": exc.run_id,
            "chainId": exc.chain_id,
        },
    )


def _no_interval(body: TriggerBody | None) -> None:
    if body is not None and body.interval_seconds is not None:
        raise ApiError(
            400,
            error_body(
                "INVALID_REQUEST", "intervalSeconds applies to loops only (POST /loop/phase/...)"
            ),
        )


@router.post("/trigger/phase/{phase}", status_code=202)
async def trigger_phase(
    phase: PhaseDep,
    sup: SupervisorDep,
    upstream: UpstreamDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> JSONResponse:
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
    content: dict[str, Any] = {
        "status": "STARTED",
        "phase": run.phase,
        "runId": run.run_id,
        "upstreamRunId": run.upstream_run_id,
        "snapshotDate": run.snapshot_date,
        "airflowRunId": run.airflow_run_id,
    }
    return JSONResponse(content, status_code=202)


@router.post("/trigger/daily", status_code=202)
async def trigger_daily(
    sup: SupervisorDep,
    airflow_run_id: AirflowRunIdDep,
    body: TriggerBodyDep = None,
) -> JSONResponse:
    _no_interval(body)
    try:
        chain_id, run = await sup.trigger_daily(
            date=body.date if body else None, airflow_run_id=airflow_run_id
        )
    except SlotConflict as exc:
        raise daily_conflict(exc) from None
    content = {
        "status": "STARTED",
        "chainId": chain_id,
        "phase": run.phase,
        "runId": run.run_id,
        "snapshotDate": run.snapshot_date,
        "airflowRunId": run.airflow_run_id,
    }
    return JSONResponse(content, status_code=202)
