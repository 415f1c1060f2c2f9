"""Request and response bodies of the control API (docs/control-api.md), pydantic only.

camelCase JSON on the wire; the server answers with these models (so `/openapi.json`
is generated from them) and clients parse with them, ignoring unknown keys. Public
models are built from state rows by attribute, so this module never imports SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from maplecollect.contract.statuses import ChainStatus, ErrorCode, Health, LoopStatus, RunStatus
from maplecollect.phases import ORDER, Phase


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python; rows read by attribute."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )

    def wire(self, **kwargs: Any) -> dict[str, Any]:
        """The JSON object as sent (aliases, JSON types)."""
        return self.model_dump(mode="json", by_alias=True, **kwargs)

    @classmethod
    def of_row(cls, row: Any, **values: Any) -> Self:
        """The required fields from `row`'s attributes, then `values`; a field with a
        default (an answer's own `status`) keeps it unless given."""
        fields = cls.model_fields.items()
        found = {n: getattr(row, n) for n, f in fields if f.is_required() and n not in values}
        return cls.model_validate({**found, **values})


# -- state as the API shows it --------------------------------------------------


class PausePublic(Model):
    """Why a run waits: `code` OPENAPI00009/00010/00011, `reason` e.g. "data not ready",
    since when, and `until` the next try (docs/control-api.md, "Pauses")."""

    code: str
    reason: str
    since: datetime
    until: datetime | None


def _pause(row: Any, status: RunStatus) -> PausePublic | None:
    # A terminal run waits for nothing, whatever a dead owner left on its row.
    if row.pause_code is None or row.pause_since is None or status.terminal:
        return None
    return PausePublic(
        code=row.pause_code,
        reason=row.pause_reason or "",
        since=row.pause_since,
        until=row.pause_until,
    )


class RunPublic(Model):
    """One run (`GET /runs/{runId}` without chunks, `/runs`, `run-status`, chains)."""

    run_id: str
    phase: Phase
    status: RunStatus
    terminal: bool
    upstream_run_id: str | None
    chain_id: str | None
    loop_id: str | None
    airflow_run_id: str | None
    snapshot_date: str
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    heartbeat_at: datetime
    total_keys: int | None
    records_processed: int
    records_failed: int
    chunks_processed: int
    rate_per_second: float | None
    eta_seconds: float | None
    error_message: str | None
    manifest_path: str | None
    resume_count: int
    failures_by_code: dict[str, int] = Field(
        default_factory=dict, description="failed records by error code (docs/collection.md)"
    )
    pause: PausePublic | None = None

    @model_validator(mode="before")
    @classmethod
    def _derived_from_row(cls, data: Any) -> Any:
        """A row carries the columns; `terminal`, `pause` and `failuresByCode` derive from it."""
        if isinstance(data, Mapping):
            return data
        status = RunStatus(data.status)
        values = {name: getattr(data, name) for name in _RUN_COLUMNS}
        values.update(
            terminal=status.terminal,
            failures_by_code=data.failures_by_code or {},
            pause=_pause(data, status),
        )
        return values


_RUN_COLUMNS = tuple(
    name for name in RunPublic.model_fields if name not in {"terminal", "failures_by_code", "pause"}
)


class ChunkPublic(Model):
    """A published part of a run: its records file and, with failures, its failed file."""

    endpoint: str
    part: int
    first_index: int
    last_index: int
    records: int
    failed: int
    path: str
    failed_path: str | None
    sha256: str


class RunDetailPublic(RunPublic):
    """`GET /runs/{runId}`: the run and its published chunks."""

    chunks: list[ChunkPublic] = Field(default_factory=list)

    @classmethod
    def of(cls, run: Any, chunks: list[Any]) -> RunDetailPublic:
        found = [ChunkPublic.model_validate(c) for c in chunks]
        return cls.model_validate(run).model_copy(update={"chunks": found})


class LoopPublic(Model):
    loop_id: str
    phase: Phase
    status: LoopStatus
    snapshot_date: str
    interval_seconds: float
    iteration_count: int
    current_run_id: str | None
    last_run_id: str | None
    last_error: str | None
    consecutive_failures: int
    airflow_run_id: str | None
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None


class ChainPublic(Model):
    """`GET /chains/{chainId}`: the daily chain and the newest run of each of its phases."""

    chain_id: str
    status: ChainStatus
    snapshot_date: str
    airflow_run_id: str | None
    started_at: datetime
    completed_at: datetime | None
    error_message: str | None
    runs: dict[Phase, RunPublic]

    @classmethod
    def of(cls, chain: Any, runs: list[Any]) -> ChainPublic:
        """`runs` newest first (as the repository lists them): the newest of each phase wins."""
        newest = {run.phase: run for run in reversed(runs)}
        found = {p: RunPublic.model_validate(newest[p]) for p in ORDER if p in newest}
        return cls.of_row(chain, runs=found)


class RunStatusPublic(Model):
    """`GET /run-status` (docs/control-api.md, "Status"): all four phase keys always present."""

    slots: dict[Phase, RunPublic | None]
    last_completed_by_phase: dict[Phase, RunPublic | None]
    current: RunPublic | None
    last_completed: RunPublic | None
    loop_summaries: dict[Phase, LoopPublic | None]


class EventPublic(Model):
    """One outbox event (docs/downstream.md): `value` is the broker message body."""

    seq: int
    event_id: str
    event_type: str
    topic: str
    key: str
    value: dict[str, Any]


class EventsPagePublic(Model):
    """`GET /events`: ask again with `after=nextAfter` to continue."""

    events: list[EventPublic]
    next_after: int


class HealthPublic(Model):
    """`GET /health`: 200 UP, or 503 DOWN when the database does not answer."""

    status: Health
    version: str
    api_version: int
    database: Health


# -- requests -------------------------------------------------------------------


class TriggerBody(Model):
    """Optional JSON body of trigger and loop requests."""

    model_config = ConfigDict(validate_by_name=False, extra="forbid")

    date: str | None = Field(default=None, description="YYYY-MM-DD (KST) or 'latest'")
    interval_seconds: float | None = Field(
        default=None, ge=0, le=86400, description="loops only: pause between iterations"
    )


# -- answers of the write routes ----------------------------------------------------


class PhaseStarted(Model):
    """202 of `POST /trigger/phase/{phase}`: the slot is taken, the run visible."""

    status: Literal["STARTED"] = "STARTED"
    phase: Phase
    run_id: str
    upstream_run_id: str | None
    snapshot_date: str
    airflow_run_id: str | None


class DailyStarted(Model):
    """202 of `POST /trigger/daily`: the chain and its first run."""

    status: Literal["STARTED"] = "STARTED"
    chain_id: str
    phase: Phase
    run_id: str
    snapshot_date: str
    airflow_run_id: str | None


class RunResumed(Model):
    """202 of `POST /resume/run/{runId}`: the same run id, continued after its last chunk."""

    status: Literal["RESUMED"] = "RESUMED"
    phase: Phase
    run_id: str
    upstream_run_id: str | None
    snapshot_date: str
    resume_count: int
    records_processed: int


class LoopStarted(Model):
    """202 of `POST /loop/phase/{phase}`."""

    status: Literal["LOOP_STARTED"] = "LOOP_STARTED"
    phase: Phase
    loop_id: str
    iteration_count: int
    snapshot_date: str
    interval_seconds: float
    airflow_run_id: str | None


class StopRequested(Model):
    """202 of `POST /stop/phase/{phase}`: the run ends STOPPED at its next batch boundary.

    `runId` is null when a loop holds the phase between two iterations; `loopId`
    is present only when the stop also stopped the phase's loop.
    """

    status: Literal["STOP_REQUESTED"] = "STOP_REQUESTED"
    phase: Phase
    run_id: str | None
    loop_id: str | None = Field(default=None, exclude_if=lambda value: value is None)


class LoopStopRequested(Model):
    """202 of `POST /stop/loop/phase/{phase}`: `runId` the loop's iteration, null between two."""

    status: Literal["STOP_REQUESTED"] = "STOP_REQUESTED"
    phase: Phase
    loop_id: str
    run_id: str | None


class NotRunning(Model):
    """200 of a stop when nothing runs: `lastRunId` the newest run of the phase, if any."""

    status: Literal["NOT_RUNNING"] = "NOT_RUNNING"
    phase: Phase
    last_run_id: str | None


class NotLooping(Model):
    """200 of a loop stop when no loop is active."""

    status: Literal["NOT_LOOPING"] = "NOT_LOOPING"
    phase: Phase


# -- 409: who holds the phase (docs/control-api.md, "The daily chain has priority") ------


class AlreadyRunning(Model):
    """`runId` holds the phase (follow it: `GET /runs/{runId}`); `chainId` the chain it
    belongs to, else null."""

    status: Literal["ALREADY_RUNNING"] = "ALREADY_RUNNING"
    phase: Phase
    run_id: str
    chain_id: str | None


class DailyAlreadyRunning(Model):
    """409 of `POST /trigger/daily`. `chainId`: the running chain (follow it with
    `GET /chains/{chainId}`), null when a one-shot run is in the way. `phase`/`runId`:
    the run holding a slot, both null between two phases of the running chain."""

    status: Literal["ALREADY_RUNNING"] = "ALREADY_RUNNING"
    phase: Phase | None
    run_id: str | None
    chain_id: str | None


class LoopActive(Model):
    """A loop holds the phase: a one-shot trigger or resume is refused."""

    status: Literal["LOOP_ACTIVE"] = "LOOP_ACTIVE"
    phase: Phase
    loop_id: str


class LoopAlreadyActive(Model):
    """`POST /loop/phase/{phase}` while the phase already loops: `loopId` is that loop."""

    status: Literal["LOOP_ALREADY_ACTIVE"] = "LOOP_ALREADY_ACTIVE"
    phase: Phase
    loop_id: str


class ChainActiveReply(Model):
    """The running daily chain has still to do `phase`: nothing to follow yet."""

    status: Literal["CHAIN_ACTIVE"] = "CHAIN_ACTIVE"
    phase: Phase
    chain_id: str
    message: str


# -- error bodies: {error, message, ...details} -----------------------------------------


class ErrorBody(Model):
    """Every error answer. The subclasses name the details each code carries; a detail
    left unset is left out of the answer (`wire`)."""

    model_config = ConfigDict(extra="allow")

    error: ErrorCode
    message: str

    def wire(self, **kwargs: Any) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, **kwargs)


