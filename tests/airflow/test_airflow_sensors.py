"""Sensors: defer at once (no worker slot), judge the event, poke mode, health checks."""

from __future__ import annotations

import httpx
import pytest
import respx
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)

import maplecollect
from maplecollect.airflow.sensors import DailyChainSensor, ExtApiHealthSensor, PhaseRunSensor
from maplecollect.airflow.triggers import PhaseRunTrigger
from support.bodies import chain_json, health_json, run_json, run_status_json

RUN = "20260102-030000-equip-ab12cd34"


@pytest.fixture
def api(ext_api):
    with respx.mock(base_url=ext_api.base_url, assert_all_called=False) as mock:
        yield mock


def test_run_sensor_defers_after_one_look_when_the_run_is_still_going(api, make_context):
    route = api.get(f"/api/internal/runs/{RUN}").respond(
        200, json=run_json(RUN, "ITEM_EQUIPMENT", "RUNNING")
    )
    sensor = PhaseRunSensor(
        task_id="w", run_id=RUN, poll_interval=7, timeout=3600, stop_expected=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context("w"))
    trigger = deferred.value.trigger
    assert isinstance(trigger, PhaseRunTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["target"] == "run" and kwargs["target_id"] == RUN
    assert kwargs["poll_interval"] == 7 and kwargs["stop_expected"] is True
    assert deferred.value.timeout.total_seconds() > 3600  # Airflow's backstop is later than ours
    assert route.call_count == 1  # one look, then the triggerer polls


def test_run_that_already_ended_is_judged_without_deferring(api, make_context):
    route = api.get(f"/api/internal/runs/{RUN}")
    route.respond(200, json=run_json(RUN, "ITEM_EQUIPMENT", "COMPLETED"))
    assert PhaseRunSensor(task_id="w", run_id=RUN).execute(make_context("w")) == RUN
    route.respond(
        200,
        json=run_json(RUN, "ITEM_EQUIPMENT", "FAILED", errorMessage="boom"),
    )
    with pytest.raises(AirflowFailException, match="FAILED: boom"):
        PhaseRunSensor(task_id="w", run_id=RUN).execute(make_context("w"))


def test_unreachable_service_at_the_first_look_still_defers(api, make_context):
    api.get(f"/api/internal/runs/{RUN}").mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(TaskDeferred):
        PhaseRunSensor(task_id="w", run_id=RUN).execute(make_context("w"))


def test_sensor_has_retries_for_the_defer_race():
    assert PhaseRunSensor(task_id="w", run_id=RUN).retries >= 1
    assert DailyChainSensor(task_id="w", chain_id="c-1").retries >= 1


@pytest.mark.parametrize("bad", ["", "None", "../x", None])
def test_sensor_without_a_valid_run_id_fails_clearly(make_context, bad):
    with pytest.raises(AirflowFailException, match="no valid run id"):
        PhaseRunSensor(task_id="w", run_id=bad).execute(make_context("w"))


def test_chain_sensor_defers_on_the_chain(api, make_context):
    api.get("/api/internal/chains/chain-1").respond(200, json=chain_json("chain-1", "RUNNING", {}))
    with pytest.raises(TaskDeferred) as deferred:
        DailyChainSensor(task_id="w", chain_id="chain-1").execute(make_context("w"))
    assert deferred.value.trigger.serialize()[1]["target"] == "chain"


def test_execute_complete_outcomes(make_context):
    sensor = PhaseRunSensor(task_id="w", run_id=RUN)
    ctx = make_context("w")
    assert (
        sensor.execute_complete(ctx, {"status": "success", "message": "done", "runId": RUN}) == RUN
    )
    with pytest.raises(AirflowFailException, match="invalid API key"):
        sensor.execute_complete(
            ctx, {"status": "failed", "message": f"run {RUN} FAILED: invalid API key"}
        )
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(ctx, {"status": "timeout", "message": "late"})
    with pytest.raises(AirflowException) as err:
        sensor.execute_complete(ctx, {"status": "error", "message": "unreachable"})
    assert not isinstance(err.value, AirflowFailException)  # retriable: the wait is idempotent
    with pytest.raises(AirflowException):
        sensor.execute_complete(ctx, None)


def test_poke_mode_uses_the_same_classify(api, make_context):
    route = api.get(f"/api/internal/runs/{RUN}")
    route.side_effect = [
        httpx.Response(200, json=run_json(RUN, status="RUNNING")),
        httpx.Response(200, json=run_json(RUN, status="COMPLETED")),
        httpx.Response(200, json=run_json(RUN, status="ABANDONED", errorMessage="owner died")),
    ]
    sensor = PhaseRunSensor(task_id="w", run_id=RUN, deferrable=False)
    assert sensor.mode == "reschedule"
    assert sensor.poke(make_context("w")) is False
    done = sensor.poke(make_context("w"))
    assert isinstance(done, PokeReturnValue) and done.xcom_value == RUN
    with pytest.raises(AirflowFailException, match="owner died"):
        sensor.poke(make_context("w"))


def _health(api, status=200, token_status=200, **body):
    api.get("/api/internal/run-status").respond(
        token_status, json=run_status_json() if token_status == 200 else {"error": "UNAUTHORIZED"}
    )
    api.get("/health").respond(
        status, json={**health_json(api_version=maplecollect.API_VERSION), **body}
    )


def test_health_up(api, make_context):
    _health(api)
    sensor = ExtApiHealthSensor(task_id="check_external_api")
    assert sensor.mode == "reschedule"
    result = sensor.poke(make_context())
    assert result.is_done and result.xcom_value["apiVersion"] == maplecollect.API_VERSION


def test_health_down_or_unreachable_keeps_waiting(api, make_context):
    route = api.get("/health")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(503, json=health_json("DOWN", api_version=1)),
    ]
    sensor = ExtApiHealthSensor(task_id="check_external_api")
    assert sensor.poke(make_context()) is False
    assert sensor.poke(make_context()) is False


