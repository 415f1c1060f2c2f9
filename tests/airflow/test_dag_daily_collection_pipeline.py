"""dags/daily_collection_pipeline.py: imports cleanly, has the documented shape, and
runs under `dag.test()` against the REAL control API on 127.0.0.1: the app of
`maplecollect serve` (bearer token on) under uvicorn in a thread, with fast test-double
phases (`support.fake_phases`) instead of collecting from the simulator (that is
test_dag_integration.py). Real HTTP, real Airflow task runner and inline triggers.
A small ASGI middleware records every request the DAG sends (method, path, headers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import runpy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from maplecollect.airflow import pipeline as pl
from maplecollect.client.endpoint import Endpoint
from maplecollect.client.sync import ControlClient
from maplecollect.client.waiting import Patience
from maplecollect.console.service_thread import serve_in_thread
from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner, walkers
from support.service import fast_settings

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "daily_collection_pipeline.py"
TOKEN = "dag-test-token-0123456789"

PER_PHASE_IDS = list(pl.PER_PHASE_TASKS)
STEP_IDS = [pl.STEPS_TASK]


def _load_dag() -> Any:
    return runpy.run_path(str(DAG_FILE))["dag"]


# -- import and shape ------------------------------------------------------------


def test_dagbag_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE.parent))
    assert bag.import_errors == {}
    assert "daily_collection_pipeline" in bag.dags


def test_schedule_and_task_ids():
    dag = _load_dag()
    assert dag.dag_id == "daily_collection_pipeline"
    # 03:00 KST = 18:00 UTC; the data interval is the day before (its KST day = snapshot)
    assert dag.timetable.expression == "0 3 * * *"
    assert str(dag.timetable.timezone) in ("Asia/Seoul", "Timezone('Asia/Seoul')")
    assert dag.catchup is False
    assert dag.is_paused_upon_creation is True
    assert set(dag.task_ids) == {
        "check_external_api",
        "branch_on_scope",
        "trigger_daily_collection",
        "wait_for_daily_chain",
        *PER_PHASE_IDS,
        "run_steps",
    }
    assert len(PER_PHASE_IDS) == 16


def test_wiring_and_trigger_rules():
    dag = _load_dag()
    branch = dag.get_task("branch_on_scope")
    assert dag.get_task("check_external_api").downstream_task_ids == {"branch_on_scope"}
    # the branch reaches every path task directly, so it skips any of them at once
    assert branch.downstream_task_ids == set(pl.PATH_TASKS) - {"wait_for_daily_chain"}
    # every per-phase task runs after ALL earlier ones: order holds whatever is skipped
    for i, task_id in enumerate(PER_PHASE_IDS):
        task = dag.get_task(task_id)
        assert task.upstream_task_ids == {"branch_on_scope", *PER_PHASE_IDS[:i]}, task_id
        assert task.trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("wait_for_daily_chain").upstream_task_ids == {"trigger_daily_collection"}
    assert dag.get_task("run_steps").upstream_task_ids == {"branch_on_scope"}
    assert dag.get_task("run_steps").retries == 0


def test_wait_tasks_declare_their_assets():
    dag = _load_dag()
    wait = dag.get_task("per_phase_wait_item_equipment_completion")
    assert [a.name for a in wait.outlets] == ["maplecollect://item-equipment"]
    chain = dag.get_task("wait_for_daily_chain")
    assert [a.name for a in chain.outlets] == [
        "maplecollect://ranking-fetch",
        "maplecollect://ocid-lookup",
        "maplecollect://character-basic",
        "maplecollect://item-equipment",
    ]


def test_sensors_defer_retry_and_use_phase_timeouts(monkeypatch):
    monkeypatch.setenv("MAPLECOLLECT_AIRFLOW_TIMEOUT_ITEM_EQUIPMENT", "1234")
    dag = _load_dag()
    wait = dag.get_task("per_phase_wait_item_equipment_completion")
    assert wait.deferrable is True and wait.retries >= 1
    assert wait.timeout == 1234
    assert dag.get_task("check_external_api").mode == "reschedule"


# -- dag.test against the real control API ---------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: httpx.Headers


class Service:
    """The real app with test-double phases; `requests` is what reached it, in order."""

    def __init__(self, url: str, requests: list[Recorded]) -> None:
        self.url = url
        self.requests = requests
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def runs(self, phase: Phase) -> list[dict[str, Any]]:
        """The phase's runs, newest first."""
        res = self.http.get("/api/internal/runs", params={"phase": phase.value})
        return list(res.json())

    def newest(self, phase: Phase) -> dict[str, Any]:
        return self.runs(phase)[0]

    def loop(self, phase: Phase) -> dict[str, Any]:
        status = self.http.get("/api/internal/run-status").json()
        return dict(status["loopSummaries"][phase.value])

    def complete(self, phase: Phase, upstream: str | None = None) -> str:
        """Trigger `phase` (outside the DAG) and wait until it COMPLETED; its runId."""
        headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
        res = self.http.post(f"/api/internal/trigger/phase/{phase}", headers=headers)
        with ControlClient(Endpoint(self.url, TOKEN)) as client:
            run = client.wait_run(res.json()["runId"], Patience(timeout=60, poll=0.02))
        assert run.status == "COMPLETED", run
        return run.run_id


