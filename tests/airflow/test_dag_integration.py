"""daily_collection_pipeline under real Airflow `dag.test()` against the LIVE stack.

No mocks: the real service (the app `maplecollect serve` runs, in its own uvicorn
process, bearer token on, see live_stack.py) collects from the Nexon simulator; the
DAG reaches it through the `external_api` connection over HTTP on 127.0.0.1;
triggers run inline (dag.test's stand-in for the triggerer). One stack per
module; every case starts from an idle service and only asserts on the runs its own
DAG run created (found by their `airflowRunId`) or that it started itself, so cases
do not depend on each other's order.

Each case asserts the task states (chosen tasks, and every other path task SKIPPED)
and the service's state through the control API (runs, upstreamRunId, statuses,
loops). Deferral is observed on the task-instance state transitions dag.test makes
(`TaskInstance.set_state` is wrapped to record them, then does its usual work).
The only other wrapper is in the 409 case: after the DAG's trigger call has returned,
it ends the simulator's maintenance that kept the already-running run busy.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from live_stack import PHASES, ControlApi, service, simulator

from maplecollect.airflow import pipeline as pl
from maplecollect.client.sync import ControlClient
from maplecollect.sim import RunningSimulator
from support.sim import SNAPSHOT

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "daily_collection_pipeline.py"
CHARACTERS = 80

PER_PHASE_IDS = list(pl.PER_PHASE_TASKS)
STEP_IDS = [pl.STEPS_TASK]
PATH_IDS = {pl.DAILY_TRIGGER_TASK, pl.DAILY_WAIT_TASK, *PER_PHASE_IDS, *STEP_IDS}


# -- the live stack -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with simulator(CHARACTERS) as running:
        yield running


@pytest.fixture(scope="module")
def live(sim: RunningSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlApi]:
    """The service shared by the module's cases."""
    with service(tmp_path_factory.mktemp("live-service"), sim.base_url) as api:
        yield api


@pytest.fixture
def fresh(sim: RunningSimulator, tmp_path: Path) -> Iterator[ControlApi]:
    """A second service with an empty database (no run of any phase yet)."""
    with service(tmp_path / "fresh-service", sim.base_url) as api:
        yield api


class DagRunResult:
    def __init__(self, dagrun: Any, transitions: list[tuple[str, str]]) -> None:
        self.dagrun = dagrun
        self.run_id: str = dagrun.run_id
        self.states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
        self.transitions = transitions

    def went_through(self, task_id: str) -> list[str]:
        """The states dag.test set on `task_id`, in order."""
        return [state for tid, state in self.transitions if tid == task_id]

    def xcom(self, task_id: str) -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(
                run_id=self.run_id, dag_ids=pl.DAG_ID, task_ids=task_id, key="return_value"
            )
            rows = session.scalars(query).all()
            return XComModel.deserialize_value(rows[0]) if rows else None

    def only(self, ran: dict[str, str]) -> None:
        """Tasks in `ran` have these states; every other path task is SKIPPED."""
        assert self.states[pl.CHECK_TASK] == "success"
        assert self.states[pl.BRANCH_TASK] == "success"
        assert {t: self.states[t] for t in ran} == ran
        others = {t: self.states[t] for t in PATH_IDS - set(ran)}
        assert set(others.values()) == {"skipped"}, {
            t: s for t, s in others.items() if s != "skipped"
        }


