"""Client commands against a served control API (test-double phases, real HTTP)."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Request

from cli.clitools import invoke
from maplecollect.console.service_thread import serve_in_thread
from support.fake_phases import walkers
from support.procs import start_fake_service
from support.service import fast_settings


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `serve_fake.py` services (the real app, walker phases) in subprocesses."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*modes: str) -> str:
        data = tmp_path / f"svc{len(procs)}"
        data.mkdir()
        proc, url = start_fake_service(data, *modes)
        procs.append(proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


def _until(what: str, check: Callable[[], Any], within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen")


def test_daily_phases_loops_and_stops(cli: Any, served: Callable[..., str]) -> None:
    url = ["--url", served()]
    status = cli(["status", "--json", *url])
    assert status.code == 0
    early = cli(["trigger", "CHARACTER_BASIC", *url])
    assert early.code == 1
    assert "no COMPLETED OCID_LOOKUP run yet" in early.err_lines[0]
    assert set(status.json["slots"]) == {
        "RANKING_FETCH",
        "OCID_LOOKUP",
        "CHARACTER_BASIC",
        "ITEM_EQUIPMENT",
    }
    assert all(v is None for v in status.json["slots"].values())

    daily = cli(["trigger", "daily", "--wait", *url])
    assert daily.code == 0, daily.stderr
    assert "COMPLETED" in daily.stdout

    history = cli(["runs", "--json", *url])
    assert history.code == 0
    assert sorted(r["phase"] for r in history.json) == sorted(
        ["RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"]
    )
    assert {r["status"] for r in history.json} == {"COMPLETED"}
    assert len({r["chainId"] for r in history.json}) == 1

    # One phase again, fed by the newest COMPLETED upstream (the default --upstream latest).
    basic = cli(["trigger", "CHARACTER_BASIC", "--wait", "--json", *url])
    assert basic.code == 0, basic.stderr
    assert basic.json["status"] == "COMPLETED"
    ocid = next(r for r in history.json if r["phase"] == "OCID_LOOKUP")
    assert basic.json["upstreamRunId"] == ocid["runId"]

    detail = cli(["runs", basic.json["runId"], *url])
    assert detail.code == 0
    assert basic.json["runId"] in detail.stdout and "COMPLETED" in detail.stdout

    started = cli(["loop", "ITEM_EQUIPMENT", "--interval", "0", "--json", *url])
    assert started.code == 0
    assert started.json["status"] == "LOOP_STARTED"
    loop_id = started.json["loopId"]
    again = cli(["loop", "ITEM_EQUIPMENT", *url])
    assert again.code == 0
    assert f"already looping (loop {loop_id})" in again.stdout
    busy = cli(["trigger", "ITEM_EQUIPMENT", *url])
    assert busy.code == 1
    assert busy.err_lines == [busy.err_lines[0]]
    assert f"held by loop {loop_id}" in busy.err_lines[0]

    def iterated() -> bool:
        loops = cli(["status", "--json", *url]).json["loopSummaries"]
        return int(loops["ITEM_EQUIPMENT"]["iterationCount"]) >= 1

    _until("a loop iteration", iterated)
    stopped = cli(["stop-loop", "ITEM_EQUIPMENT", "--wait", *url])
    assert stopped.code == 0, stopped.stderr
    assert f"loop {loop_id} STOPPED" in stopped.stdout
    assert "not looping" in cli(["stop-loop", "ITEM_EQUIPMENT", *url]).stdout
    idle = cli(["stop", "RANKING_FETCH", *url])
    assert idle.code == 0
    assert "RANKING_FETCH is not running" in idle.stdout

    table = cli(["status", *url])
    assert table.code == 0
    for phase in ("RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"):
        assert phase in table.stdout
    assert "STOPPED" in table.stdout

    loop_runs = cli(["runs", "--phase", "ITEM_EQUIPMENT", "--json", "--limit", "500", *url])
    assert {r["loopId"] for r in loop_runs.json if r["loopId"]} == {loop_id}
    assert "via" in cli(["runs", *url]).stdout


def test_trigger_stop_and_resume(cli: Any, served: Callable[..., str]) -> None:
    blocking = ["--url", served("RANKING_FETCH=block")]
    first = cli(["trigger", "RANKING_FETCH", "--json", *blocking])
    assert first.code == 0
    run_id = first.json["runId"]
    assert first.json["status"] == "STARTED"
    again = cli(["trigger", "RANKING_FETCH", *blocking])
    assert again.code == 1
    assert again.err_lines == [
        f"error: not started: RANKING_FETCH is already running (run {run_id})"
    ]
    daily = cli(["trigger", "daily", *blocking])
    assert daily.code == 1 and run_id in daily.err_lines[0]

    stop = cli(["stop", "RANKING_FETCH", "--wait", *blocking])
    assert stop.code == 0
    assert f"stop requested for RANKING_FETCH run {run_id}" in stop.stdout
    assert f"run {run_id} ended STOPPED" in stop.stdout
    shown = cli(["runs", run_id, "--json", *blocking]).json
    assert shown["status"] == "STOPPED" and shown["manifestPath"] is None  # no finalizer
    not_resumable = cli(["resume", run_id, *blocking])
    assert not_resumable.code == 1
    assert "NOT_RESUMABLE" in not_resumable.err_lines[0]
    unknown = cli(["resume", "20260101-000000-rank-00000000", *blocking])
    assert unknown.code == 1 and "RUN_NOT_FOUND" in unknown.err_lines[0]

    failing = ["--url", served("RANKING_FETCH=fail")]
    failed = cli(["trigger", "RANKING_FETCH", "--wait", *failing])
    assert failed.code == 1
    assert "ended FAILED" in failed.err_lines[-1]
    assert "OPENAPI00005" in failed.err_lines[-1]
    failed_id = cli(["runs", "--status", "FAILED", "--json", *failing]).json[0]["runId"]
    resumed = cli(["resume", failed_id, "--json", *failing])
    assert resumed.code == 0, resumed.stderr
    assert resumed.json["status"] == "RESUMED" and resumed.json["runId"] == failed_id
    assert resumed.json["resumeCount"] == 1
    run = _until(
        "the resumed run to end",
        lambda: (r := cli(["runs", failed_id, "--json", *failing]).json)["terminal"] and r,
    )
    assert run["status"] == "FAILED" and run["resumeCount"] == 1


def test_smoke_check(cli: Any, served: Callable[..., str]) -> None:
    url = ["--url", served()]
    # A fresh installation has no OCID_LOOKUP run: the loop step says so and cleans up.
    fresh = cli(["smoke", "--timeout", "60", *url])
    assert fresh.code == 1
    assert fresh.err_lines[-1].startswith("error: smoke check failed at step 'loop ITEM_EQUIPMENT'")
    assert "no COMPLETED OCID_LOOKUP" in fresh.err_lines[-1]
    assert "cleanup: stop requested for loop" in fresh.stdout
    _until(
        "the smoke loop to be STOPPED",
        lambda: (
            cli(["status", "--json", *url]).json["loopSummaries"]["ITEM_EQUIPMENT"]["status"]
            == "STOPPED"
        ),
    )

    assert cli(["trigger", "daily", "--wait", *url]).code == 0
    ok = cli(["smoke", "--timeout", "60", *url])
    assert ok.code == 0, ok.stdout + ok.stderr
    for step in (
        "health",
        "trigger RANKING_FETCH",
        "loop ITEM_EQUIPMENT",
        "stop-loop",
        "idle-stop",
    ):
        assert f"ok   {step}" in ok.stdout
    assert "smoke check passed" in ok.stdout
    status = cli(["status", "--json", *url]).json
    assert status["loopSummaries"]["ITEM_EQUIPMENT"]["status"] == "STOPPED"
    assert all(r is None or r["terminal"] for r in status["slots"].values())

    failing = ["--url", served("RANKING_FETCH=fail")]
    broken = cli(["smoke", "--timeout", "60", *failing])
    assert broken.code == 1
    assert "smoke check failed at step 'trigger RANKING_FETCH'" in broken.err_lines[-1]


def test_token_is_sent_and_never_printed(tmp_path: Path, clean_env: None) -> None:
    token = "s3cret-token-value"
    settings = fast_settings(tmp_path, api_token=token)
    with serve_in_thread(settings, runners=walkers()) as url:
        refused = invoke(["status", "--url", url])
        assert refused.code == 1
        assert "refused the token" in refused.err_lines[0]
        wrong = invoke(["runs", "--url", url, "--token", "nope"])
        assert wrong.code == 1
        by_flag = invoke(["status", "--url", url, "--token", token, "--json"])
        assert by_flag.code == 0
        by_env = invoke(
            ["trigger", "daily", "--wait", "--url", url], env={"MAPLECOLLECT_API_TOKEN": token}
        )
        assert by_env.code == 0, by_env.stderr
        for ran in (refused, wrong, by_flag, by_env):
            assert token not in ran.stdout + ran.stderr


def _fake_airflow(seen: list[dict[str, Any]]) -> FastAPI:
    """Just enough of the Airflow 3 REST API v2 for the smoke check."""
    app = FastAPI()

    def authorized(request: Request) -> None:
        if request.headers.get("authorization") != "Bearer jwt-for-test":
            raise HTTPException(401)

    @app.post("/auth/token", status_code=201)
    async def token(request: Request) -> dict[str, str]:
        body = await request.json()
        if body != {"username": "admin", "password": "pw-not-printed"}:
            raise HTTPException(401)
        return {"access_token": "jwt-for-test"}

    @app.get("/api/v2/dags/{dag_id}")
    async def dag(dag_id: str, request: Request) -> dict[str, Any]:
        authorized(request)
        return {"dag_id": dag_id, "is_paused": False}

    @app.post("/api/v2/dags/{dag_id}/dagRuns")
    async def trigger(dag_id: str, request: Request) -> dict[str, Any]:
        authorized(request)
        body = await request.json()
        seen.append(body)
        if body["conf"].get("scope") == "NOT_A_PHASE":
            raise HTTPException(400, "Invalid input for param scope")
        return {"dag_run_id": f"manual__{len(seen)}", "state": "queued"}

    @app.get("/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    async def dag_run(dag_id: str, run_id: str, request: Request) -> dict[str, Any]:
        authorized(request)
        return {"dag_run_id": run_id, "state": "success"}

    return app


@contextlib.contextmanager
def _serve_thread(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _until("the fake Airflow to start", lambda: server.started)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_smoke_check_with_airflow(served: Callable[..., str], clean_env: None) -> None:
    url = ["--url", served()]
    assert invoke(["trigger", "daily", "--wait", *url]).code == 0
    seen: list[dict[str, Any]] = []
    with _serve_thread(_fake_airflow(seen)) as airflow:
        flags = ["--airflow-url", airflow, "--airflow-user", "admin"]
        ok = invoke(["smoke", *url, *flags, "--airflow-password", "pw-not-printed"])
        assert ok.code == 0, ok.stdout + ok.stderr
        for step in (
            "airflow-login",
            "airflow-dag",
            "airflow-invalid-scope",
            "airflow-valid-scope",
        ):
            assert f"ok   {step}" in ok.stdout
        assert [b["conf"] for b in seen] == [
            {"scope": "NOT_A_PHASE"},
            {"scope": ["ITEM_EQUIPMENT_STOP_LOOP"]},
        ]
        bad = invoke(["smoke", *url, *flags, "--airflow-password", "wrong"])
        assert bad.code == 1
        assert "step 'airflow-login'" in bad.err_lines[-1]
        for ran in (ok, bad):
            assert "pw-not-printed" not in ran.stdout + ran.stderr