def _recorder(app: Any, seen: list[Recorded], after: Callable[[Recorded], None]) -> Any:
    async def record(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        request = Recorded(scope["method"], scope["path"], httpx.Headers(raw))
        seen.append(request)
        await app(scope, receive, send)
        after(request)

    return record


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """service(**walkers) -> a running Service (one per test; stopped at the end)."""
    stack = contextlib.ExitStack()

    def start(
        after: Callable[[Recorded], None] = lambda _r: None, **runners: WalkerRunner
    ) -> Service:
        seen: list[Recorded] = []
        settings = fast_settings(tmp_path, api_token=TOKEN)
        url = stack.enter_context(
            serve_in_thread(
                settings,
                runners=walkers(**runners),
                wrap=lambda app: _recorder(app, seen, after),
            )
        )
        running = Service(url, seen)
        stack.callback(running.http.close)
        return running

    with stack:
        yield start


@pytest.fixture
def run_dag(airflow_db, monkeypatch):
    """run_dag(conf, service) -> {task_id: state}, after one dag.test() run."""
    monkeypatch.setenv("MAPLECOLLECT_AIRFLOW_POLL_INTERVAL", "0.05")

    def run(conf: dict[str, Any] | None, api: Service) -> dict[str, str]:
        host, port = api.url.removeprefix("http://").split(":")
        monkeypatch.setenv(
            "AIRFLOW_CONN_EXTERNAL_API",
            json.dumps(
                {
                    "conn_type": "maplecollect",
                    "host": host,
                    "port": int(port),
                    "password": TOKEN,
                    "extra": {"retries": 1, "backoff": 0},
                }
            ),
        )
        api.requests.clear()
        dagrun = _load_dag().test(run_conf=conf)
        return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}

    return run


def _only(states: dict[str, str], ran: dict[str, str]) -> None:
    """`ran` have these states; every other path task is skipped."""
    for task_id, state in ran.items():
        assert states[task_id] == state, task_id
    others = set(
        PER_PHASE_IDS + STEP_IDS + ["trigger_daily_collection", "wait_for_daily_chain"]
    ) - set(ran)
    assert {states[t] for t in others} == {"skipped"}, {
        t: states[t] for t in others if states[t] != "skipped"
    }


def _output(capfd: Any) -> str:
    """Task logs (structlog) go to the process's stdout/stderr, not to logging."""
    out, err = capfd.readouterr()
    return out + err


def _trigger_posts(api: Service) -> list[tuple[str, str | None]]:
    return [(r.path.rsplit("/", 1)[-1], r.headers.get("X-Upstream-Run-Id")) for r in api.posts()]