@pytest.fixture
def run_dag(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """run_dag(api, conf) -> DagRunResult of one dag.test() against `api`."""
    from airflow.models.taskinstance import TaskInstance

    transitions: list[tuple[str, str]] = []
    set_state = TaskInstance.set_state

    def recording_set_state(self: Any, state: Any, **kwargs: Any) -> bool:
        transitions.append((self.task_id, str(getattr(state, "value", state))))
        return bool(set_state(self, state, **kwargs))

    monkeypatch.setattr(TaskInstance, "set_state", recording_set_state)
    # Read when the DAG file is parsed: poll fast, and bound every wait so a broken
    # case fails instead of hanging until pytest's timeout.
    for name, value in {
        "POLL_INTERVAL": "0.1",
        "HEALTH_INTERVAL": "0.5",
        "HEALTH_TIMEOUT": "30",
        "TIMEOUT_DAILY": "120",
        "TIMEOUT_STOP": "60",
        **{f"TIMEOUT_{phase}": "90" for phase in PHASES},
    }.items():
        monkeypatch.setenv(f"MAPLECOLLECT_AIRFLOW_{name}", value)

    def run(api: ControlApi, conf: dict[str, Any] | None, token: str | None = None) -> DagRunResult:
        host, port = api.host_port
        monkeypatch.setenv(
            "AIRFLOW_CONN_EXTERNAL_API",
            json.dumps(
                {
                    "conn_type": "maplecollect",
                    "host": host,
                    "port": port,
                    "password": token or api.token,
                    "extra": {"retries": 2, "backoff": 0.1},
                }
            ),
        )
        transitions.clear()
        dag = runpy.run_path(str(DAG_FILE))["dag"]
        dagrun = dag.test(run_conf=conf)
        return DagRunResult(dagrun, list(transitions))

    return run


def _output(capfd: pytest.CaptureFixture[str]) -> str:
    """Task logs (structlog) go to the process's stdout/stderr, not to logging."""
    out, err = capfd.readouterr()
    return out + err


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def _deferred(result: DagRunResult, task_id: str) -> None:
    """The task gave its worker slot back: DEFERRED, then resumed and succeeded."""
    states = result.went_through(task_id)
    assert "deferred" in states, (task_id, states)
    assert states[-1] == "success", (task_id, states)


# -- 1. no conf: the daily chain ---------------------------------------------------------


def test_no_conf_runs_the_daily_chain_to_completion(live: ControlApi, run_dag: Any) -> None:
    live.wait_idle()
    result = run_dag(live, None)
    result.only({pl.DAILY_TRIGGER_TASK: "success", pl.DAILY_WAIT_TASK: "success"})
    _deferred(result, pl.DAILY_WAIT_TASK)

    chain_id = result.xcom(pl.DAILY_TRIGGER_TASK)
    chain = live.chain(chain_id)
    assert chain["status"] == "COMPLETED"
    runs = chain["runs"]
    assert set(runs) == {"RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"}
    assert {r["status"] for r in runs.values()} == {"COMPLETED"}
    assert {r["chainId"] for r in runs.values()} == {chain_id}
    ranking, ocid = runs["RANKING_FETCH"], runs["OCID_LOOKUP"]
    assert ranking["upstreamRunId"] is None
    assert ocid["upstreamRunId"] == ranking["runId"]
    assert runs["CHARACTER_BASIC"]["upstreamRunId"] == ocid["runId"]
    assert runs["ITEM_EQUIPMENT"]["upstreamRunId"] == ocid["runId"]
    # The chain was started by this DAG run's trigger task (X-Airflow-Run-Id).
    airflow_id = f"{pl.DAG_ID}/{result.run_id}/{pl.DAILY_TRIGGER_TASK}"
    assert ranking["airflowRunId"] == airflow_id
    assert ranking["recordsProcessed"] == CHARACTERS


# -- 2, 3, 9. scope and steps, with this DAG run's lineage ------------------------------


def test_scope_ranking_fetch_alone(live: ControlApi, run_dag: Any) -> None:
    live.wait_idle()
    result = run_dag(live, {"scope": "RANKING_FETCH", "date": SNAPSHOT})
    result.only(
        {
            "per_phase_trigger_ranking_fetch": "success",
            "per_phase_wait_ranking_fetch_completion": "success",
        }
    )
    # 80 characters: the run has usually ended when its wait starts, which then judges
    # it at once without deferring (deferral: the chain, steps, stop-loop, 409 cases).
    assert result.went_through("per_phase_wait_ranking_fetch_completion")[-1] == "success"
    (run,) = live.runs_of_dag_run(pl.DAG_ID, result.run_id)
    assert run["phase"] == "RANKING_FETCH"
    assert run["status"] == "COMPLETED"
    assert run["snapshotDate"] == SNAPSHOT
    assert run["airflowRunId"].endswith("/per_phase_trigger_ranking_fetch")
    assert result.xcom("per_phase_wait_ranking_fetch_completion") == run["runId"]


def test_scope_ranking_and_ocid_uses_this_runs_ranking(live: ControlApi, run_dag: Any) -> None:
    live.wait_idle()
    result = run_dag(live, {"scope": ["OCID_LOOKUP", "RANKING_FETCH"], "date": SNAPSHOT})
    result.only(
        {
            "per_phase_trigger_ranking_fetch": "success",
            "per_phase_wait_ranking_fetch_completion": "success",
            "per_phase_trigger_ocid_lookup": "success",
            "per_phase_wait_ocid_lookup_completion": "success",
        }
    )
    ranking, ocid = live.runs_of_dag_run(pl.DAG_ID, result.run_id)
    assert (ranking["phase"], ocid["phase"]) == ("RANKING_FETCH", "OCID_LOOKUP")
    assert ranking["status"] == ocid["status"] == "COMPLETED"
    assert ocid["upstreamRunId"] == ranking["runId"]
    assert ocid["snapshotDate"] == ranking["snapshotDate"] == SNAPSHOT
    # pipeline order, whatever the order of the tokens: OCID started after ranking completed
    assert _at(ranking["completedAt"]) <= _at(ocid["startedAt"])


def test_steps_run_in_the_given_order_with_lineage(
    live: ControlApi, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    live.wait_idle()
    steps = [
        {"action": "trigger", "phase": "RANKING_FETCH"},
        {"action": "trigger", "phase": "OCID_LOOKUP"},
    ]
    capfd.readouterr()
    result = run_dag(live, {"steps": steps, "date": SNAPSHOT})
    result.only({"run_steps": "success"})
    # ONE task, deferred once per trigger step: deferred, resumed, deferred, resumed.
    states = result.went_through("run_steps")
    assert states.count("deferred") == 2, states
    assert states[-1] == "success"
    ranking, ocid = live.runs_of_dag_run(pl.DAG_ID, result.run_id)
    assert ranking["airflowRunId"].endswith("/run_steps")
    assert ocid["airflowRunId"].endswith("/run_steps")
    output = _output(capfd)
    assert f"step 1/2 (trigger RANKING_FETCH): started run {ranking['runId']}" in output
    assert f"step 2/2 (trigger OCID_LOOKUP): started run {ocid['runId']}" in output
    assert f"step 2/2 done: run {ocid['runId']} (OCID_LOOKUP) COMPLETED" in output
    assert result.xcom("run_steps") == [
        {"step": 1, "action": "trigger", "phase": "RANKING_FETCH", "id": ranking["runId"]},
        {"step": 2, "action": "trigger", "phase": "OCID_LOOKUP", "id": ocid["runId"]},
    ]
    assert (ranking["phase"], ocid["phase"]) == ("RANKING_FETCH", "OCID_LOOKUP")
    assert _at(ranking["startedAt"]) < _at(ocid["startedAt"])
    assert _at(ranking["completedAt"]) <= _at(ocid["startedAt"])  # step 2 waited for step 1
    assert ocid["upstreamRunId"] == ranking["runId"]
    assert ranking["status"] == ocid["status"] == "COMPLETED"


# -- 4. a non-root phase alone takes `latest` ---------------------------------------------


def test_item_equipment_alone_takes_the_latest_completed_ocid_run(
    live: ControlApi, run_dag: Any
) -> None:
    live.wait_idle()
    ranking = live.complete("RANKING_FETCH", date=SNAPSHOT)
    ocid = live.complete("OCID_LOOKUP", upstream=ranking["runId"], date=SNAPSHOT)
    assert live.status()["lastCompletedByPhase"]["OCID_LOOKUP"]["runId"] == ocid["runId"]

    result = run_dag(live, {"scope": "ITEM_EQUIPMENT"})
    result.only(
        {
            "per_phase_trigger_item_equipment": "success",
            "per_phase_wait_item_equipment_completion": "success",
        }
    )
    (item,) = live.runs_of_dag_run(pl.DAG_ID, result.run_id)
    assert item["phase"] == "ITEM_EQUIPMENT"
    assert item["upstreamRunId"] == ocid["runId"]
    assert item["snapshotDate"] == SNAPSHOT  # the upstream's date
    assert item["status"] == "COMPLETED"


def test_item_equipment_without_any_ocid_run_fails_with_the_services_answer(
    fresh: ControlApi, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fresh.runs() == []
    capfd.readouterr()
    result = run_dag(fresh, {"scope": "ITEM_EQUIPMENT", "date": SNAPSHOT})
    assert result.states["per_phase_trigger_item_equipment"] == "failed"
    assert result.states["per_phase_wait_item_equipment_completion"] == "upstream_failed"
    # Out of scope: skipped by the branch at once, before the trigger failed.
    assert result.states["per_phase_loop_character_basic"] == "skipped"
    output = _output(capfd)
    assert "trigger ITEM_EQUIPMENT refused by the service" in output
    assert 'HTTP 404: {"error":"UPSTREAM_NOT_FOUND"' in output
    assert fresh.runs() == []
    assert fresh.token not in output


# -- 5. loop, then stop the loop in a second DAG run ---------------------------------------


def test_loop_then_stop_loop(
    live: ControlApi, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    live.wait_idle()
    started = run_dag(live, {"scope": "ITEM_EQUIPMENT_LOOP"})
    started.only({"per_phase_loop_item_equipment": "success"})
    loop_id = started.xcom("per_phase_loop_item_equipment")
    loop = live.status()["loopSummaries"]["ITEM_EQUIPMENT"]
    assert loop["loopId"] == loop_id
    assert loop["status"] == "RUNNING"

    stopped = run_dag(live, {"scope": ["ITEM_EQUIPMENT_STOP_LOOP"]})
    stopped.only({"per_phase_stop_loop_item_equipment": "success"})
    # The stop task waited until the phase was idle: deferred, or, when the stop had
    # already taken effect at its first look (the loop between iterations), judged there
    # without deferring (docs/airflow.md; both paths: tests/airflow/test_airflow_operators.py).
    states = stopped.went_through("per_phase_stop_loop_item_equipment")
    if "deferred" in states:
        _deferred(stopped, "per_phase_stop_loop_item_equipment")
    else:
        assert "ITEM_EQUIPMENT is idle" in _output(capfd), states
    status = live.status()
    loop = status["loopSummaries"]["ITEM_EQUIPMENT"]
    assert (loop["loopId"], loop["status"]) == (loop_id, "STOPPED")
    slot = status["slots"]["ITEM_EQUIPMENT"]
    assert slot is None or slot["terminal"]
    iterations = [r for r in live.runs("ITEM_EQUIPMENT") if r["loopId"] == loop_id]
    assert all(r["terminal"] for r in iterations)
    assert {r["status"] for r in iterations} <= {"COMPLETED", "STOPPED"}


# -- 6. the phase is already running: follow the 409's run ---------------------------------


def test_trigger_while_running_follows_the_running_run(
    live: ControlApi, sim: RunningSimulator, run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    live.wait_idle()
    controls = sim.simulator.controls
    # API maintenance: the service pauses and retries, so the run stays RUNNING until
    # the maintenance ends, which happens right after the DAG's trigger got its answer.
    controls.api_maintenance = True
    answers: list[Any] = []
    trigger_phase = ControlClient.trigger_phase

    def trigger_then_end_maintenance(self: ControlClient, *args: Any, **kwargs: Any) -> Any:
        try:
            answer = trigger_phase(self, *args, **kwargs)
            answers.append(answer)
            return answer
        finally:
            controls.api_maintenance = False

    monkeypatch.setattr(ControlClient, "trigger_phase", trigger_then_end_maintenance)
    try:
        res = live.post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": SNAPSHOT})
        assert res.status_code == 202, res.text
        running = res.json()["runId"]
        before = [r["runId"] for r in live.runs("RANKING_FETCH")]

        result = run_dag(live, {"scope": "RANKING_FETCH", "date": SNAPSHOT})
    finally:
        controls.api_maintenance = False

    result.only(
        {
            "per_phase_trigger_ranking_fetch": "success",
            "per_phase_wait_ranking_fetch_completion": "success",
        }
    )
    # (the run usually ends before its wait starts: judged at once, no deferral)
    (answer,) = answers
    assert answer.followed and answer.run_id == running
    assert result.xcom("per_phase_trigger_ranking_fetch") == running
    assert result.xcom("per_phase_wait_ranking_fetch_completion") == running
    assert live.run(running)["status"] == "COMPLETED"
    assert [r["runId"] for r in live.runs("RANKING_FETCH")] == before  # no second run
    assert live.runs_of_dag_run(pl.DAG_ID, result.run_id) == []


# -- 7. invalid confs are refused before any call to the service ---------------------------


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({"scope": "RANKING_FETCH_LOOP"}, "scope"),
        ({"scope": ["OCID_LOOKUP_LOOP"]}, "scope"),
        ({"scope": "NOT_A_PHASE"}, "scope"),
        ({"scope": 5}, "scope"),
        ({"scope": []}, "scope"),
        ({"scope": ["RANKING_FETCH", "RANKING_FETCH"]}, "scope"),
        ({"steps": [{"action": "loop", "phase": "RANKING_FETCH"}]}, "steps"),
        ({"steps": [{"action": "jump", "phase": "RANKING_FETCH"}]}, "steps"),
        ({"steps": []}, "steps"),
        ({"upstream_run_ids": {"RANKING_FETCH": "latest"}}, "upstream_run_ids"),
        ({"date": "26-11-2026"}, "date"),
    ],
    ids=[
        "ranking-loop",
        "ocid-loop",
        "unknown-token",
        "wrong-type",
        "empty-list",
        "duplicate-token",
        "loop-of-a-root-phase",
        "unknown-action",
        "no-steps",
        "upstream-of-the-root-phase",
        "malformed-date",
    ],
)
def test_invalid_param_is_refused_when_the_run_is_created(
    live: ControlApi, run_dag: Any, conf: dict[str, Any], param: str
) -> None:
    from airflow.sdk.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    dag = runpy.run_path(str(DAG_FILE))["dag"]
    # What the REST API / CLI trigger does with a conf: the scheduler-side DAG's params
    # merged with the conf, then validated (SerializedDAG.create_dagrun).
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}"):
        scheduler_dag.params.deep_merge(conf).validate()

    # ... and dag.test() refuses to create the DAG run at all: nothing reaches the service.
    before = live.run_ids()
    with pytest.raises(ParamValidationError):
        run_dag(live, conf)
    assert live.run_ids() == before


def test_valid_confs_pass_param_validation() -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = runpy.run_path(str(DAG_FILE))["dag"]
    params = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).params
    for conf in (
        {},
        {"scope": "FULL_DAILY"},
        {"scope": "ITEM_EQUIPMENT_LOOP"},
        {"scope": ["RANKING_FETCH", "OCID_LOOKUP"], "date": SNAPSHOT},
        {"steps": [{"action": "stop_loop", "phase": "CHARACTER_BASIC"}]},
        {"scope": "ITEM_EQUIPMENT", "upstream_run_ids": {"ITEM_EQUIPMENT": "latest"}},
    ):
        params.deep_merge(conf).validate()


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        (
            {"scope": "RANKING_FETCH", "steps": [{"action": "trigger", "phase": "OCID_LOOKUP"}]},
            "give either 'scope' or 'steps', not both",
        ),
        ({"scope": "RANKING_FETCH", "unknown_key": 1}, "unknown conf key(s) ['unknown_key']"),
        ({"scope": "RANKING_FETCH", "date": "2026-02-30"}, "is not a calendar date"),
    ],
    ids=["scope-and-steps", "unknown-key", "not-a-calendar-date"],
)
def test_cross_key_errors_fail_the_first_task_before_any_call(
    live: ControlApi,
    run_dag: Any,
    capfd: pytest.CaptureFixture[str],
    conf: dict[str, Any],
    reason: str,
) -> None:
    live.wait_idle()
    before = live.run_ids()
    capfd.readouterr()
    result = run_dag(live, conf)
    assert result.states[pl.CHECK_TASK] == "failed"
    assert {result.states[t] for t in PATH_IDS | {pl.BRANCH_TASK}} == {"upstream_failed"}
    output = _output(capfd)
    assert "invalid conf" in output
    assert reason in output
    assert live.run_ids() == before


# -- 8. a wrong token fails the first task at once, with the fix -------------------------


def test_wrong_token_fails_the_check_at_once_with_the_fix(
    live: ControlApi, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    live.wait_idle()
    before = live.run_ids()
    capfd.readouterr()
    wrong = "not-the-token-0123456789"
    result = run_dag(live, {"scope": "RANKING_FETCH", "date": SNAPSHOT}, token=wrong)
    assert result.states[pl.CHECK_TASK] == "failed"
    # one poke, no reschedule: /health was UP, the authenticated call answered 401
    assert result.went_through(pl.CHECK_TASK).count("up_for_reschedule") == 0
    assert {result.states[t] for t in PATH_IDS | {pl.BRANCH_TASK}} == {"upstream_failed"}
    output = _output(capfd)
    assert "refused the bearer token of connection 'external_api' (HTTP 401)" in output
    assert "MAPLECOLLECT_API_TOKEN" in output
    assert wrong not in output and live.token not in output
    assert live.run_ids() == before
