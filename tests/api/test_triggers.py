"""Phase triggers: validation, upstream rules, slots (docs/control-api.md)."""

from __future__ import annotations

import asyncio

import pytest

from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner
from support.service import RunningService

ALL = ["RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"]


@pytest.mark.parametrize("name", ["ranking_fetch", "Ranking_Fetch", "NOPE", "CHARACTER_BASIC_LOOP"])
async def test_unknown_or_lower_case_phase_is_invalid_phase(svc: RunningService, name: str) -> None:
    res = await svc.client.post(f"/api/internal/trigger/phase/{name}")
    assert res.status_code == 400
    body = res.json()
    assert body["error"] == "INVALID_PHASE"
    assert body["allowed"] == ALL
    assert body["phase"] == name


async def test_root_trigger_answers_started_with_the_held_slot(svc: RunningService) -> None:
    res = await svc.client.post(
        "/api/internal/trigger/phase/RANKING_FETCH",
        json={"date": "2026-01-05"},
        headers={"X-Airflow-Run-Id": "daily_collection_pipeline/manual__1/per_phase_trigger"},
    )
    assert res.status_code == 202
    body = res.json()
    assert body["status"] == "STARTED"
    assert body["phase"] == "RANKING_FETCH"
    assert body["upstreamRunId"] is None
    assert body["snapshotDate"] == "2026-01-05"
    assert body["airflowRunId"] == "daily_collection_pipeline/manual__1/per_phase_trigger"
    assert "-rank-" in body["runId"]
    # The slot was taken before the answer: the run is visible at once.
    status = (await svc.client.get("/api/internal/run-status")).json()
    assert status["slots"]["RANKING_FETCH"]["runId"] == body["runId"]
    run = await svc.wait_run(body["runId"])
    assert run["status"] == "COMPLETED"
    assert run["recordsProcessed"] == 20
    assert run["airflowRunId"] == body["airflowRunId"]


@pytest.mark.parametrize("phase", ["OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"])
async def test_non_root_without_upstream_is_missing_upstream(
    svc: RunningService, phase: str
) -> None:
    res = await svc.client.post(f"/api/internal/trigger/phase/{phase}")
    assert res.status_code == 400
    body = res.json()
    assert body["error"] == "MISSING_UPSTREAM"
    assert body["phase"] == phase
    assert body["upstreamPhase"] == Phase(phase).upstream.value  # type: ignore[union-attr]


async def test_root_phase_refuses_an_upstream(svc: RunningService) -> None:
    res = await svc.client.post(
        "/api/internal/trigger/phase/RANKING_FETCH", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 400
    assert res.json()["error"] == "UPSTREAM_NOT_ALLOWED"


async def test_upstream_errors(svc: RunningService, phases: dict[Phase, WalkerRunner]) -> None:
    ranking = await svc.complete("RANKING_FETCH")
    # Wrong phase: a RANKING run cannot feed CHARACTER_BASIC.
    res = await svc.client.post(
        "/api/internal/trigger/phase/CHARACTER_BASIC", headers={"X-Upstream-Run-Id": ranking}
    )
    assert res.status_code == 400
    assert res.json()["error"] == "UPSTREAM_PHASE_MISMATCH"
    assert res.json()["upstreamPhase"] == "RANKING_FETCH"
    # Unknown run.
    res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP",
        headers={"X-Upstream-Run-Id": "20260101-000000-rank-deadbeef"},
    )
    assert res.status_code == 404
    assert res.json()["error"] == "UPSTREAM_NOT_FOUND"
    assert res.json()["upstreamRunId"] == "20260101-000000-rank-deadbeef"
    # Malformed id.
    res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": "../etc/passwd"}
    )
    assert res.status_code == 400
    assert res.json()["error"] == "INVALID_RUN_ID"
    # Not completed: a blocked ranking run.
    phases[Phase.RANKING_FETCH].mode = "block"
    res = await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")
    running = res.json()["runId"]
    res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": running}
    )
    assert res.status_code == 409
    assert res.json()["error"] == "UPSTREAM_NOT_COMPLETED"
    assert res.json()["upstreamStatus"] == "RUNNING"
    await svc.client.post("/api/internal/stop/phase/RANKING_FETCH")
    await svc.wait_run(running)