@pytest.mark.airflow
def test_no_conf_runs_the_daily_chain(run_dag, service):
    api = service()
    states = run_dag(None, api)
    _only(states, {"trigger_daily_collection": "success", "wait_for_daily_chain": "success"})
    (post,) = api.posts()
    assert post.path == "/api/internal/trigger/daily"
    assert post.headers["X-Airflow-Run-Id"].startswith("daily_collection_pipeline/manual__")
    assert post.headers["X-Airflow-Run-Id"].endswith("/trigger_daily_collection")
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert {api.newest(p)["status"] for p in Phase} == {"COMPLETED"}


@pytest.mark.airflow
def test_scope_ranking_then_ocid_uses_this_runs_ranking(run_dag, service):
    api = service()
    states = run_dag({"scope": ["OCID_LOOKUP", "RANKING_FETCH"]}, api)
    _only(states, {t: "success" for t in PER_PHASE_IDS[6:10]})
    ranking = api.newest(Phase.RANKING_FETCH)
    ocid = api.newest(Phase.OCID_LOOKUP)
    assert _trigger_posts(api) == [("RANKING_FETCH", None), ("OCID_LOOKUP", ranking["runId"])]
    assert ocid["upstreamRunId"] == ranking["runId"] and ocid["status"] == "COMPLETED"
    assert ocid["airflowRunId"].endswith("/per_phase_trigger_ocid_lookup")


@pytest.mark.airflow
def test_scope_item_equipment_alone_uses_latest(run_dag, service):
    api = service()
    ocid = api.complete(Phase.OCID_LOOKUP, api.complete(Phase.RANKING_FETCH))
    states = run_dag({"scope": "ITEM_EQUIPMENT"}, api)
    _only(
        states,
        {
            "per_phase_trigger_item_equipment": "success",
            "per_phase_wait_item_equipment_completion": "success",
        },
    )
    assert _trigger_posts(api) == [("ITEM_EQUIPMENT", "latest")]
    assert api.newest(Phase.ITEM_EQUIPMENT)["upstreamRunId"] == ocid


@pytest.mark.airflow
def test_scope_item_equipment_without_any_ocid_run_fails_clearly(run_dag, service, capfd):
    api = service()
    states = run_dag({"scope": "ITEM_EQUIPMENT"}, api)
    assert states["per_phase_trigger_item_equipment"] == "failed"
    assert states["per_phase_wait_item_equipment_completion"] == "upstream_failed"
    assert "UPSTREAM_NOT_FOUND" in _output(capfd)


@pytest.mark.airflow
def test_loop_then_stop_loop(run_dag, service):
    api = service()
    states = run_dag({"scope": "ITEM_EQUIPMENT_LOOP"}, api)
    _only(states, {"per_phase_loop_item_equipment": "success"})
    assert api.loop(Phase.ITEM_EQUIPMENT)["status"] in ("RUNNING", "WAITING_FOR_CHAIN")
    assert [r.path for r in api.posts()] == ["/api/internal/loop/phase/ITEM_EQUIPMENT"]
    states = run_dag({"scope": ["ITEM_EQUIPMENT_STOP_LOOP"]}, api)
    _only(states, {"per_phase_stop_loop_item_equipment": "success"})
    assert api.loop(Phase.ITEM_EQUIPMENT)["status"] == "STOPPED"
    assert [r.path for r in api.posts()] == ["/api/internal/stop/loop/phase/ITEM_EQUIPMENT"]