class FieldProblem(Model):
    field: str
    problem: str


class InvalidRequestError(ErrorBody):
    """400: a malformed body, query or header; `details` lists at most 10 problems."""

    error: Literal[ErrorCode.INVALID_REQUEST]
    details: list[FieldProblem] | None = None


class InvalidPhaseError(ErrorBody):
    error: Literal[ErrorCode.INVALID_PHASE]
    phase: str
    allowed: list[Phase]


class InvalidDateError(ErrorBody):
    error: Literal[ErrorCode.INVALID_DATE]
    date: str


class InvalidRunIdError(ErrorBody):
    """400: a path run id (`runId`) or `X-Upstream-Run-Id` (`upstreamRunId`) is malformed."""

    error: Literal[ErrorCode.INVALID_RUN_ID]
    run_id: str | None = None
    upstream_run_id: str | None = None


class InvalidHeaderError(ErrorBody):
    error: Literal[ErrorCode.INVALID_HEADER]
    header: str


class InvalidStatusError(ErrorBody):
    error: Literal[ErrorCode.INVALID_STATUS]
    allowed: list[RunStatus]


class MissingUpstreamError(ErrorBody):
    error: Literal[ErrorCode.MISSING_UPSTREAM]
    phase: Phase
    upstream_phase: Phase


