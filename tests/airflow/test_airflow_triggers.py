"""PhaseRunTrigger: JSON round trip, one event per run(), never raises (respx)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import respx

from maplecollect.airflow.triggers import PhaseRunTrigger
from support.bodies import chain_json, run_json, run_status_json

RUN = "20260102-030000-equip-ab12cd34"
CHAIN = "20260102-030000-chain-1a2b3c4d"


def _trigger(**kwargs):
    defaults = {
        "target": "run",
        "target_id": RUN,
        "poll_interval": 0.01,
        "max_consecutive_errors": 3,
    }
    return PhaseRunTrigger(**{**defaults, **kwargs})


async def _events(trigger):
    return [event.payload async for event in trigger.run()]


def _out(capfd):
    """Trigger logs (structlog) go to the process's stdout/stderr."""
    out, err = capfd.readouterr()
    return out + err


def _run(status, **extra):
    return run_json(RUN, "ITEM_EQUIPMENT", status, **extra)


@pytest.fixture
def api(ext_api):
    with respx.mock(base_url=ext_api.base_url, assert_all_called=False) as mock:
        yield mock


def test_serialize_round_trip_is_json_only():
    trigger = _trigger(end_at=1767300000.5, stop_expected=True, conn_id="other")
    classpath, kwargs = trigger.serialize()
    assert classpath == "maplecollect.airflow.triggers.PhaseRunTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = PhaseRunTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


async def test_success_after_running(api):
    route = api.get(f"/api/internal/runs/{RUN}")
    route.side_effect = [
        httpx.Response(200, json=_run("RUNNING")),
        httpx.Response(200, json=_run("STOPPING")),
        httpx.Response(200, json=_run("COMPLETED")),
    ]
    (event,) = await _events(_trigger())
    assert event["status"] == "success"
    assert event["runId"] == RUN
    assert event["run"]["status"] == "COMPLETED"
    assert route.call_count == 3


async def test_failed_run_carries_error_message(api):
    api.get(f"/api/internal/runs/{RUN}").respond(
        200, json=_run("FAILED", errorMessage="OPENAPI00002 no permission")
    )
    (event,) = await _events(_trigger())
    assert event["status"] == "failed"
    assert "OPENAPI00002 no permission" in event["message"]


async def test_stopped_is_failure_unless_expected(api):
    api.get(f"/api/internal/runs/{RUN}").respond(200, json=_run("STOPPED"))
    assert (await _events(_trigger()))[0]["status"] == "failed"
    assert (await _events(_trigger(stop_expected=True)))[0]["status"] == "success"


async def test_transient_errors_then_success(api):
    route = api.get(f"/api/internal/runs/{RUN}")
    # one poll = 3 attempts (hook retries 2): the first poll fails, the second succeeds
    route.side_effect = (
        [httpx.ConnectError("down")] * 3
        + [httpx.Response(502, text="bad gateway")] * 3
        + [httpx.Response(200, json=_run("COMPLETED"))]
    )
    (event,) = await _events(_trigger())
    assert event["status"] == "success"
    assert route.call_count == 7


async def test_too_many_transient_errors_give_an_error_event(api):
    api.get(f"/api/internal/runs/{RUN}").mock(side_effect=httpx.ConnectError("down"))
    (event,) = await _events(_trigger(max_consecutive_errors=2))
    assert event["status"] == "error"
    assert "2 failed polls" in event["message"]


async def test_unknown_run_is_an_error_event_at_once(api):
    route = api.get(f"/api/internal/runs/{RUN}").respond(
        404, json={"error": "RUN_NOT_FOUND", "runId": RUN}
    )
    (event,) = await _events(_trigger())
    assert event["status"] == "error"
    assert "RUN_NOT_FOUND" in event["message"]
    assert route.call_count == 1


async def test_timeout_event_with_the_last_run(api):
    api.get(f"/api/internal/runs/{RUN}").respond(200, json=_run("RUNNING"))
    started = time.monotonic()
    (event,) = await _events(_trigger(poll_interval=0.05, end_at=time.time() + 0.2))
    assert event["status"] == "timeout"
    assert event["run"]["status"] == "RUNNING"
    assert time.monotonic() - started < 2


async def test_chain_target(api):
    route = api.get(f"/api/internal/chains/{CHAIN}")
    route.side_effect = [
        httpx.Response(200, json=chain_json(CHAIN, "RUNNING", {})),
        httpx.Response(200, json=chain_json(CHAIN, "COMPLETED", {})),
    ]
    (event,) = await _events(_trigger(target="chain", target_id=CHAIN))
    assert (event["status"], event["chainId"], event["chain"]["status"]) == (
        "success",
        CHAIN,
        "COMPLETED",
    )


async def test_phase_idle_target(api):
    busy = run_status_json({"ITEM_EQUIPMENT": _run("STOPPING")})
    idle = run_status_json({"ITEM_EQUIPMENT": _run("STOPPED")})
    api.get("/api/internal/run-status").mock(
        side_effect=[httpx.Response(200, json=busy), httpx.Response(200, json=idle)]
    )
    (event,) = await _events(_trigger(target="phase_idle", target_id="ITEM_EQUIPMENT"))
    assert (event["status"], event["phase"], event["run"]["status"]) == (
        "success",
        "ITEM_EQUIPMENT",
        "STOPPED",
    )