async def test_latest_resolves_to_newest_completed_upstream(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 404
    assert res.json()["error"] == "UPSTREAM_NOT_FOUND"
    first = await svc.complete("RANKING_FETCH")
    second = await svc.complete("RANKING_FETCH")
    assert first != second
    res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 202
    assert res.json()["upstreamRunId"] == second
    await svc.wait_run(res.json()["runId"])
    assert phases[Phase.OCID_LOOKUP].seen_upstreams == [second]


async def test_fifty_concurrent_triggers_start_exactly_one(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    phases[Phase.RANKING_FETCH].mode = "block"
    results = await asyncio.gather(
        *(svc.client.post("/api/internal/trigger/phase/RANKING_FETCH") for _ in range(50))
    )
    started = [r for r in results if r.status_code == 202]
    conflicts = [r for r in results if r.status_code == 409]
    assert len(started) == 1
    assert len(conflicts) == 49
    winner = started[0].json()["runId"]
    assert {r.json()["status"] for r in conflicts} == {"ALREADY_RUNNING"}
    assert {r.json()["runId"] for r in conflicts} == {winner}
    assert phases[Phase.RANKING_FETCH].started == [winner]
    await svc.client.post("/api/internal/stop/phase/RANKING_FETCH")
    assert (await svc.wait_run(winner))["status"] == "STOPPED"


async def test_trigger_while_loop_holds_phase_is_loop_active(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    # No OCID run exists: the loop waits, but it holds the phase.
    res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202
    loop_id = res.json()["loopId"]
    ranking = await svc.complete("RANKING_FETCH")
    ocid_res = await svc.client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": ranking}
    )
    await svc.wait_run(ocid_res.json()["runId"])
    res = await svc.client.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 409
    assert res.json() == {"status": "LOOP_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": loop_id}
    assert (
        await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
    ).status_code == 202


async def test_bad_inputs_get_precise_400s(svc: RunningService) -> None:
    post = svc.client.post
    cases = [
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": "2026-13-01"}),
            "INVALID_DATE",
        ),
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": "yesterday"}),
            "INVALID_DATE",
        ),
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": "2020-01-01"}),
            "INVALID_DATE",
        ),
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": "2999-01-01"}),
            "INVALID_DATE",
        ),
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"bogus": 1}),
            "INVALID_REQUEST",
        ),
        (
            await post("/api/internal/trigger/phase/RANKING_FETCH", json={"intervalSeconds": 5}),
            "INVALID_REQUEST",
        ),
        (
            await post(
                "/api/internal/trigger/phase/RANKING_FETCH",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            "INVALID_REQUEST",
        ),
        (
            await post(
                "/api/internal/trigger/phase/RANKING_FETCH", headers={"X-Airflow-Run-Id": "x" * 251}
            ),
            "INVALID_HEADER",
        ),
        (
            await post("/api/internal/loop/phase/ITEM_EQUIPMENT", json={"intervalSeconds": -1}),
            "INVALID_REQUEST",
        ),
        (await svc.client.get("/api/internal/runs", params={"status": "DONE"}), "INVALID_STATUS"),
        (await svc.client.get("/api/internal/runs", params={"phase": "ocid"}), "INVALID_PHASE"),
        (await svc.client.get("/api/internal/runs", params={"limit": 0}), "INVALID_REQUEST"),
        (await svc.client.get("/api/internal/runs/bad%20id"), "INVALID_RUN_ID"),
    ]
    for res, code in cases:
        assert res.status_code == 400, (code, res.text)
        assert res.json()["error"] == code, res.text
        assert res.json()["message"]
    # Nothing was started by any of them.
    status = (await svc.client.get("/api/internal/run-status")).json()
    assert all(v is None for v in status["slots"].values())


async def test_unknown_run_is_404(svc: RunningService) -> None:
    res = await svc.client.get("/api/internal/runs/20260101-000000-rank-00000000")
    assert res.status_code == 404
    assert res.json()["error"] == "RUN_NOT_FOUND"
    res = await svc.client.get("/api/internal/chains/20260101-000000-daily-00000000")
    assert res.status_code == 404
    assert res.json()["error"] == "CHAIN_NOT_FOUND"
