"""Dependencies of the routes as `Annotated` aliases: state, auth, validated inputs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Header, Request

from maplecollect.api.errors import ApiError, error_body
from maplecollect.config import Settings
from maplecollect.contract.models import TriggerBody
from maplecollect.control.supervisor import Supervisor
from maplecollect.echo import echo
from maplecollect.ids import is_valid_airflow_run_id, is_valid_id
from maplecollect.phases import LOOPABLE, ORDER, Phase
from maplecollect.state.repository import Repository


def _supervisor(request: Request) -> Supervisor:
    sup: Supervisor = request.app.state.supervisor
    return sup


def _repo(request: Request) -> Repository:
    repo: Repository = request.app.state.repo
    return repo


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SupervisorDep = Annotated[Supervisor, Depends(_supervisor)]
RepoDep = Annotated[Repository, Depends(_repo)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def _invalid_phase(given: str, allowed: tuple[Phase, ...]) -> ApiError:
    return ApiError(
        400,
        error_body(
            "INVALID_PHASE",
            f"unknown phase {echo(given)!r}; phase names are exact and upper case",
            phase=echo(given),
            allowed=[p.value for p in allowed],
        ),
    )


def phase_param(phase: str) -> Phase:
    parsed = Phase.parse(phase)
    if parsed is None:
        raise _invalid_phase(phase, ORDER)
    return parsed


def loopable_phase_param(phase: str) -> Phase:
    parsed = Phase.parse(phase)
    if parsed is None or not parsed.loopable:
        raise _invalid_phase(phase, LOOPABLE)
    return parsed


PhaseDep = Annotated[Phase, Depends(phase_param)]
LoopablePhaseDep = Annotated[Phase, Depends(loopable_phase_param)]


def airflow_run_id_header(
    x_airflow_run_id: Annotated[str | None, Header()] = None,
) -> str | None:
    if x_airflow_run_id is None:
        return None
    if not is_valid_airflow_run_id(x_airflow_run_id):
        raise ApiError(
            400,
            error_body(
                "INVALID_HEADER",
                "X-Airflow-Run-Id must be printable ASCII, 1 to 250 characters",
                header="X-Airflow-Run-Id",
            ),
        )
    return x_airflow_run_id


def upstream_header(x_upstream_run_id: Annotated[str | None, Header()] = None) -> str | None:
    if x_upstream_run_id is None or x_upstream_run_id.strip() == "":
        return None
    return x_upstream_run_id.strip()


AirflowRunIdDep = Annotated[str | None, Depends(airflow_run_id_header)]
UpstreamDep = Annotated[str | None, Depends(upstream_header)]


def run_id_param(run_id: str) -> str:
    if not is_valid_id(run_id):
        raise ApiError(
            400,
            error_body(
                "INVALID_RUN_ID",
                "run ids are 1-64 characters of A-Z a-z 0-9 _ -",
                runId=echo(run_id),
            ),
        )
    return run_id


RunIdDep = Annotated[str, Depends(run_id_param)]


# The optional JSON body of triggers and loops ({"date", "intervalSeconds"}).
TriggerBodyDep = Annotated[TriggerBody | None, Body()]
