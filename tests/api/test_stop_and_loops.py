"""Stop, loops and their failure handling (docs/control-api.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner
from support.service import RunningService


async def _status(svc: RunningService) -> dict[str, Any]:
    res = await svc.client.get("/api/internal/run-status")
    assert res.status_code == 200
    body: dict[str, Any] = res.json()
    return body


async def _wait_loop(
    svc: RunningService, phase: str, predicate: Any, within: float = 20
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            loop = (await _status(svc))["loopSummaries"][phase]
            if loop is not None and predicate(loop):
                return dict(loop)
            await asyncio.sleep(0.02)


async def _ocid_ready(svc: RunningService) -> str:
    ranking = await svc.complete("RANKING_FETCH")
    return await svc.complete("OCID_LOOKUP", upstream=ranking)


async def test_stop_then_next_run_is_not_stopped(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    phases[Phase.RANKING_FETCH].mode = "block"
    first = (await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")).json()["runId"]
    res = await svc.client.post("/api/internal/stop/phase/RANKING_FETCH")
    assert res.status_code == 202
    assert res.json() == {"status": "STOP_REQUESTED", "phase": "RANKING_FETCH", "runId": first}
    stopped = await svc.wait_run(first)
    assert stopped["status"] == "STOPPED"
    assert stopped["terminal"] is True
    # The stop flag died with that run: the next one runs to completion.
    phases[Phase.RANKING_FETCH].mode = "ok"
    second = await svc.complete("RANKING_FETCH")
    assert second != first


async def test_stop_of_idle_phase_is_not_running(svc: RunningService) -> None:
    res = await svc.client.post("/api/internal/stop/phase/OCID_LOOKUP")
    assert res.status_code == 200
    assert res.json() == {"status": "NOT_RUNNING", "phase": "OCID_LOOKUP", "lastRunId": None}
    ranking = await svc.complete("RANKING_FETCH")
    res = await svc.client.post("/api/internal/stop/phase/RANKING_FETCH")
    assert res.status_code == 200
    assert res.json()["lastRunId"] == ranking


async def test_loop_start_twice_and_stop(svc: RunningService) -> None:
    await _ocid_ready(svc)
    first = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert first.status_code == 202
    body = first.json()
    assert body["status"] == "LOOP_STARTED"
    assert body["iterationCount"] == 0
    assert body["snapshotDate"] == "latest"
    again = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert again.status_code == 409
    assert again.json() == {
        "status": "LOOP_ALREADY_ACTIVE",
        "phase": "ITEM_EQUIPMENT",
        "loopId": body["loopId"],
    }
    loop = await _wait_loop(svc, "ITEM_EQUIPMENT", lambda lp: lp["iterationCount"] >= 2)
    assert loop["loopId"] == body["loopId"]
    res = await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202
    assert res.json()["loopId"] == body["loopId"]
    loop = await _wait_loop(svc, "ITEM_EQUIPMENT", lambda lp: lp["status"] == "STOPPED")
    assert loop["stoppedAt"] is not None
    # Iterations were runs carrying the loop id.
    runs = (await svc.client.get("/api/internal/runs", params={"phase": "ITEM_EQUIPMENT"})).json()
    assert runs and all(r["loopId"] == body["loopId"] for r in runs)
    assert all(r["terminal"] for r in runs)
    res = await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 200
    assert res.json() == {"status": "NOT_LOOPING", "phase": "ITEM_EQUIPMENT"}


async def test_loop_routes_only_take_loopable_phases(svc: RunningService) -> None:
    for route in (
        "/api/internal/loop/phase/OCID_LOOKUP",
        "/api/internal/stop/loop/phase/RANKING_FETCH",
    ):
        res = await svc.client.post(route)
        assert res.status_code == 400
        assert res.json()["error"] == "INVALID_PHASE"
        assert res.json()["allowed"] == ["CHARACTER_BASIC", "ITEM_EQUIPMENT"]


async def test_loop_while_one_shot_runs_is_already_running(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    await _ocid_ready(svc)
    phases[Phase.CHARACTER_BASIC].mode = "block"
    run = await svc.client.post(
        "/api/internal/trigger/phase/CHARACTER_BASIC", headers={"X-Upstream-Run-Id": "latest"}
    )
    res = await svc.client.post("/api/internal/loop/phase/CHARACTER_BASIC")
    assert res.status_code == 409
    assert res.json() == {
        "status": "ALREADY_RUNNING",
        "phase": "CHARACTER_BASIC",
        "runId": run.json()["runId"],
        "chainId": None,
    }
    await svc.client.post("/api/internal/stop/phase/CHARACTER_BASIC")


async def test_loop_without_upstream_waits_then_runs(svc: RunningService) -> None:
    res = await svc.client.post("/api/internal/loop/phase/CHARACTER_BASIC")
    assert res.status_code == 202
    waiting = await _wait_loop(
        svc, "CHARACTER_BASIC", lambda lp: (lp["lastError"] or "").startswith("waiting")
    )
    assert waiting["status"] == "RUNNING"
    assert waiting["iterationCount"] == 0
    ocid = await _ocid_ready(svc)
    loop = await _wait_loop(svc, "CHARACTER_BASIC", lambda lp: lp["iterationCount"] >= 1)
    assert loop["status"] == "RUNNING"
    assert loop["lastError"] is None
    last = (await svc.client.get(f"/api/internal/runs/{loop['lastRunId']}")).json()
    assert last["upstreamRunId"] == ocid
    assert last["snapshotDate"] == "latest"
    # Stopping the phase stops its loop too.
    res = await svc.client.post("/api/internal/stop/phase/CHARACTER_BASIC")
    assert res.status_code == 202
    assert res.json()["loopId"] == loop["loopId"]
    await _wait_loop(svc, "CHARACTER_BASIC", lambda lp: lp["status"] == "STOPPED")


async def test_loop_stops_after_consecutive_failures(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    await _ocid_ready(svc)
    phases[Phase.ITEM_EQUIPMENT].mode = "fail"
    res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    loop = await _wait_loop(svc, "ITEM_EQUIPMENT", lambda lp: lp["status"] == "STOPPED")
    assert loop["loopId"] == res.json()["loopId"]
    assert loop["consecutiveFailures"] == 3
    assert loop["iterationCount"] == 3
    assert "3 consecutive failed iterations" in loop["lastError"]
    assert "OPENAPI00005" in loop["lastError"]
    assert len(phases[Phase.ITEM_EQUIPMENT].started) == 3


async def test_loop_recovers_from_a_failed_iteration(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    await _ocid_ready(svc)
    walker = phases[Phase.ITEM_EQUIPMENT]
    walker.mode = "fail"
    await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    await _wait_loop(svc, "ITEM_EQUIPMENT", lambda lp: lp["consecutiveFailures"] >= 1)
    walker.mode = "ok"
    loop = await _wait_loop(
        svc,
        "ITEM_EQUIPMENT",
        lambda lp: lp["consecutiveFailures"] == 0 and lp["iterationCount"] >= 2,
    )
    assert loop["status"] == "RUNNING"
    await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
    await _wait_loop(svc, "ITEM_EQUIPMENT", lambda lp: lp["status"] == "STOPPED")