def test_health_old_api_version_fails_clearly(api, make_context):
    _health(api, apiVersion=maplecollect.API_VERSION - 1)
    with pytest.raises(AirflowFailException, match=r"apiVersion .* needs apiVersion >="):
        ExtApiHealthSensor(task_id="check_external_api").poke(make_context())


def test_health_without_api_version_fails(api, make_context):
    api.get("/health").respond(200, json={"status": "UP", "version": "0", "database": "UP"})
    with pytest.raises(AirflowFailException, match="apiVersion: Field required"):
        ExtApiHealthSensor(task_id="check_external_api").poke(make_context())


def test_health_of_something_else_fails(api, make_context):
    api.get("/health").respond(404, text="<html>nope</html>")
    with pytest.raises(AirflowFailException, match="point at a maplecollect service"):
        ExtApiHealthSensor(task_id="check_external_api").poke(make_context())


def test_health_checks_the_token_with_an_authenticated_call(api, make_context, ext_api):
    _health(api)
    assert ExtApiHealthSensor(task_id="check_external_api").poke(make_context()).is_done
    (call,) = [c for c in api.calls if c.request.url.path == "/api/internal/run-status"]
    assert call.request.headers["Authorization"] == f"Bearer {ext_api.token}"


@pytest.mark.parametrize("status", [401, 403])
def test_health_with_a_refused_token_fails_at_once_with_the_fix(api, make_context, ext_api, status):
    _health(api, token_status=status)
    with pytest.raises(AirflowFailException) as failed:
        ExtApiHealthSensor(task_id="check_external_api").poke(make_context())
    message = str(failed.value)
    assert f"refused the bearer token of connection 'external_api' (HTTP {status})" in message
    assert "MAPLECOLLECT_API_TOKEN" in message
    assert ext_api.token not in message


def test_health_token_check_unreachable_keeps_waiting(api, make_context):
    _health(api)
    api.get("/api/internal/run-status").mock(side_effect=httpx.ConnectError("refused"))
    assert ExtApiHealthSensor(task_id="check_external_api").poke(make_context()) is False