async def test_run_never_raises(monkeypatch, api):
    trigger = _trigger()

    def broken_hook():
        raise RuntimeError("no connection configured")

    monkeypatch.setattr(trigger, "_hook", broken_hook)
    (event,) = await _events(trigger)
    assert event["status"] == "error"
    assert "no connection configured" in event["message"]


async def test_missing_connection_is_an_error_event(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_EXTERNAL_API", raising=False)
    (event,) = await _events(_trigger(conn_id="does_not_exist"))
    assert event["status"] == "error"


async def test_events_are_json_only(api):
    api.get(f"/api/internal/runs/{RUN}").respond(200, json=_run("COMPLETED"))
    (event,) = await _events(_trigger())
    assert json.loads(json.dumps(event)) == event


async def test_interrupted_is_waited_on_not_failed(api, capfd):
    route = api.get(f"/api/internal/runs/{RUN}")
    route.side_effect = [
        httpx.Response(200, json=_run("RUNNING")),
        httpx.Response(200, json=_run("INTERRUPTED")),
        httpx.Response(200, json=_run("INTERRUPTED")),
        httpx.Response(200, json=_run("RUNNING")),
        httpx.Response(200, json=_run("COMPLETED")),
    ]
    (event,) = await _events(_trigger())
    assert event["status"] == "success"
    assert route.call_count == 5
    assert "interrupted, waiting for auto-resume" in _out(capfd)


async def test_unreachable_for_a_bounded_time_is_ridden_out(api):
    route = api.get(f"/api/internal/runs/{RUN}")
    # five failed polls in a row (3 attempts each), inside unreachable_timeout
    route.side_effect = [httpx.ConnectError("down")] * 15 + [
        httpx.Response(200, json=_run("COMPLETED"))
    ]
    (event,) = await _events(_trigger(max_consecutive_errors=None, unreachable_timeout=60))
    assert event["status"] == "success"


async def test_unreachable_past_the_bound_gives_an_error_event(api):
    api.get(f"/api/internal/runs/{RUN}").mock(side_effect=httpx.ConnectError("down"))
    (event,) = await _events(
        _trigger(max_consecutive_errors=None, unreachable_timeout=0.05, poll_interval=0.02)
    )
    assert event["status"] == "error"
    assert "gave up:" in event["message"] and "still unreachable after" in event["message"]


def _progress_run(status, done, **extra):
    return _run(
        status,
        recordsProcessed=done,
        totalKeys=1000,
        recordsFailed=2,
        ratePerSecond=50.0,
        etaSeconds=123,
        **extra,
    )


async def test_progress_lines_on_state_change_and_every_interval(api, capfd):
    pause = {
        "code": "OPENAPI00007",
        "reason": "rate limited",
        "since": "2026-01-02T03:10:00+09:00",
        "until": None,
    }
    route = api.get(f"/api/internal/runs/{RUN}")
    route.side_effect = [
        httpx.Response(200, json=_progress_run("RUNNING", 100)),
        httpx.Response(200, json=_progress_run("RUNNING", 200)),  # no change, interval not due
        httpx.Response(200, json=_progress_run("RUNNING", 300, pause=pause)),  # pause: a change
        httpx.Response(200, json=_progress_run("COMPLETED", 1000)),
    ]
    (event,) = await _events(_trigger(progress_interval=3600))
    assert event["status"] == "success"
    out = _out(capfd)
    lines = [line for line in out.splitlines() if " records" in line]
    assert len(lines) == 2, lines
    for line, expected in zip(
        lines,
        [
            f"run {RUN}: run {RUN} (ITEM_EQUIPMENT) RUNNING: 100 / 1,000 records, 2 failed, "
            "50.0/s, ETA 2m03s",
            f"run {RUN}: run {RUN} (ITEM_EQUIPMENT) RUNNING: 300 / 1,000 records, 2 failed, "
            "50.0/s, ETA 2m03s, paused: OPENAPI00007 rate limited "
            "(since 2026-01-02T03:10:00+09:00)",
        ],
        strict=True,
    ):
        assert expected in line
    assert f"run {RUN}: run {RUN} (ITEM_EQUIPMENT) COMPLETED" in out


async def test_progress_line_every_interval_while_nothing_changes(api, capfd):
    route = api.get(f"/api/internal/runs/{RUN}")
    route.side_effect = [httpx.Response(200, json=_progress_run("RUNNING", 1))] * 3 + [
        httpx.Response(200, json=_progress_run("COMPLETED", 1000))
    ]
    # progress_interval 0: every poll is due, so each RUNNING poll logs a line
    (event,) = await _events(_trigger(progress_interval=0))
    assert event["status"] == "success"
    assert _out(capfd).count("RUNNING: 1 / 1,000 records") == 3


async def test_chain_progress_names_the_running_phase_run(api, capfd):
    running = _progress_run("RUNNING", 5)
    route = api.get(f"/api/internal/chains/{CHAIN}")
    route.side_effect = [
        httpx.Response(200, json=chain_json(CHAIN, "RUNNING", {"ITEM_EQUIPMENT": running})),
        httpx.Response(200, json=chain_json(CHAIN, "COMPLETED", {})),
    ]
    (event,) = await _events(_trigger(target="chain", target_id=CHAIN))
    assert event["status"] == "success"
    assert f"daily chain {CHAIN} RUNNING: run {RUN} (ITEM_EQUIPMENT) RUNNING: 5 / 1,000" in (
        _out(capfd)
    )
