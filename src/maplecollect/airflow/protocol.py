"""The control API as seen by Airflow: requests to build, answers to map.

The routes are in docs/control-api.md, what the DAG makes of each answer in
docs/airflow.md.

Pure: no I/O. The hook sends the `Request`s built here and hands each `Reply` to
the matching `map_*` function, so the sync (worker) and async (triggerer) paths
share one definition of every route, header and response rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from maplecollect.airflow.errors import (
    ExtApiProtocolError,
    ExtApiRefused,
    ExtApiUnavailable,
    LoopActive,
    SlotBusy,
)
from maplecollect.ids import is_valid_id
from maplecollect.phases import Phase

HEADER_AIRFLOW_RUN_ID = "X-Airflow-Run-Id"
HEADER_UPSTREAM_RUN_ID = "X-Upstream-Run-Id"
LATEST = "latest"
AIRFLOW_RUN_ID_MAX = 250


@dataclass(frozen=True)
class Request:
    """One control-API call; `what` names it in errors (e.g. "trigger ITEM_EQUIPMENT").

    `retry`: transport errors and 5xx are retried by the hook (False for /health,
    whose sensor re-pokes instead and must see 503 DOWN as an answer).
    """

    method: str
    path: str
    what: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    retry: bool = True


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, the body as received, and its JSON (None if not JSON)."""

    status: int
    text: str

    @cached_property
    def body(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def get(self, name: str) -> Any:
        body = self.body
        return body.get(name) if isinstance(body, dict) else None


# -- typed results -------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    status: str
    api_version: int | None
    version: str | None
    database: str | None

    @property
    def up(self) -> bool:
        return self.status == "UP"


@dataclass(frozen=True)
class PhaseTriggered:
    """A phase run to wait on: started by us (202) or followed (409 ALREADY_RUNNING)."""

    phase: str
    run_id: str
    followed: bool
    upstream_run_id: str | None = None
    snapshot_date: str | None = None


@dataclass(frozen=True)
class DailyTriggered:
    chain_id: str
    followed: bool


@dataclass(frozen=True)
class LoopStarted:
    phase: str
    loop_id: str
    already_active: bool


@dataclass(frozen=True)
class StopRequested:
    """`requested` False: nothing was running (NOT_RUNNING / NOT_LOOPING), a success too."""

    phase: str
    requested: bool
    run_id: str | None = None
    loop_id: str | None = None


# -- request builders --------------------------------------------------------


def airflow_run_id(dag_id: str, run_id: str, task_id: str) -> str:
    """`<dag_id>/<run_id>/<task_id>` as printable ASCII, at most 250 characters."""
    raw = f"{dag_id}/{run_id}/{task_id}"
    clean = "".join(c if 32 <= ord(c) < 127 else "_" for c in raw)
    return clean[:AIRFLOW_RUN_ID_MAX]


def _post_headers(airflow_id: str) -> dict[str, str]:
    return {HEADER_AIRFLOW_RUN_ID: airflow_id}


def _body(date: str | None, interval_seconds: float | None = None) -> dict[str, Any] | None:
    body: dict[str, Any] = {}
    if date:
        body["date"] = date
    if interval_seconds is not None:
        body["intervalSeconds"] = interval_seconds
    return body or None


def health_request() -> Request:
    return Request("GET", "/health", "health check", retry=False)


def trigger_phase_request(
    phase: Phase, *, upstream_run_id: str | None, date: str | None, airflow_id: str
) -> Request:
    """A non-root phase ALWAYS carries X-Upstream-Run-Id (a run id, else `latest`)."""
    headers = _post_headers(airflow_id)
    if phase.upstream is not None:
        headers[HEADER_UPSTREAM_RUN_ID] = upstream_run_id or LATEST
    return Request(
        "POST", f"/api/internal/trigger/phase/{phase}", f"trigger {phase}", headers, _body(date)
    )


def trigger_daily_request(*, date: str | None, airflow_id: str) -> Request:
    return Request(
        "POST",
        "/api/internal/trigger/daily",
        "trigger daily chain",
        _post_headers(airflow_id),
        _body(date),
    )


def loop_phase_request(
    phase: Phase, *, date: str | None, interval_seconds: float | None, airflow_id: str
) -> Request:
    return Request(
        "POST",
        f"/api/internal/loop/phase/{phase}",
        f"loop {phase}",
        _post_headers(airflow_id),
        _body(date, interval_seconds),
    )


def stop_phase_request(phase: Phase, *, airflow_id: str) -> Request:
    return Request(
        "POST", f"/api/internal/stop/phase/{phase}", f"stop {phase}", _post_headers(airflow_id)
    )


def stop_loop_request(phase: Phase, *, airflow_id: str) -> Request:
    return Request(
        "POST",
        f"/api/internal/stop/loop/phase/{phase}",
        f"stop loop {phase}",
        _post_headers(airflow_id),
    )


def get_run_request(run_id: str) -> Request:
    return Request("GET", f"/api/internal/runs/{_checked_id(run_id)}", f"get run {run_id}")


def get_chain_request(chain_id: str) -> Request:
    return Request("GET", f"/api/internal/chains/{_checked_id(chain_id)}", f"get chain {chain_id}")


def run_status_request() -> Request:
    return Request("GET", "/api/internal/run-status", "get run-status")


def _checked_id(value: str) -> str:
    # Ids end up in URL paths; refuse anything that is not a service-made id.
    if not isinstance(value, str) or not is_valid_id(value):
        raise ExtApiProtocolError(f"not a valid run/chain id: {value!r}", what="id check")
    return value


# -- response mapping --------------------------------------------------------


def _refused(request: Request, reply: Reply) -> ExtApiRefused:
    return ExtApiRefused(request.what, reply.status, reply.text)


def _id_field(request: Request, reply: Reply, name: str) -> str:
    value = reply.get(name)
    if not isinstance(value, str) or not is_valid_id(value):
        raise ExtApiProtocolError(
            f"{request.what}: HTTP {reply.status} without a valid {name!r}: {reply.text[:500]}",
            what=request.what,
        )
    return value


def _opt_str(reply: Reply, name: str) -> str | None:
    value = reply.get(name)
    return value if isinstance(value, str) else None


def map_health(request: Request, reply: Reply) -> Health:
    """200 UP / 503 DOWN are both answers (the sensor waits on DOWN); 5xx is unavailable."""
    if reply.status in (200, 503) and isinstance(reply.body, dict):
        version = reply.get("apiVersion")
        return Health(
            status=str(reply.get("status") or ("UP" if reply.status == 200 else "DOWN")),
            api_version=version if isinstance(version, int) else None,
            version=_opt_str(reply, "version"),
            database=_opt_str(reply, "database"),
        )
    if reply.status >= 500:
        raise ExtApiUnavailable(request.what, 1, f"HTTP {reply.status}")
    raise _refused(request, reply)


def map_trigger_phase(phase: Phase, request: Request, reply: Reply) -> PhaseTriggered:
    if reply.status == 202:
        return PhaseTriggered(
            phase=phase.value,
            run_id=_id_field(request, reply, "runId"),
            followed=False,
            upstream_run_id=_opt_str(reply, "upstreamRunId"),
            snapshot_date=_opt_str(reply, "snapshotDate"),
        )
    if reply.status == 409 and reply.get("status") == "ALREADY_RUNNING":
        # The occupying run's id is in the body; the sensor follows it (docs/airflow.md).
        return PhaseTriggered(
            phase=phase.value, run_id=_id_field(request, reply, "runId"), followed=True
        )
    if reply.status == 409 and reply.get("status") == "LOOP_ACTIVE":
        raise LoopActive(request.what, reply.status, reply.text, _opt_str(reply, "loopId"))
    raise _refused(request, reply)


def map_trigger_daily(request: Request, reply: Reply) -> DailyTriggered:
    if reply.status == 202:
        return DailyTriggered(chain_id=_id_field(request, reply, "chainId"), followed=False)
    status = reply.get("status")
    if reply.status == 409 and status == "ALREADY_RUNNING":
        if reply.get("chainId"):
            # A daily chain is already on its way: wait on it rather than fail.
            return DailyTriggered(chain_id=_id_field(request, reply, "chainId"), followed=True)
        # No chainId: a one-shot run (`runId`) holds a phase; there is no chain to follow.
        raise SlotBusy(request.what, reply.status, reply.text, _opt_str(reply, "runId"))
    if reply.status == 409 and status == "LOOP_ACTIVE":
        raise LoopActive(request.what, reply.status, reply.text, _opt_str(reply, "loopId"))
    raise _refused(request, reply)


def map_loop_phase(phase: Phase, request: Request, reply: Reply) -> LoopStarted:
    if reply.status == 202:
        return LoopStarted(phase.value, _id_field(request, reply, "loopId"), already_active=False)
    if reply.status == 409 and reply.get("status") == "LOOP_ALREADY_ACTIVE":
        return LoopStarted(phase.value, _id_field(request, reply, "loopId"), already_active=True)
    raise _refused(request, reply)


def map_stop_phase(phase: Phase, request: Request, reply: Reply) -> StopRequested:
    if reply.status == 202:
        # runId may be null: a loop waiting between iterations holds no run.
        return StopRequested(
            phase.value,
            True,
            run_id=_opt_str(reply, "runId"),
            loop_id=_opt_str(reply, "loopId"),
        )
    if reply.status == 200 and reply.get("status") == "NOT_RUNNING":
        return StopRequested(phase.value, False, run_id=_opt_str(reply, "lastRunId"))
    raise _refused(request, reply)


def map_stop_loop(phase: Phase, request: Request, reply: Reply) -> StopRequested:
    if reply.status == 202:
        # runId: the loop's iteration run that was stopped (null between iterations).
        return StopRequested(
            phase.value,
            True,
            run_id=_opt_str(reply, "runId"),
            loop_id=_id_field(request, reply, "loopId"),
        )
    if reply.status == 200 and reply.get("status") == "NOT_LOOPING":
        return StopRequested(phase.value, False)
    raise _refused(request, reply)


def map_document(request: Request, reply: Reply) -> dict[str, Any]:
    """GET run / chain / run-status: 200 with a JSON object, anything else refused."""
    body = reply.body
    if reply.status == 200 and isinstance(body, dict):
        return body
    if reply.status == 200:
        raise ExtApiProtocolError(
            f"{request.what}: HTTP 200 without a JSON object: {reply.text[:500]}",
            what=request.what,
        )
    raise _refused(request, reply)