class UpstreamNotAllowedError(ErrorBody):
    error: Literal[ErrorCode.UPSTREAM_NOT_ALLOWED]
    phase: Phase


class UpstreamPhaseMismatchError(ErrorBody):
    error: Literal[ErrorCode.UPSTREAM_PHASE_MISMATCH]
    upstream_run_id: str
    expected_phase: Phase
    upstream_phase: Phase


class UpstreamNotFoundError(ErrorBody):
    error: Literal[ErrorCode.UPSTREAM_NOT_FOUND]
    upstream_run_id: str
    upstream_phase: Phase | None


class UpstreamNotCompletedError(ErrorBody):
    error: Literal[ErrorCode.UPSTREAM_NOT_COMPLETED]
    upstream_run_id: str
    upstream_status: RunStatus


class UpstreamEmptyError(ErrorBody):
    """409: the upstream run is COMPLETED but published no records (docs/collection.md)."""

    error: Literal[ErrorCode.UPSTREAM_EMPTY]
    upstream_run_id: str
    upstream_phase: Phase


class RunNotFoundError(ErrorBody):
    error: Literal[ErrorCode.RUN_NOT_FOUND]
    run_id: str


class ChainNotFoundError(ErrorBody):
    error: Literal[ErrorCode.CHAIN_NOT_FOUND]
    chain_id: str


