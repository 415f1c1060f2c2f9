"""Operators: results to XCom, refusals fail without retry, stops defer until idle."""

from __future__ import annotations

import httpx
import pytest
import respx
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from maplecollect.airflow.operators import (
    LoopPhaseOperator,
    StopLoopOperator,
    StopPhaseOperator,
    TriggerDailyOperator,
    TriggerPhaseOperator,
)
from maplecollect.airflow.triggers import PhaseRunTrigger
from maplecollect.airflow.waiting import blank_to_none
from maplecollect.client.errors import Unavailable
from support.bodies import loop_json, run_json, run_status_json

RUN = "20260102-030000-equip-ab12cd34"
AF_ID = "daily_collection_pipeline/manual__2026-01-02T00:00:00+00:00/t1"


def started(phase, **fields):
    """A 202 STARTED body (phase trigger, or the daily one with `chainId`)."""
    body = {"status": "STARTED", "phase": phase, "snapshotDate": "2026-01-01"}
    return {"airflowRunId": AF_ID, **body, **fields}


@pytest.fixture
def api(ext_api):
    with respx.mock(base_url=ext_api.base_url, assert_all_called=False) as mock:
        yield mock


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("None", None), (" latest ", "latest"), ("r-1", "r-1")],
)
def test_blank_to_none(value, expected):
    assert blank_to_none(value) == expected


def test_trigger_phase_returns_run_id_and_sends_airflow_run_id(api, make_context):
    route = api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(
        202, json=started("ITEM_EQUIPMENT", runId=RUN, upstreamRunId=None)
    )
    op = TriggerPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT", upstream_run_id="None", date="")
    assert op.execute(make_context("t1")) == RUN
    request = route.calls.last.request
    assert request.headers["X-Airflow-Run-Id"] == AF_ID
    assert request.headers["X-Upstream-Run-Id"] == "latest"


def test_trigger_phase_follows_409(api, make_context):
    api.post("/api/internal/trigger/phase/OCID_LOOKUP").respond(
        409,
        json={"status": "ALREADY_RUNNING", "phase": "OCID_LOOKUP", "runId": RUN, "chainId": None},
    )
    op = TriggerPhaseOperator(task_id="t1", phase="OCID_LOOKUP")
    assert op.execute(make_context("t1")) == RUN


def test_trigger_phase_refusal_fails_without_retry_with_body(api, make_context):
    text = '{"error":"UPSTREAM_NOT_FOUND","upstreamRunId":"latest"}'
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(404, text=text)
    op = TriggerPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT")
    with pytest.raises(AirflowFailException) as err:
        op.execute(make_context("t1"))
    assert text in str(err.value)


def test_trigger_phase_loop_active_fails(api, make_context):
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(
        409, json={"status": "LOOP_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": "loop-1"}
    )
    with pytest.raises(AirflowFailException, match=r"loop-1.*ITEM_EQUIPMENT_STOP_LOOP"):
        TriggerPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT").execute(make_context("t1"))


def test_trigger_phase_unreachable_is_retriable(api, make_context, ext_api):
    api.post("/api/internal/trigger/phase/RANKING_FETCH").mock(
        side_effect=httpx.ConnectError("refused")
    )
    with pytest.raises(Unavailable, match="trigger RANKING_FETCH") as err:
        TriggerPhaseOperator(task_id="t1", phase="RANKING_FETCH").execute(make_context("t1"))
    assert not isinstance(err.value, AirflowFailException)
    assert ext_api.token not in str(err.value)


def test_bad_phase_is_refused_at_parse_time():
    with pytest.raises(ValueError):
        TriggerPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT_LOOP")


def test_trigger_daily_returns_chain(api, make_context):
    route = api.post("/api/internal/trigger/daily").respond(
        202, json=started("RANKING_FETCH", chainId="chain-1", runId=RUN)
    )
    assert (
        TriggerDailyOperator(task_id="t1", date="2026-01-01").execute(make_context("t1"))
        == "chain-1"
    )
    assert route.calls.last.request.content == b'{"date":"2026-01-01"}'


def test_loop_returns_loop_id_even_when_already_active(api, make_context):
    api.post("/api/internal/loop/phase/ITEM_EQUIPMENT").respond(
        409, json={"status": "LOOP_ALREADY_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": "loop-1"}
    )
    assert (
        LoopPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT").execute(make_context("t1"))
        == "loop-1"
    )


