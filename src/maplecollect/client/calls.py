"""Every control-API call as data: the request to send and how its answer is read. Pure.

Both clients send these `Call`s, so every route, header and answer rule is defined
once (docs/control-api.md; the bodies are the models of `maplecollect.contract`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from maplecollect import contract as c
from maplecollect.client.errors import Conflict, ProtocolError, Refused, Unavailable
from maplecollect.ids import is_valid_id
from maplecollect.phases import Phase

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

HEADER_AIRFLOW_RUN_ID = "X-Airflow-Run-Id"
HEADER_UPSTREAM_RUN_ID = "X-Upstream-Run-Id"
LATEST = "latest"
TOKEN_HINT = "MAPLECOLLECT_API_TOKEN"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status and body text; `body` is its JSON (None if not JSON)."""

    status: int
    text: str

    @cached_property
    def body(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def obj(self) -> dict[str, Any]:
        body = self.body
        return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request; `read` turns its answer into a result or raises a ControlApiError.

    `retry`: transport errors and 5xx are retried by the client (False for /health,
    whose 503 DOWN is an answer a caller waits on).
    """

    method: str
    path: str
    what: str
    read: Callable[[Answer], T]
    headers: Mapping[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    retry: bool = True

    def retriable(self, answer: Answer) -> bool:
        return self.retry and answer.status >= 500

    @property
    def request(self) -> dict[str, Any]:
        """The keyword arguments of httpx's `request` besides method and path."""
        return {"headers": dict(self.headers), "json": self.json, "params": self.params}


# -- typed results of the POST verbs ---------------------------------------------


@dataclass(frozen=True)
class PhaseTriggered:
    """A run to wait on: started (202) or the one already holding the phase (409)."""

    phase: str
    run_id: str
    followed: bool
    upstream_run_id: str | None = None
    snapshot_date: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DailyTriggered:
    """The chain to wait on: started (202) or the running one (409 with `chainId`)."""

    chain_id: str
    followed: bool
    run_id: str | None = None
    snapshot_date: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class LoopStarted:
    phase: str
    loop_id: str
    already_active: bool
    snapshot_date: str | None = None
    interval_seconds: float | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class StopRequested:
    """`requested` False: nothing was running (NOT_RUNNING / NOT_LOOPING), a success too.

    `run_id`: the run asked to stop (None: a loop between iterations holds no run);
    `last_run_id`: with NOT_RUNNING, the phase's newest run.
    """

    phase: str
    requested: bool
    run_id: str | None = None
    loop_id: str | None = None
    last_run_id: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# -- reading answers ---------------------------------------------------------------


# The 409 bodies of the contract, by their `status` (the daily trigger's own below).
CONFLICTS: dict[str, type[BaseModel]] = {
    c.Reply.ALREADY_RUNNING: c.AlreadyRunning,
    c.Reply.LOOP_ACTIVE: c.LoopActive,
    c.Reply.LOOP_ALREADY_ACTIVE: c.LoopAlreadyActive,
    c.Reply.CHAIN_ACTIVE: c.ChainActiveReply,
}
DAILY_CONFLICTS: dict[str, type[BaseModel]] = {
    **CONFLICTS,
    c.Reply.ALREADY_RUNNING: c.DailyAlreadyRunning,
}


def refused(
    what: str, answer: Answer, conflicts: Mapping[str, type[BaseModel]] = CONFLICTS
) -> Refused:
    """The refusal for an answer no rule accepted: a typed Conflict for a contract 409."""
    if answer.status == 409:
        kind = conflicts.get(str(answer.obj.get("status")))
        if kind is not None:
            try:
                conflict = kind.model_validate(answer.obj)
            except ValidationError:
                pass
            else:
                return Conflict(what, answer.text, answer.obj, conflict)
    hint = f"pass the service's token, e.g. {TOKEN_HINT}" if answer.status == 401 else ""
    return Refused(what, answer.status, answer.text, answer.obj, hint=hint)


def model(kind: type[M], what: str, answer: Answer) -> M:
    return parsed(kind.model_validate, what, answer)


def parsed(parse: Callable[[Any], T], what: str, answer: Answer) -> T:
    """The answer's body as `kind`; a body that breaks the contract is a ProtocolError."""
    if answer.body is None:
        raise ProtocolError(
            f"{what}: HTTP {answer.status} without JSON; is this the maplecollect control API?",
            what=what,
            status=answer.status,
        )
    try:
        return parse(answer.body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProtocolError(
            f"{what}: HTTP {answer.status} not as the contract says ({where}: "
            f"{first['msg']}): {answer.text[:300]}",
            what=what,
            status=answer.status,
        ) from None


def document(parse: Callable[[Any], T], what: str) -> Callable[[Answer], T]:
    """GET reader: 200 with a body `parse` accepts, anything else refused."""

    def read(answer: Answer) -> T:
        if answer.status == 200:
            return parsed(parse, what, answer)
        raise refused(what, answer)

    return read


def checked_id(value: str, what: str = "id check") -> str:
    # Ids end up in URL paths; refuse anything that is not a service-made id.
    if not isinstance(value, str) or not is_valid_id(value):
        raise ProtocolError(f"not a valid run/chain id: {value!r}", what=what)
    return value


def _date_body(date: str | None, interval_seconds: float | None = None) -> dict[str, Any] | None:
    body: dict[str, Any] = {}
    if date:
        body["date"] = date
    if interval_seconds is not None:
        body["intervalSeconds"] = interval_seconds
    return body or None


def _post_headers(airflow_run_id: str | None) -> dict[str, str]:
    return {HEADER_AIRFLOW_RUN_ID: airflow_run_id} if airflow_run_id else {}


# -- the calls ---------------------------------------------------------------------


def health() -> Call[c.HealthPublic]:
    """200 UP and 503 DOWN are both answers (callers wait on DOWN)."""
    what = "health check"

    def read(answer: Answer) -> c.HealthPublic:
        if answer.status in (200, 503) and isinstance(answer.body, dict):
            return model(c.HealthPublic, what, answer)
        if answer.status >= 500:
            raise Unavailable(what, f"HTTP {answer.status}")
        raise refused(what, answer)

    return Call("GET", "/health", what, read, retry=False)


def trigger_phase(
    phase: Phase,
    *,
    upstream_run_id: str | None = None,
    date: str | None = None,
    airflow_run_id: str | None = None,
) -> Call[PhaseTriggered]:
    """A non-root phase ALWAYS carries X-Upstream-Run-Id (a run id, else `latest`).

    409 ALREADY_RUNNING is a result (`followed`): the caller follows that run or
    refuses; LOOP_ACTIVE / CHAIN_ACTIVE raise Conflict.
    """
    what = f"trigger {phase}"
    headers = _post_headers(airflow_run_id)
    if phase.upstream is not None:
        headers[HEADER_UPSTREAM_RUN_ID] = upstream_run_id or LATEST

    def read(answer: Answer) -> PhaseTriggered:
        if answer.status == 202:
            started = model(c.PhaseStarted, what, answer)
            return PhaseTriggered(
                phase.value,
                started.run_id,
                False,
                upstream_run_id=started.upstream_run_id,
                snapshot_date=started.snapshot_date,
                body=answer.obj,
            )
        error = refused(what, answer)
        if isinstance(error, Conflict) and isinstance(error.conflict, c.AlreadyRunning):
            return PhaseTriggered(phase.value, error.conflict.run_id, True, body=answer.obj)
        raise error

    path = f"/api/internal/trigger/phase/{phase}"
    return Call("POST", path, what, read, headers, _date_body(date))


def trigger_daily(
    *, date: str | None = None, airflow_run_id: str | None = None
) -> Call[DailyTriggered]:
    """202 starts the chain; 409 ALREADY_RUNNING with `chainId` follows the running
    chain; one without it (a one-shot run holds a phase) raises Conflict."""
    what = "trigger daily chain"

    def read(answer: Answer) -> DailyTriggered:
        if answer.status == 202:
            started = model(c.DailyStarted, what, answer)
            return DailyTriggered(
                started.chain_id,
                False,
                started.run_id,
                snapshot_date=started.snapshot_date,
                body=answer.obj,
            )
        error = refused(what, answer, DAILY_CONFLICTS)
        conflict = error.conflict if isinstance(error, Conflict) else None
        if isinstance(conflict, c.DailyAlreadyRunning) and conflict.chain_id is not None:
            return DailyTriggered(conflict.chain_id, True, conflict.run_id, body=answer.obj)
        raise error

    return Call(
        "POST",
        "/api/internal/trigger/daily",
        what,
        read,
        _post_headers(airflow_run_id),
        _date_body(date),
    )


def start_loop(
    phase: Phase,
    *,
    date: str | None = None,
    interval_seconds: float | None = None,
    airflow_run_id: str | None = None,
) -> Call[LoopStarted]:
    """202 LOOP_STARTED, or 409 LOOP_ALREADY_ACTIVE (`already_active`, a success)."""
    what = f"loop {phase}"

    def read(answer: Answer) -> LoopStarted:
        if answer.status == 202:
            started = model(c.LoopStarted, what, answer)
            return LoopStarted(
                phase.value,
                started.loop_id,
                False,
                snapshot_date=started.snapshot_date,
                interval_seconds=started.interval_seconds,
                body=answer.obj,
            )
        error = refused(what, answer)
        if isinstance(error, Conflict) and isinstance(error.conflict, c.LoopAlreadyActive):
            return LoopStarted(phase.value, error.conflict.loop_id, True, body=answer.obj)
        raise error

    return Call(
        "POST",
        f"/api/internal/loop/phase/{phase}",
        what,
        read,
        _post_headers(airflow_run_id),
        _date_body(date, interval_seconds),
    )


def _stop(
    phase: Phase,
    what: str,
    path: str,
    replies: tuple[type[c.StopRequested | c.LoopStopRequested], type[c.NotRunning | c.NotLooping]],
    airflow_run_id: str | None,
) -> Call[StopRequested]:
    def read(answer: Answer) -> StopRequested:
        if answer.status == 202:
            stop = model(replies[0], what, answer)
            return StopRequested(
                phase.value, True, run_id=stop.run_id, loop_id=stop.loop_id, body=answer.obj
            )
        if answer.status == 200:
            idle = model(replies[1], what, answer)
            last = idle.last_run_id if isinstance(idle, c.NotRunning) else None
            return StopRequested(phase.value, False, last_run_id=last, body=answer.obj)
        raise refused(what, answer)

    return Call("POST", path, what, read, _post_headers(airflow_run_id))


def stop_phase(phase: Phase, *, airflow_run_id: str | None = None) -> Call[StopRequested]:
    """202 STOP_REQUESTED (its loop too, if one runs), or 200 NOT_RUNNING."""
    replies = (c.StopRequested, c.NotRunning)
    return _stop(
        phase, f"stop {phase}", f"/api/internal/stop/phase/{phase}", replies, airflow_run_id
    )


def stop_loop(phase: Phase, *, airflow_run_id: str | None = None) -> Call[StopRequested]:
    """202 STOP_REQUESTED (runId: the iteration stopped, null between iterations),
    or 200 NOT_LOOPING."""
    path = f"/api/internal/stop/loop/phase/{phase}"
    replies = (c.LoopStopRequested, c.NotLooping)
    return _stop(phase, f"stop loop {phase}", path, replies, airflow_run_id)


def resume(run_id: str) -> Call[c.RunResumed]:
    what = f"resume run {run_id}"

    def read(answer: Answer) -> c.RunResumed:
        if answer.status == 202:
            return model(c.RunResumed, what, answer)
        raise refused(what, answer)

    return Call("POST", f"/api/internal/resume/run/{checked_id(run_id, what)}", what, read)


def _get(path: str, what: str, parse: Callable[[Any], T], **params: Any) -> Call[T]:
    return Call("GET", path, what, document(parse, what), params=params or None)


def run(run_id: str) -> Call[c.RunDetailPublic]:
    what = f"get run {run_id}"
    path = f"/api/internal/runs/{checked_id(run_id, what)}"
    return _get(path, what, c.RunDetailPublic.model_validate)


def chain(chain_id: str) -> Call[c.ChainPublic]:
    what = f"get chain {chain_id}"
    path = f"/api/internal/chains/{checked_id(chain_id, what)}"
    return _get(path, what, c.ChainPublic.model_validate)


def run_status() -> Call[c.RunStatusPublic]:
    return _get("/api/internal/run-status", "get run-status", c.RunStatusPublic.model_validate)


_RUN_LIST = TypeAdapter(list[c.RunPublic])


def runs(
    *, phase: str | None = None, status: str | None = None, limit: int = 50
) -> Call[list[c.RunPublic]]:
    given = {"phase": phase, "status": status}
    filters = {name: value for name, value in given.items() if value}
    return _get(
        "/api/internal/runs", "list runs", _RUN_LIST.validate_python, limit=limit, **filters
    )


def events(
    *, after: int = 0, limit: int = 100, wait_seconds: float = 0
) -> Call[c.EventsPagePublic]:
    """One page of outbox events after `after`; the service waits up to `wait_seconds`."""
    parse = c.EventsPagePublic.model_validate
    return _get(
        "/api/internal/events", "get events", parse, after=after, limit=limit, timeout=wait_seconds
    )
