"""Public JSON shapes of the control API (camelCase, numbers as numbers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from maplecollect.phases import ORDER
from maplecollect.state.models import ChainRow, LoopRow, RunRow, RunStatus


class _Public(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PausePublic(_Public):
    """Why a run waits: `code` OPENAPI00009/00010/00011, `reason` e.g. "data not ready",
    since when, and `until` the next try (docs/control-api.md, "Pauses")."""

    code: str
    reason: str
    since: datetime
    until: datetime | None

    @classmethod
    def of(cls, row: RunRow) -> PausePublic | None:
        # A terminal run waits for nothing, whatever a dead owner left on its row.
        if row.pause_code is None or row.pause_since is None or RunStatus(row.status).terminal:
            return None
        return cls(
            code=row.pause_code,
            reason=row.pause_reason or "",
            since=row.pause_since,
            until=row.pause_until,
        )


class RunPublic(_Public):
    run_id: str
    phase: str
    status: str
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

    @classmethod
    def of(cls, row: RunRow) -> RunPublic:
        return cls(
            run_id=row.run_id,
            phase=row.phase,
            status=row.status,
            terminal=RunStatus(row.status).terminal,
            upstream_run_id=row.upstream_run_id,
            chain_id=row.chain_id,
            loop_id=row.loop_id,
            airflow_run_id=row.airflow_run_id,
            snapshot_date=row.snapshot_date,
            started_at=row.started_at,
            updated_at=row.updated_at,
            completed_at=row.completed_at,
            heartbeat_at=row.heartbeat_at,
            total_keys=row.total_keys,
            records_processed=row.records_processed,
            records_failed=row.records_failed,
            chunks_processed=row.chunks_processed,
            rate_per_second=row.rate_per_second,
            eta_seconds=row.eta_seconds,
            error_message=row.error_message,
            manifest_path=row.manifest_path,
            resume_count=row.resume_count,
            failures_by_code=row.failures_by_code or {},
            pause=PausePublic.of(row),
        )


class ChunkPublic(_Public):
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
    chunks: list[ChunkPublic] = Field(default_factory=list)


class LoopPublic(_Public):
    loop_id: str
    phase: str
    status: str
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

    @classmethod
    def of(cls, row: LoopRow) -> LoopPublic:
        return cls(
            loop_id=row.loop_id,
            phase=row.phase,
            status=row.status,
            snapshot_date=row.snapshot_date,
            interval_seconds=row.interval_seconds,
            iteration_count=row.iteration_count,
            current_run_id=row.current_run_id,
            last_run_id=row.last_run_id,
            last_error=row.last_error,
            consecutive_failures=row.consecutive_failures,
            airflow_run_id=row.airflow_run_id,
            started_at=row.started_at,
            updated_at=row.updated_at,
            stopped_at=row.stopped_at,
        )


class ChainPublic(_Public):
    chain_id: str
    status: str
    snapshot_date: str
    airflow_run_id: str | None
    started_at: datetime
    completed_at: datetime | None
    error_message: str | None
    runs: dict[str, RunPublic]

    @classmethod
    def of(cls, row: ChainRow, runs: list[RunRow]) -> ChainPublic:
        by_phase: dict[str, RunPublic] = {}
        # Newest first from the repository: keep the newest run of each phase.
        for run in runs:
            by_phase.setdefault(run.phase, RunPublic.of(run))
        ordered = {p.value: by_phase[p.value] for p in ORDER if p.value in by_phase}
        return cls(
            chain_id=row.chain_id,
            status=row.status,
            snapshot_date=row.snapshot_date,
            airflow_run_id=row.airflow_run_id,
            started_at=row.started_at,
            completed_at=row.completed_at,
            error_message=row.error_message,
            runs=ordered,
        )


class RunStatusPublic(_Public):
    slots: dict[str, RunPublic | None]
    last_completed_by_phase: dict[str, RunPublic | None]
    current: RunPublic | None
    last_completed: RunPublic | None
    loop_summaries: dict[str, LoopPublic | None]


class TriggerBody(_Public):
    """Optional body of trigger and loop requests."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid")

    date: str | None = Field(default=None, description="YYYY-MM-DD (KST) or 'latest'")
    interval_seconds: float | None = Field(
        default=None, ge=0, le=86400, description="loops only: pause between iterations"
    )


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **details}


class EventPublic(_Public):
    """One outbox event (docs/downstream.md): `value` is the broker message body."""

    seq: int
    event_id: str
    event_type: str
    topic: str
    key: str
    value: dict[str, Any]


class EventsPagePublic(_Public):
    """`GET /events`: ask again with `after=nextAfter` to continue."""

    events: list[EventPublic]
    next_after: int
