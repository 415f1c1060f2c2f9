"""Every status and code the control API speaks, importable without SQLAlchemy or FastAPI.

Run, loop and chain statuses are the values of the `status` columns of the run
state (docs/control-api.md); `Reply` are the `status` values of the routes'
answers and `ErrorCode` the `error` values of their error bodies.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    ABANDONED = "ABANDONED"
    # The owner went away (graceful shutdown or a lost lease); the run keeps its
    # phase slot and waits to be resumed automatically under the same runId.
    INTERRUPTED = "INTERRUPTED"

    @property
    def terminal(self) -> bool:
        return self not in ACTIVE_RUN_STATUSES

    @property
    def resumable(self) -> bool:
        return self in (RunStatus.FAILED, RunStatus.ABANDONED, RunStatus.INTERRUPTED)


class LoopStatus(StrEnum):
    RUNNING = "RUNNING"
    # The daily chain has the loop's phase first; the loop goes on after it.
    WAITING_FOR_CHAIN = "WAITING_FOR_CHAIN"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class ChainStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


ACTIVE_RUN_STATUSES = frozenset({RunStatus.RUNNING, RunStatus.STOPPING, RunStatus.INTERRUPTED})
# Statuses whose executor holds the lease (an INTERRUPTED run has no executor).
LEASED_RUN_STATUSES = frozenset({RunStatus.RUNNING, RunStatus.STOPPING})
ACTIVE_LOOP_STATUSES = frozenset(
    {LoopStatus.RUNNING, LoopStatus.WAITING_FOR_CHAIN, LoopStatus.STOPPING}
)


class Reply(StrEnum):
    """`status` of a route's answer (docs/control-api.md, "The daily chain has priority")."""

    STARTED = "STARTED"
    RESUMED = "RESUMED"
    LOOP_STARTED = "LOOP_STARTED"
    STOP_REQUESTED = "STOP_REQUESTED"
    NOT_RUNNING = "NOT_RUNNING"
    NOT_LOOPING = "NOT_LOOPING"
    # 409s: who holds the phase.
    ALREADY_RUNNING = "ALREADY_RUNNING"
    LOOP_ACTIVE = "LOOP_ACTIVE"
    LOOP_ALREADY_ACTIVE = "LOOP_ALREADY_ACTIVE"
    CHAIN_ACTIVE = "CHAIN_ACTIVE"


class Health(StrEnum):
    """`status` and `database` of GET /health."""

    UP = "UP"
    DOWN = "DOWN"


class ErrorCode(StrEnum):
    """`error` of an error body `{error, message, ...}` (docs/control-api.md, "Errors")."""

    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_PHASE = "INVALID_PHASE"
    INVALID_DATE = "INVALID_DATE"
    INVALID_RUN_ID = "INVALID_RUN_ID"
    INVALID_HEADER = "INVALID_HEADER"
    INVALID_STATUS = "INVALID_STATUS"
    MISSING_UPSTREAM = "MISSING_UPSTREAM"
    UPSTREAM_NOT_ALLOWED = "UPSTREAM_NOT_ALLOWED"
    UPSTREAM_PHASE_MISMATCH = "UPSTREAM_PHASE_MISMATCH"
    UPSTREAM_NOT_FOUND = "UPSTREAM_NOT_FOUND"
    UPSTREAM_NOT_COMPLETED = "UPSTREAM_NOT_COMPLETED"
    UPSTREAM_EMPTY = "UPSTREAM_EMPTY"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    CHAIN_NOT_FOUND = "CHAIN_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    NOT_RESUMABLE = "NOT_RESUMABLE"
    UNAUTHORIZED = "UNAUTHORIZED"
    CSRF_REJECTED = "CSRF_REJECTED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    HTTP_ERROR = "HTTP_ERROR"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    INTERNAL_ERROR = "INTERNAL_ERROR"
