"""ExtApiHook -> the client: every response row of docs/airflow.md, headers, retries and
token hygiene, through the client the hook builds from the `external_api` connection (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from maplecollect.airflow.hook import ExtApiHook
from maplecollect.client.errors import (
    Conflict,
    ProtocolError,
    Refused,
    Unavailable,
)
from maplecollect.contract import LoopActive
from maplecollect.phases import Phase
from support.bodies import chain_json, health_json, run_json, run_status_json

AF_ID = "daily_collection_pipeline/manual__1/per_phase_trigger_item_equipment"
RUN = "20260102-030000-equip-ab12cd34"
OCID_RUN = "20260102-020000-ocid-00aa11bb"


@pytest.fixture
def api(ext_api):
    with respx.mock(base_url=ext_api.base_url, assert_all_called=False) as mock:
        yield mock


def _trigger(phase="ITEM_EQUIPMENT", upstream=None, date=None):
    with ExtApiHook().get_conn() as api:
        return api.trigger_phase(
            Phase(phase), upstream_run_id=upstream, date=date, airflow_run_id=AF_ID
        )


def _started(phase, run_id, **fields):
    body = {"status": "STARTED", "phase": phase, "runId": run_id, "snapshotDate": "2026-01-01"}
    return {"upstreamRunId": None, "airflowRunId": None, **body, **fields}


def test_trigger_202_returns_new_run_and_sends_headers(api, ext_api):
    route = api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(
        202,
        json={
            "status": "STARTED",
            "phase": "ITEM_EQUIPMENT",
            "runId": RUN,
            "upstreamRunId": OCID_RUN,
            "snapshotDate": "2026-01-01",
            "airflowRunId": AF_ID,
        },
    )
    result = _trigger(upstream=OCID_RUN, date="2026-01-01")
    assert (result.run_id, result.followed, result.upstream_run_id) == (RUN, False, OCID_RUN)
    sent = route.calls.last.request
    assert sent.headers["X-Airflow-Run-Id"] == AF_ID
    assert sent.headers["X-Upstream-Run-Id"] == OCID_RUN
    assert sent.headers["Authorization"] == f"Bearer {ext_api.token}"
    assert json.loads(sent.content) == {"date": "2026-01-01"}


def test_non_root_trigger_always_sends_upstream_latest_when_none_given(api):
    route = api.post("/api/internal/trigger/phase/OCID_LOOKUP").respond(
        202, json=_started("OCID_LOOKUP", OCID_RUN)
    )
    _trigger("OCID_LOOKUP", upstream=None)
    request = route.calls.last.request
    assert request.headers["X-Upstream-Run-Id"] == "latest"
    assert request.content in (b"", b"null")  # no date: the service default


def test_root_trigger_sends_no_upstream_header(api):
    route = api.post("/api/internal/trigger/phase/RANKING_FETCH").respond(
        202, json=_started("RANKING_FETCH", "20260102-030000-rank-aaaa0000")
    )
    _trigger("RANKING_FETCH", upstream="latest")
    assert "X-Upstream-Run-Id" not in route.calls.last.request.headers


def test_trigger_409_already_running_follows_the_runid_in_the_body(api):
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(
        409,
        json={
            "status": "ALREADY_RUNNING",
            "phase": "ITEM_EQUIPMENT",
            "runId": RUN,
            "chainId": None,
        },
    )
    result = _trigger()
    assert (result.run_id, result.followed) == (RUN, True)


def test_trigger_409_loop_active_fails_clearly(api):
    body = {"status": "LOOP_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": "20260102-loop-equip-1"}
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(409, json=body)
    with pytest.raises(Conflict) as err:
        _trigger()
    assert isinstance(err.value.conflict, LoopActive)
    assert err.value.loop_id == "20260102-loop-equip-1"
    assert "20260102-loop-equip-1" in str(err.value)
    assert json.dumps(body, separators=(",", ":")) in str(err.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "INVALID_PHASE", "allowed": ["CHARACTER_BASIC", "ITEM_EQUIPMENT"]}),
        (
            400,
            {
                "error": "MISSING_UPSTREAM",
                "phase": "ITEM_EQUIPMENT",
                "upstreamPhase": "OCID_LOOKUP",
            },
        ),
        (404, {"error": "UPSTREAM_NOT_FOUND", "upstreamRunId": "latest"}),
        (
            409,
            {
                "error": "UPSTREAM_NOT_COMPLETED",
                "upstreamRunId": OCID_RUN,
                "upstreamStatus": "RUNNING",
            },
        ),
        (401, {"detail": "missing or invalid bearer token"}),
    ],
)
def test_trigger_refusals_carry_the_server_body_verbatim(api, status, body):
    text = json.dumps(body, separators=(",", ":"))
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(status, text=text)
    with pytest.raises(Refused) as err:
        _trigger()
    assert err.value.status == status
    assert text in str(err.value)
    assert "trigger ITEM_EQUIPMENT" in str(err.value)


def test_loop_on_a_non_loopable_phase_surfaces_invalid_phase_verbatim(api):
    text = '{"error":"INVALID_PHASE","allowed":["CHARACTER_BASIC","ITEM_EQUIPMENT"]}'
    api.post("/api/internal/loop/phase/RANKING_FETCH").respond(400, text=text)
    with pytest.raises(Refused, match="INVALID_PHASE") as err:
        ExtApiHook().get_conn().start_loop(Phase.RANKING_FETCH, airflow_run_id=AF_ID)
    assert text in str(err.value)


def test_network_error_is_retried_then_fails_naming_the_phase(api, ext_api):
    route = api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").mock(
        side_effect=httpx.ConnectError("connection refused")
    )
    with pytest.raises(Unavailable) as err:
        _trigger()
    assert route.call_count == 3  # 1 + retries (2)
    assert "trigger ITEM_EQUIPMENT" in str(err.value)
    assert "3 attempt(s)" in str(err.value)
    assert ext_api.token not in str(err.value)


def test_5xx_then_success_is_retried(api):
    route = api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT")
    route.side_effect = [
        httpx.Response(503, text="upstream proxy error"),
        httpx.Response(202, json=_started("ITEM_EQUIPMENT", RUN)),
    ]
    assert _trigger().run_id == RUN
    assert route.call_count == 2


def test_token_is_scrubbed_from_error_text(api, ext_api):
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").mock(
        side_effect=httpx.ConnectError(f"proxy said Bearer {ext_api.token}")
    )
    with pytest.raises(Unavailable) as err:
        _trigger()
    assert ext_api.token not in str(err.value)
    assert "***" in str(err.value)


def test_a_202_without_run_id_is_a_protocol_error(api):
    api.post("/api/internal/trigger/phase/ITEM_EQUIPMENT").respond(202, json={"status": "STARTED"})
    with pytest.raises(ProtocolError):
        _trigger()


def test_daily_202_returns_chain_id(api):
    route = api.post("/api/internal/trigger/daily").respond(
        202, json=_started("RANKING_FETCH", RUN, chainId="20260102-030000-chain-1a2b3c4d")
    )
    result = ExtApiHook().get_conn().trigger_daily(date=None, airflow_run_id=AF_ID)
    assert (result.chain_id, result.followed) == ("20260102-030000-chain-1a2b3c4d", False)
    assert route.calls.last.request.headers["X-Airflow-Run-Id"] == AF_ID
    assert "X-Upstream-Run-Id" not in route.calls.last.request.headers


def test_daily_409_held_by_a_one_shot_run_is_refused(api):
    api.post("/api/internal/trigger/daily").respond(
        409,
        json={"status": "ALREADY_RUNNING", "phase": "RANKING_FETCH", "runId": RUN, "chainId": None},
    )
    with pytest.raises(Conflict, match="ALREADY_RUNNING"):
        ExtApiHook().get_conn().trigger_daily(date=None, airflow_run_id=AF_ID)


def test_daily_409_without_chain_id_is_not_looked_up_as_a_run(api):
    # apiVersion 2: a daily 409 names the running chain in chainId; without one the
    # holder is a one-shot run (the real-app test: test_airflow_hook_daily_409.py).
    api.post("/api/internal/trigger/daily").respond(
        409,
        json={"status": "ALREADY_RUNNING", "phase": "OCID_LOOKUP", "runId": RUN, "chainId": None},
    )
    lookup = api.get(f"/api/internal/runs/{RUN}").respond(200, json={"chainId": "chain-42"})
    with pytest.raises(Conflict) as busy:
        ExtApiHook().get_conn().trigger_daily(date=None, airflow_run_id=AF_ID)
    assert busy.value.run_id == RUN
    assert not lookup.called


def test_daily_409_of_a_running_chain_is_followed(api):
    api.post("/api/internal/trigger/daily").respond(
        409,
        json={
            "status": "ALREADY_RUNNING",
            "phase": None,
            "runId": None,
            "chainId": "20260102-chain-9",
        },
    )
    result = ExtApiHook().get_conn().trigger_daily(date=None, airflow_run_id=AF_ID)
    assert (result.chain_id, result.followed) == ("20260102-chain-9", True)


def test_loop_202_and_loop_already_active_are_both_success(api):
    route = api.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    route.side_effect = [
        httpx.Response(
            202,
            json={
                "status": "LOOP_STARTED",
                "phase": "ITEM_EQUIPMENT",
                "loopId": "loop-1",
                "iterationCount": 0,
                "snapshotDate": "latest",
                "intervalSeconds": 5,
                "airflowRunId": AF_ID,
            },
        ),
        httpx.Response(
            409,
            json={"status": "LOOP_ALREADY_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": "loop-1"},
        ),
    ]
    client = ExtApiHook().get_conn()
    first = client.start_loop(Phase.ITEM_EQUIPMENT, interval_seconds=5, airflow_run_id=AF_ID)
    second = client.start_loop(Phase.ITEM_EQUIPMENT, interval_seconds=5, airflow_run_id=AF_ID)
    assert (first.loop_id, first.already_active) == ("loop-1", False)
    assert (second.loop_id, second.already_active) == ("loop-1", True)
    assert json.loads(route.calls[0].request.content) == {"intervalSeconds": 5}
    assert route.calls[0].request.headers["X-Airflow-Run-Id"] == AF_ID


def test_loop_409_already_running_is_refused(api):
    api.post("/api/internal/loop/phase/ITEM_EQUIPMENT").respond(
        409,
        json={
            "status": "ALREADY_RUNNING",
            "phase": "ITEM_EQUIPMENT",
            "runId": RUN,
            "chainId": None,
        },
    )
    with pytest.raises(Refused, match="ALREADY_RUNNING"):
        ExtApiHook().get_conn().start_loop(Phase.ITEM_EQUIPMENT, airflow_run_id=AF_ID)


def test_stop_202_and_not_running(api):
    route = api.post("/api/internal/stop/phase/OCID_LOOKUP")
    route.side_effect = [
        httpx.Response(
            202, json={"status": "STOP_REQUESTED", "phase": "OCID_LOOKUP", "runId": OCID_RUN}
        ),
        httpx.Response(
            200, json={"status": "NOT_RUNNING", "phase": "OCID_LOOKUP", "lastRunId": OCID_RUN}
        ),
    ]
    client = ExtApiHook().get_conn()
    first = client.stop_phase(Phase.OCID_LOOKUP, airflow_run_id=AF_ID)
    second = client.stop_phase(Phase.OCID_LOOKUP, airflow_run_id=AF_ID)
    assert (first.requested, first.run_id) == (True, OCID_RUN)
    assert (second.requested, second.last_run_id) == (False, OCID_RUN)
    assert all(c.request.headers["X-Airflow-Run-Id"] == AF_ID for c in route.calls)


def test_stop_loop_202_and_not_looping(api):
    route = api.post("/api/internal/stop/loop/phase/CHARACTER_BASIC")
    route.side_effect = [
        httpx.Response(
            202,
            json={
                "status": "STOP_REQUESTED",
                "phase": "CHARACTER_BASIC",
                "loopId": "loop-7",
                "runId": None,
            },
        ),
        httpx.Response(200, json={"status": "NOT_LOOPING", "phase": "CHARACTER_BASIC"}),
    ]
    client = ExtApiHook().get_conn()
    first = client.stop_loop(Phase.CHARACTER_BASIC, airflow_run_id=AF_ID)
    second = client.stop_loop(Phase.CHARACTER_BASIC, airflow_run_id=AF_ID)
    assert (first.requested, first.loop_id) == (True, "loop-7")
    assert second.requested is False


def test_get_run_and_404(api):
    api.get(f"/api/internal/runs/{RUN}").respond(200, json=run_json(RUN, status="RUNNING"))
    api.get("/api/internal/runs/nope").respond(404, json={"error": "RUN_NOT_FOUND"})
    assert ExtApiHook().get_conn().run(RUN).status == "RUNNING"
    with pytest.raises(Refused, match="RUN_NOT_FOUND"):
        ExtApiHook().get_conn().run("nope")


def test_get_run_refuses_an_id_that_is_not_a_service_id(api):
    with pytest.raises(ProtocolError):
        ExtApiHook().get_conn().run("../health")
    assert not api.calls


async def test_async_get_run_chain_and_status(api):
    api.get(f"/api/internal/runs/{RUN}").respond(200, json=run_json(RUN, status="COMPLETED"))
    api.get("/api/internal/chains/chain-1").respond(200, json=chain_json("chain-1", "RUNNING", {}))
    api.get("/api/internal/run-status").respond(200, json=run_status_json())
    client = await ExtApiHook().aget_conn()
    async with client:
        assert (await client.run(RUN)).status == "COMPLETED"
        assert (await client.chain("chain-1")).status == "RUNNING"
        assert all(run is None for run in (await client.run_status()).slots.values())


async def test_async_retries_then_unavailable(api, ext_api):
    route = api.get(f"/api/internal/runs/{RUN}").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(Unavailable, match=f"get run {RUN}"):
        async with await ExtApiHook().aget_conn() as client:
            await client.run(RUN)
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "body", "up", "version"),
    [
        (200, health_json("UP", api_version=1), True, 1),
        (503, health_json("DOWN", api_version=1), False, 1),
    ],
)
def test_health(api, status, body, up, version):
    api.get("/health").respond(status, json=body)
    health = ExtApiHook().get_conn().health()
    assert (health.status == "UP", health.api_version) == (up, version)


def test_health_is_not_retried_by_the_hook(api):
    route = api.get("/health").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Unavailable):
        ExtApiHook().get_conn().health()
    assert route.call_count == 1


def test_health_404_is_a_refusal(api):
    api.get("/health").respond(404, text="not found")
    with pytest.raises(Refused):
        ExtApiHook().get_conn().health()