def test_stop_not_running_succeeds_without_waiting(api, make_context):
    api.post("/api/internal/stop/phase/OCID_LOOKUP").respond(
        200, json={"status": "NOT_RUNNING", "phase": "OCID_LOOKUP", "lastRunId": RUN}
    )
    assert StopPhaseOperator(task_id="t1", phase="OCID_LOOKUP").execute(make_context("t1")) is None


def test_stop_requested_defers_until_the_phase_is_idle(api, make_context):
    api.post("/api/internal/stop/phase/ITEM_EQUIPMENT").respond(
        202, json={"status": "STOP_REQUESTED", "phase": "ITEM_EQUIPMENT", "runId": RUN}
    )
    api.get("/api/internal/run-status").respond(
        200, json=run_status_json({"ITEM_EQUIPMENT": run_json(RUN, status="STOPPING")})
    )
    op = StopPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT", poll_interval=5, idle_timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context("t1"))
    trigger = deferred.value.trigger
    assert isinstance(trigger, PhaseRunTrigger)
    assert (trigger.target.value, trigger.target_id, trigger.poll_interval) == (
        "phase_idle",
        "ITEM_EQUIPMENT",
        5,
    )
    assert deferred.value.kwargs == {"stopped": RUN}
    assert deferred.value.method_name == "execute_complete"


def test_stop_without_wait_returns_at_once(api, make_context):
    api.post("/api/internal/stop/phase/ITEM_EQUIPMENT").respond(
        202, json={"status": "STOP_REQUESTED", "phase": "ITEM_EQUIPMENT", "runId": RUN}
    )
    op = StopPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT", wait_for_idle=False)
    assert op.execute(make_context("t1")) == RUN


# A loop stopped between iterations: no run to stop.
LOOP_STOP_REQUESTED = {
    "status": "STOP_REQUESTED",
    "phase": "CHARACTER_BASIC",
    "loopId": "loop-3",
    "runId": None,
}


def test_stop_loop_not_looping_and_requested(api, make_context):
    route = api.post("/api/internal/stop/loop/phase/CHARACTER_BASIC")
    route.side_effect = [
        httpx.Response(200, json={"status": "NOT_LOOPING", "phase": "CHARACTER_BASIC"}),
        httpx.Response(202, json=LOOP_STOP_REQUESTED),
    ]
    stopping = run_status_json(
        loops={"CHARACTER_BASIC": loop_json("loop-3", "CHARACTER_BASIC", "STOPPING")}
    )
    api.get("/api/internal/run-status").respond(200, json=stopping)
    op = StopLoopOperator(task_id="t1", phase="CHARACTER_BASIC")
    assert op.execute(make_context("t1")) is None
    with pytest.raises(TaskDeferred):
        op.execute(make_context("t1"))


def test_stop_of_a_phase_already_idle_does_not_defer(api, make_context, capsys):
    """A loop stopped between iterations is idle at once: judged without deferring (a
    trigger firing at once meets Airflow's defer-exit race, apache/airflow#66374)."""
    api.post("/api/internal/stop/loop/phase/CHARACTER_BASIC").respond(202, json=LOOP_STOP_REQUESTED)
    stopped = run_status_json(
        loops={"CHARACTER_BASIC": loop_json("loop-3", "CHARACTER_BASIC", "STOPPED")}
    )
    api.get("/api/internal/run-status").respond(200, json=stopped)
    op = StopLoopOperator(task_id="t1", phase="CHARACTER_BASIC")
    assert op.execute(make_context("t1")) is None
    assert "CHARACTER_BASIC is idle" in capsys.readouterr().out


def test_stop_defers_when_the_first_look_fails(api, make_context):
    api.post("/api/internal/stop/phase/ITEM_EQUIPMENT").respond(
        202, json={"status": "STOP_REQUESTED", "phase": "ITEM_EQUIPMENT", "runId": RUN}
    )
    api.get("/api/internal/run-status").mock(side_effect=httpx.ConnectError("refused"))
    op = StopPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT", poll_interval=5, idle_timeout=60)
    with pytest.raises(TaskDeferred):
        op.execute(make_context("t1"))


def test_stop_execute_complete(make_context):
    op = StopPhaseOperator(task_id="t1", phase="ITEM_EQUIPMENT")
    ok = {"status": "success", "message": "ITEM_EQUIPMENT is idle"}
    assert op.execute_complete(make_context("t1"), event=ok, stopped=RUN) == RUN
    with pytest.raises(AirflowFailException, match="deadline"):
        op.execute_complete(
            make_context("t1"),
            event={"status": "timeout", "message": "not idle before the deadline"},
        )
    with pytest.raises(AirflowException):
        op.execute_complete(make_context("t1"), event={"status": "error", "message": "x"})