class FileNotFoundBody(ErrorBody):
    error: Literal[ErrorCode.FILE_NOT_FOUND]
    run_id: str
    file: str


class NotResumableError(ErrorBody):
    """409: only FAILED, ABANDONED and INTERRUPTED runs can be resumed."""

    error: Literal[ErrorCode.NOT_RESUMABLE]
    run_id: str
    run_status: RunStatus


class UnauthorizedError(ErrorBody):
    error: Literal[ErrorCode.UNAUTHORIZED]


class CsrfRejectedError(ErrorBody):
    error: Literal[ErrorCode.CSRF_REJECTED]


class PayloadTooLargeError(ErrorBody):
    error: Literal[ErrorCode.PAYLOAD_TOO_LARGE]
    limit_bytes: int


class ShuttingDownError(ErrorBody):
    error: Literal[ErrorCode.SHUTTING_DOWN]


class InternalError(ErrorBody):
    error: Literal[ErrorCode.INTERNAL_ERROR]


# -- the status page's JSON routes (docs/operations.md, "The status page") ---------------


class SampleEvent(Model):
    t: float
    kind: str
    text: str


class SamplesPublic(Model):
    """`GET /runs/{runId}/samples`: this process's throughput series of the run; each sample
    is a row of `columns`."""

    run_id: str
    rate_limit: float
    columns: list[str]
    interval_seconds: float | None
    samples: list[list[float]]
    events: list[SampleEvent]


class FailureSample(Model):
    key: str
    status: int | None
    message: str
    attempts: int | None


class FailuresOfCode(Model):
    count: int
    samples: list[FailureSample]


class FailuresPublic(Model):
    """`GET /runs/{runId}/failures`: failed records by error code, from the first lines read."""

    run_id: str
    scanned: int
    truncated: bool
    by_code: dict[str, FailuresOfCode]


class OverviewPublic(Model):
    """`GET /overview`: what the status page draws. `phases` are in pipeline order, each
    with its run (`RunPublic`), loop and a display view; `days` the last 8 daily chains;
    `limiter` the rate and quota per key. The inner objects are the page's view, free to
    change with it, so they are not pinned here."""

    now: str
    phases: list[dict[str, Any]]
    days: list[dict[str, Any]]
    limiter: dict[str, Any]
