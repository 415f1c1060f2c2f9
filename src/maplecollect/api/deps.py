"""Dependencies of the routes as `Annotated` aliases: state, auth, validated inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Path, Request

from maplecollect.api.errors import ApiError
from maplecollect.config import Settings
from maplecollect.contract.models import (
    InvalidHeaderError,
    InvalidPhaseError,
    InvalidRunIdError,
    TriggerBody,
)
from maplecollect.contract.statuses import ErrorCode
from maplecollect.control.supervisor import Supervisor
from maplecollect.echo import echo
from maplecollect.ids import RUN_ID_RE, is_valid_airflow_run_id, is_valid_id
from maplecollect.phases import LOOPABLE, ORDER, Phase
from maplecollect.state.repository import Repository


def _app_state(name: str) -> Callable[[Request], Any]:
    """A dependency answering `app.state.<name>` (set by the app's lifespan)."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


SupervisorDep = Annotated[Supervisor, Depends(_app_state("supervisor"))]
RepoDep = Annotated[Repository, Depends(_app_state("repo"))]
SettingsDep = Annotated[Settings, Depends(_app_state("settings"))]


# `{phase}` is an enum in the OpenAPI document; the server still parses the string
# itself so that anything else is 400 INVALID_PHASE with the allowed names, not a
# generic validation error.
_PhasePath = Annotated[
    str, Path(description="a phase name", json_schema_extra={"enum": [p.value for p in ORDER]})
]
_LoopablePath = Annotated[
    str,
    Path(
        description="a loopable phase name", json_schema_extra={"enum": [p.value for p in LOOPABLE]}
    ),
]


def parse_phase(phase: str, allowed: tuple[Phase, ...] = ORDER) -> Phase:
    parsed = Phase.parse(phase)
    if parsed is None or parsed not in allowed:
        raise ApiError(
            400,
            InvalidPhaseError(
                error=ErrorCode.INVALID_PHASE,
                message=f"unknown phase {echo(phase)!r}; phase names are exact and upper case",
                phase=echo(phase),
                allowed=list(allowed),
            ),
        )
    return parsed


def phase_param(phase: _PhasePath) -> Phase:
    return parse_phase(phase)


def loopable_phase_param(phase: _LoopablePath) -> Phase:
    return parse_phase(phase, LOOPABLE)


PhaseDep = Annotated[Phase, Depends(phase_param)]
LoopablePhaseDep = Annotated[Phase, Depends(loopable_phase_param)]

_AIRFLOW_RUN_ID_SCHEMA = {"pattern": "^[ -~]{1,250}$"}


def airflow_run_id_header(
    x_airflow_run_id: Annotated[
        str | None,
        Header(
            description="the Airflow task that asks: printable ASCII, 1 to 250 characters",
            json_schema_extra=_AIRFLOW_RUN_ID_SCHEMA,
        ),
    ] = None,
) -> str | None:
    if x_airflow_run_id is None:
        return None
    if not is_valid_airflow_run_id(x_airflow_run_id):
        raise ApiError(
            400,
            InvalidHeaderError(
                error=ErrorCode.INVALID_HEADER,
                message="X-Airflow-Run-Id must be printable ASCII, 1 to 250 characters",
                header="X-Airflow-Run-Id",
            ),
        )
    return x_airflow_run_id


def upstream_header(
    x_upstream_run_id: Annotated[
        str | None,
        Header(description="the upstream run id, or `latest` (non-root phases)"),
    ] = None,
) -> str | None:
    return (x_upstream_run_id or "").strip() or None


AirflowRunIdDep = Annotated[str | None, Depends(airflow_run_id_header)]
UpstreamDep = Annotated[str | None, Depends(upstream_header)]

_ID_PATH = Path(description="a run or chain id", json_schema_extra={"pattern": RUN_ID_RE.pattern})


def run_id_param(run_id: Annotated[str, _ID_PATH]) -> str:
    if not is_valid_id(run_id):
        raise ApiError(
            400,
            InvalidRunIdError(
                error=ErrorCode.INVALID_RUN_ID,
                message="run ids are 1-64 characters of A-Z a-z 0-9 _ -",
                run_id=echo(run_id),
            ),
        )
    return run_id


RunIdDep = Annotated[str, Depends(run_id_param)]


# The optional JSON body of triggers and loops ({"date", "intervalSeconds"}).
TriggerBodyDep = Annotated[TriggerBody | None, Body()]
