"""Tables of the durable run state (docs/control-api.md). Migrations live in `migrations/`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from maplecollect.contract import statuses as _statuses

# The statuses live in the contract (importable without SQLAlchemy), re-exported here.
RunStatus = _statuses.RunStatus
LoopStatus = _statuses.LoopStatus
ChainStatus = _statuses.ChainStatus
ACTIVE_RUN_STATUSES = _statuses.ACTIVE_RUN_STATUSES
LEASED_RUN_STATUSES = _statuses.LEASED_RUN_STATUSES
ACTIVE_LOOP_STATUSES = _statuses.ACTIVE_LOOP_STATUSES

# The partial-index predicate, spelled once for both dialects.
# INTERRUPTED is in it: an interrupted run keeps its slot until it is resumed.
_ACTIVE_RUN_SQL = text("status IN ('RUNNING', 'STOPPING', 'INTERRUPTED')")
_ACTIVE_LOOP_SQL = text("status IN ('RUNNING', 'WAITING_FOR_CHAIN', 'STOPPING')")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored in run state")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()


class RunRow(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phase: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    upstream_run_id: Mapped[str | None] = mapped_column(String(64))
    chain_id: Mapped[str | None] = mapped_column(String(64), index=True)
    loop_id: Mapped[str | None] = mapped_column(String(64), index=True)
    airflow_run_id: Mapped[str | None] = mapped_column(String(250))
    snapshot_date: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS)
    heartbeat_at: Mapped[datetime] = mapped_column(TS)
    owner: Mapped[str] = mapped_column(String(128))
    total_keys: Mapped[int | None] = mapped_column(Integer)
    records_processed: Mapped[int] = mapped_column(Integer, default=0)
    records_failed: Mapped[int] = mapped_column(Integer, default=0)
    chunks_processed: Mapped[int] = mapped_column(Integer, default=0)
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest_path: Mapped[str | None] = mapped_column(Text)
    resume_count: Mapped[int] = mapped_column(Integer, default=0)
    # Failed records by error code, e.g. {"TRANSPORT": 3, "OPENAPI00003": 12}.
    failures_by_code: Mapped[dict[str, int] | None] = mapped_column(JSON(none_as_null=True))
    # Why the run waits right now (OPENAPI00009 data not ready, maintenance); null
    # when it does not. Written with progress (docs/control-api.md, "Pauses").
    pause_code: Mapped[str | None] = mapped_column(String(32))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    pause_since: Mapped[datetime | None] = mapped_column(TS)
    pause_until: Mapped[datetime | None] = mapped_column(TS)
    # Fencing token, bumped by every takeover (docs/reliability.md "Fencing").
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Automatic resumes since the run last published a part (bounded by
    # MAPLECOLLECT_AUTO_RESUME_MAX_ATTEMPTS), and when the next one may start.
    auto_resume_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    resume_after: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        # At most one non-terminal run per phase, across processes and replicas.
        Index(
            "ux_runs_active_phase",
            "phase",
            unique=True,
            sqlite_where=_ACTIVE_RUN_SQL,
            postgresql_where=_ACTIVE_RUN_SQL,
        ),
        Index("ix_runs_phase_started", "phase", "started_at"),
        Index("ix_runs_started", "started_at"),
    )


class LoopRow(Base):
    __tablename__ = "loops"

    loop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phase: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    snapshot_date: Mapped[str] = mapped_column(String(10))
    interval_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    iteration_count: Mapped[int] = mapped_column(Integer, default=0)
    current_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    airflow_run_id: Mapped[str | None] = mapped_column(String(250))
    owner: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime] = mapped_column(TS)
    started_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    stopped_at: Mapped[datetime | None] = mapped_column(TS)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index(
            "ux_loops_active_phase",
            "phase",
            unique=True,
            sqlite_where=_ACTIVE_LOOP_SQL,
            postgresql_where=_ACTIVE_LOOP_SQL,
        ),
        Index("ix_loops_phase_started", "phase", "started_at"),
    )


class ChainRow(Base):
    """A daily chain (RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT)."""

    __tablename__ = "chains"

    chain_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    snapshot_date: Mapped[str] = mapped_column(String(10))
    airflow_run_id: Mapped[str | None] = mapped_column(String(250))
    owner: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime] = mapped_column(TS)
    started_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS)
    error_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ux_chains_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'RUNNING'"),
            postgresql_where=text("status = 'RUNNING'"),
        ),
    )


class ChunkRow(Base):
    """A published part of a run: the resume point (docs/control-api.md)."""

    __tablename__ = "chunks"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_index: Mapped[int] = mapped_column(Integer)
    last_index: Mapped[int] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    raw_bytes: Mapped[int] = mapped_column(Integer)
    compressed_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    failed_sha256: Mapped[str | None] = mapped_column(String(64))
    failed_path: Mapped[str | None] = mapped_column(Text)
    failed_compressed_bytes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS)


class OcidCacheRow(Base):
    """Persistent character name → ocid map, filled by every OCID_LOOKUP."""

    __tablename__ = "ocid_cache"

    character_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    world_name: Mapped[str | None] = mapped_column(String(64))
    ocid: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(TS)


class PhaseLockRow(Base):
    """One row per phase, locked while a run or loop takes the phase: it serialises the
    cross-check of runs and loops the unique indexes cannot make."""

    __tablename__ = "phase_locks"

    phase: Mapped[str] = mapped_column(String(32), primary_key=True)
    touched_at: Mapped[datetime | None] = mapped_column(TS)


# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class EventRow(Base):
    """The transactional outbox (docs/downstream.md): one row per announced change, written
    with it; `seq` only grows and commits in order (state/outbox.py)."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(48))
    topic: Mapped[str] = mapped_column(String(96))
    key: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = ({"sqlite_autoincrement": True},)


class RelayCursorRow(Base):
    """The last sequence a relay's broker acknowledged: where it resumes after a restart."""

    __tablename__ = "relay_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(TS)