@pytest.mark.airflow
def test_trigger_while_running_follows_the_409_run(run_dag, service):
    release = asyncio.Event()

    def after(request: Recorded) -> None:
        # The DAG's trigger got its 409: now let the run it follows complete.
        dag_trigger = "X-Airflow-Run-Id" in request.headers
        if dag_trigger and request.path.endswith("/trigger/phase/ITEM_EQUIPMENT"):
            release.set()

    api = service(after, ITEM_EQUIPMENT=WalkerRunner(mode="block", release=release))
    api.complete(Phase.OCID_LOOKUP, api.complete(Phase.RANKING_FETCH))
    running = api.http.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    ).json()["runId"]
    states = run_dag({"scope": "ITEM_EQUIPMENT"}, api)
    assert states["per_phase_trigger_item_equipment"] == "success"
    assert states["per_phase_wait_item_equipment_completion"] == "success"
    (only,) = api.runs(Phase.ITEM_EQUIPMENT)
    assert (only["runId"], only["status"]) == (running, "COMPLETED")


@pytest.mark.airflow
def test_failed_run_fails_the_wait_and_stops_the_path(run_dag, service, capfd):
    api = service(RANKING_FETCH=WalkerRunner(mode="fail"))
    states = run_dag({"scope": ["RANKING_FETCH", "OCID_LOOKUP"]}, api)
    assert states["per_phase_wait_ranking_fetch_completion"] == "failed"
    assert states["per_phase_trigger_ocid_lookup"] == "upstream_failed"
    assert "OPENAPI00005 invalid API key" in _output(capfd)
    assert _trigger_posts(api) == [("RANKING_FETCH", None)]


@pytest.mark.airflow
def test_steps_run_in_the_given_order(run_dag, service):
    steps = [
        {"action": "loop", "phase": "CHARACTER_BASIC"},
        {"action": "stop", "phase": "CHARACTER_BASIC"},
        {"action": "trigger", "phase": "RANKING_FETCH"},
        {"action": "trigger", "phase": "OCID_LOOKUP"},
    ]
    api = service()
    states = run_dag({"steps": steps}, api)
    _only(states, {"run_steps": "success"})
    ranking = api.newest(Phase.RANKING_FETCH)
    assert [(r.path, r.headers.get("X-Upstream-Run-Id")) for r in api.posts()] == [
        ("/api/internal/loop/phase/CHARACTER_BASIC", None),
        ("/api/internal/stop/phase/CHARACTER_BASIC", None),
        ("/api/internal/trigger/phase/RANKING_FETCH", None),
        ("/api/internal/trigger/phase/OCID_LOOKUP", ranking["runId"]),
    ]
    assert api.loop(Phase.CHARACTER_BASIC)["status"] == "STOPPED"
    assert api.newest(Phase.OCID_LOOKUP)["upstreamRunId"] == ranking["runId"]


@pytest.mark.airflow
@pytest.mark.parametrize(
    "conf",
    [
        {"scope": "RANKING_FETCH", "steps": [{"action": "trigger", "phase": "OCID_LOOKUP"}]},
        {"scope": "RANKING_FETCH", "unknown_key": 1},
    ],
)
def test_conf_refused_by_the_first_task_before_any_call(run_dag, service, conf, capfd):
    api = service()
    states = run_dag(conf, api)
    assert states["check_external_api"] == "failed"
    assert states["branch_on_scope"] == "upstream_failed"
    assert api.requests == []
    assert "invalid conf" in _output(capfd)


@pytest.mark.airflow
def test_invalid_param_refused_when_the_run_is_created(run_dag, service):
    from airflow.sdk.exceptions import ParamValidationError

    api = service()
    with pytest.raises(ParamValidationError):
        run_dag({"scope": "RANKING_FETCH_LOOP"}, api)
    assert api.requests == []


@pytest.mark.airflow
def test_old_service_api_version_fails_the_check(run_dag, service, capfd, monkeypatch):
    from maplecollect.api.routes import health

    monkeypatch.setattr(health, "API_VERSION", 0)  # the service in this process says 0
    api = service()
    states = run_dag({"scope": "RANKING_FETCH"}, api)
    assert states["check_external_api"] == "failed"
    assert api.posts() == []
    assert "upgrade the service" in _output(capfd)
