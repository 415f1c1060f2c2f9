"""run-status, chains, resume, auth and restarts (docs/control-api.md)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner, walkers
from support.procs import start_fake_service
from support.service import RunningService, fast_settings, serve

PHASES = ["RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"]


async def test_run_status_shape_when_empty(svc: RunningService) -> None:
    body = (await svc.client.get("/api/internal/run-status")).json()
    assert set(body) == {
        "slots",
        "lastCompletedByPhase",
        "current",
        "lastCompleted",
        "loopSummaries",
    }
    for key in ("slots", "lastCompletedByPhase", "loopSummaries"):
        assert list(body[key]) == PHASES
        assert all(v is None for v in body[key].values())


async def test_failed_runs_stay_visible(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    phases[Phase.RANKING_FETCH].mode = "fail"
    res = await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")
    run_id = res.json()["runId"]
    failed = await svc.wait_run(run_id)
    assert failed["status"] == "FAILED"
    assert "OPENAPI00005" in failed["errorMessage"]
    assert failed["recordsProcessed"] == 2
    body = (await svc.client.get("/api/internal/run-status")).json()
    assert body["slots"]["RANKING_FETCH"]["runId"] == run_id
    assert body["slots"]["RANKING_FETCH"]["status"] == "FAILED"
    assert body["lastCompletedByPhase"]["RANKING_FETCH"]["runId"] == run_id
    assert body["lastCompleted"]["runId"] == run_id
    assert body["current"] is None
    # Numbers are numbers.
    slot = body["slots"]["RANKING_FETCH"]
    assert isinstance(slot["recordsProcessed"], int)
    assert isinstance(slot["totalKeys"], int)


async def test_resume_failed_run_keeps_run_id(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    walker = phases[Phase.RANKING_FETCH]
    walker.mode = "fail"
    run_id = (await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")).json()["runId"]
    await svc.wait_run(run_id)
    walker.mode = "ok"
    res = await svc.client.post(f"/api/internal/resume/run/{run_id}")
    assert res.status_code == 202
    assert res.json()["status"] == "RESUMED"
    assert res.json()["runId"] == run_id
    run = await svc.wait_run(run_id)
    assert run["status"] == "COMPLETED"
    assert run["resumeCount"] == 1
    assert run["recordsProcessed"] == walker.keys  # continued, not restarted
    assert walker.started == [run_id, run_id]
    res = await svc.client.post(f"/api/internal/resume/run/{run_id}")
    assert res.status_code == 409
    assert res.json()["error"] == "NOT_RESUMABLE"
    assert res.json()["runStatus"] == "COMPLETED"
    res = await svc.client.post("/api/internal/resume/run/20260101-000000-rank-00000000")
    assert res.status_code == 404


async def test_daily_chain_runs_every_phase_with_lineage(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    res = await svc.client.post(
        "/api/internal/trigger/daily",
        json={"date": "2026-01-05"},
        headers={"X-Airflow-Run-Id": "d/r/t"},
    )
    assert res.status_code == 202
    body = res.json()
    assert body["status"] == "STARTED"
    chain_id = body["chainId"]
    again = await svc.client.post("/api/internal/trigger/daily")
    assert again.status_code == 409
    assert again.json()["status"] == "ALREADY_RUNNING"
    chain = await _wait_chain(svc, chain_id)
    assert chain["status"] == "COMPLETED"
    runs = chain["runs"]
    assert list(runs) == PHASES
    assert all(r["status"] == "COMPLETED" and r["chainId"] == chain_id for r in runs.values())
    assert all(
        r["snapshotDate"] == "2026-01-05" and r["airflowRunId"] == "d/r/t" for r in runs.values()
    )
    assert runs["RANKING_FETCH"]["runId"] == body["runId"]
    assert runs["OCID_LOOKUP"]["upstreamRunId"] == runs["RANKING_FETCH"]["runId"]
    assert runs["CHARACTER_BASIC"]["upstreamRunId"] == runs["OCID_LOOKUP"]["runId"]
    assert runs["ITEM_EQUIPMENT"]["upstreamRunId"] == runs["OCID_LOOKUP"]["runId"]


async def test_daily_chain_stops_at_first_failed_phase(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    phases[Phase.OCID_LOOKUP].mode = "fail"
    chain_id = (await svc.client.post("/api/internal/trigger/daily")).json()["chainId"]
    chain = await _wait_chain(svc, chain_id)
    assert chain["status"] == "FAILED"
    assert "OCID_LOOKUP" in chain["errorMessage"]
    assert list(chain["runs"]) == ["RANKING_FETCH", "OCID_LOOKUP"]
    assert phases[Phase.CHARACTER_BASIC].started == []


async def test_daily_refused_while_a_phase_is_busy(
    svc: RunningService, phases: dict[Phase, WalkerRunner]
) -> None:
    ranking = await svc.complete("RANKING_FETCH")
    phases[Phase.OCID_LOOKUP].mode = "block"
    busy = (
        await svc.client.post(
            "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": ranking}
        )
    ).json()["runId"]
    res = await svc.client.post("/api/internal/trigger/daily")
    assert res.status_code == 409
    assert res.json() == {
        "status": "ALREADY_RUNNING",
        "phase": "OCID_LOOKUP",
        "runId": busy,
        "chainId": None,
    }
    await svc.client.post("/api/internal/stop/phase/OCID_LOOKUP")


async def _wait_chain(svc: RunningService, chain_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            res = await svc.client.get(f"/api/internal/chains/{chain_id}")
            assert res.status_code == 200
            if res.json()["status"] != "RUNNING":
                return dict(res.json())
            await asyncio.sleep(0.02)


async def test_runs_history_newest_first_with_filters(svc: RunningService) -> None:
    first = await svc.complete("RANKING_FETCH")
    second = await svc.complete("RANKING_FETCH")
    runs = (await svc.client.get("/api/internal/runs", params={"phase": "RANKING_FETCH"})).json()
    assert [r["runId"] for r in runs] == [second, first]
    one = (await svc.client.get("/api/internal/runs", params={"limit": 1})).json()
    assert [r["runId"] for r in one] == [second]
    none = (await svc.client.get("/api/internal/runs", params={"status": "FAILED"})).json()
    assert none == []


async def test_health_is_open_and_metrics_need_the_token(tmp_path: Path, clean_env: None) -> None:
    settings = fast_settings(tmp_path, api_token="s3cret-token-value")
    async with serve(settings, walkers()) as svc:
        health = await svc.client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "UP" and body["database"] == "UP"
        assert isinstance(body["apiVersion"], int)
        assert (await svc.client.get("/metrics")).status_code == 401
        metrics = await svc.client.get(
            "/metrics", headers={"Authorization": "Bearer s3cret-token-value"}
        )
        assert metrics.status_code == 200
        assert "maplecollect_active_runs" in metrics.text
        assert "s3cret-token-value" not in metrics.text


async def test_bearer_token_is_required_on_internal_routes(tmp_path: Path, clean_env: None) -> None:
    settings = fast_settings(tmp_path, api_token="s3cret-token-value")
    async with serve(settings, walkers()) as svc:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret-token-value"},
        ):
            res = await svc.client.get("/api/internal/run-status", headers=headers)
            assert res.status_code == 401
            assert res.json()["error"] == "UNAUTHORIZED"
            assert "s3cret" not in res.text
            res = await svc.client.post(
                "/api/internal/trigger/phase/RANKING_FETCH", headers=headers
            )
            assert res.status_code == 401
        ok = await svc.client.get(
            "/api/internal/run-status", headers={"Authorization": "Bearer s3cret-token-value"}
        )
        assert ok.status_code == 200


async def test_state_survives_an_app_restart(tmp_path: Path, clean_env: None) -> None:
    settings = fast_settings(tmp_path)
    phases = walkers()
    phases[Phase.RANKING_FETCH].mode = "fail"
    async with serve(settings, phases) as svc:
        failed = (await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")).json()[
            "runId"
        ]
        await svc.wait_run(failed)
    async with serve(settings, walkers()) as svc:
        body = (await svc.client.get("/api/internal/run-status")).json()
        assert body["lastCompletedByPhase"]["RANKING_FETCH"]["runId"] == failed
        assert body["lastCompletedByPhase"]["RANKING_FETCH"]["status"] == "FAILED"
        # Restart never starts anything by itself.
        assert all(v is None or v["terminal"] for v in body["slots"].values())
        assert len((await svc.client.get("/api/internal/runs")).json()) == 1


def _wait_for(url: str, path: str, predicate: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = httpx.get(f"{url}{path}", timeout=5)
        if res.status_code == 200 and predicate(res.json()):
            return dict(res.json())
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {path}")


@pytest.mark.slow
def test_killed_process_run_becomes_abandoned_and_resumes(tmp_path: Path) -> None:
    manual = {"MAPLECOLLECT_AUTO_RESUME": "0"}
    proc, url = start_fake_service(tmp_path, "RANKING_FETCH=block", env=manual)
    try:
        run_id = httpx.post(f"{url}/api/internal/trigger/phase/RANKING_FETCH").json()["runId"]
        _wait_for(url, f"/api/internal/runs/{run_id}", lambda r: r["recordsProcessed"] >= 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc, url = start_fake_service(tmp_path, env=manual)
    try:
        run = httpx.get(f"{url}/api/internal/runs/{run_id}").json()
        assert run["status"] == "ABANDONED"
        assert "resume" in run["errorMessage"]
        assert run["recordsProcessed"] >= 5
        before = run["recordsProcessed"]
        res = httpx.post(f"{url}/api/internal/resume/run/{run_id}")
        assert res.status_code == 202
        done = _wait_for(url, f"/api/internal/runs/{run_id}", lambda r: r["terminal"])
        assert done["status"] == "COMPLETED"
        assert done["runId"] == run_id
        # The resumed walker continues from the recorded progress up to its 20 keys.
        assert done["recordsProcessed"] == max(20, before)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_killed_process_run_is_resumed_automatically_by_the_next_process(tmp_path: Path) -> None:
    proc, url = start_fake_service(tmp_path, "RANKING_FETCH=block")
    try:
        run_id = httpx.post(f"{url}/api/internal/trigger/phase/RANKING_FETCH").json()["runId"]
        _wait_for(url, f"/api/internal/runs/{run_id}", lambda r: r["recordsProcessed"] >= 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc, url = start_fake_service(tmp_path)
    try:
        # The new process sees the owner is dead, takes the run over (same runId,
        # next lease epoch) and finishes it; nobody calls resume.
        done = _wait_for(url, f"/api/internal/runs/{run_id}", lambda r: r["terminal"])
        assert done["status"] == "COMPLETED", done
        assert done["resumeCount"] == 1
        assert done["recordsProcessed"] >= 20
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_health_reports_a_database_outage(tmp_path: Path, clean_env: None) -> None:
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.repository import Repository

    async with serve(fast_settings(tmp_path), walkers()) as svc:
        healthy = svc.app.state.repo
        # Point the service at a database that does not answer (nothing listens on port 9).
        dead = create_async_db_engine("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
        svc.app.state.repo = Repository(dead)
        try:
            res = await svc.client.get("/health")
            assert res.status_code == 503
            assert res.json()["status"] == "DOWN"
            assert res.json()["database"] == "DOWN"
            assert "nobody" not in res.text
        finally:
            svc.app.state.repo = healthy
            await dead.dispose()
        assert (await svc.client.get("/health")).status_code == 200
