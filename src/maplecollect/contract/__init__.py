"""The control API's contract: statuses, codes and every request and response body.

Pydantic only (no SQLAlchemy, FastAPI or HTTP client), so the service, the CLI
and the Airflow provider share one definition (docs/control-api.md). Every body
is in `contract.models`; the names the clients use are re-exported here.
"""

from maplecollect.contract.models import (
    AlreadyRunning,
    ChainActiveReply,
    ChainPublic,
    DailyAlreadyRunning,
    DailyStarted,
    EventsPagePublic,
    HealthPublic,
    LoopActive,
    LoopAlreadyActive,
    LoopPublic,
    LoopStarted,
    LoopStopRequested,
    NotLooping,
    NotRunning,
    PhaseStarted,
    RunDetailPublic,
    RunNotFoundError,
    RunPublic,
    RunResumed,
    RunStatusPublic,
    StopRequested,
    UpstreamEmptyError,
)
from maplecollect.contract.statuses import (
    ACTIVE_LOOP_STATUSES,
    ACTIVE_RUN_STATUSES,
    ChainStatus,
    ErrorCode,
    Health,
    LoopStatus,
    Reply,
    RunStatus,
)

__all__ = [
    "ACTIVE_LOOP_STATUSES",
    "ACTIVE_RUN_STATUSES",
    "AlreadyRunning",
    "ChainActiveReply",
    "ChainPublic",
    "ChainStatus",
    "DailyAlreadyRunning",
    "DailyStarted",
    "ErrorCode",
    "EventsPagePublic",
    "Health",
    "HealthPublic",
    "LoopActive",
    "LoopAlreadyActive",
    "LoopPublic",
    "LoopStarted",
    "LoopStatus",
    "LoopStopRequested",
    "NotLooping",
    "NotRunning",
    "PhaseStarted",
    "Reply",
    "RunDetailPublic",
    "RunNotFoundError",
    "RunPublic",
    "RunResumed",
    "RunStatus",
    "RunStatusPublic",
    "StopRequested",
    "UpstreamEmptyError",
]
