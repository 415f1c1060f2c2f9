"""daily_collection_pipeline in a REAL Airflow deployment (see deployment.py).

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate
processes from this project's .venv on a fresh PostgreSQL metadata database, against
`maplecollect serve` and `maplecollect sim`. Everything goes through the REST API v2
(and the `airflow backfill` CLI) the way an operator would; assertions read the DAG
run and task states from Airflow, the runs from the service, the counts from the
simulator's `/_sim/world`, and the task logs Airflow wrote.

The cases share one deployment and run in file order (each starts from an idle
service). Wall times are recorded (printed, see docs/performance.md) and only
bounded generously: the machine may be loaded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deployment import Deployment, Wait, deployment, kst_now

from maplecollect.airflow import pipeline as pl

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

DAG = pl.DAG_ID
CONSUMER = "snapshot_consumer"
CHARACTERS = 20
# Generous: a DAG run whose service work takes seconds must end within this, even on a
# machine with load 10 (the figures measured are far lower, docs/performance.md).
BOUND = 180


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("airflow-deployment")
    with deployment(tmp, postgres_url=postgres_url, characters=CHARACTERS) as d:
        Wait.until(
            "both DAGs parsed by the dag-processor",
            lambda: all(d.rest().get(f"/dags/{x}").is_success for x in (DAG, CONSUMER)),
            180,
        )
        yield d


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds(start: str, end: str) -> float:
    return (_at(end) - _at(start)).total_seconds()


def _trigger(dep: Deployment, conf: dict[str, Any] | None) -> str:
    res = dep.trigger(DAG, conf)
    assert res.status_code == 200, res.text
    run_id: str = res.json()["dag_run_id"]
    return run_id


def _run(dep: Deployment, conf: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    dep.service.wait_idle(within=BOUND)
    run_id = _trigger(dep, conf)
    return run_id, dep.wait_dag_run(DAG, run_id, BOUND)


def _only(dep: Deployment, run_id: str, ran: dict[str, str]) -> dict[str, str | None]:
    """Tasks in `ran` have these states; every other path task is SKIPPED."""
    states = dep.task_states(DAG, run_id)
    assert states[pl.CHECK_TASK] == states[pl.BRANCH_TASK] == "success", states
    wrong = [t for t in ran if states[t] != ran[t]]
    logs = "\n".join(f"--- {t} ---\n{dep.task_log(DAG, run_id, t)[-4000:]}" for t in wrong)
    assert {t: states[t] for t in ran} == ran, f"{states}\n{logs}"
    others = {t: states[t] for t in pl.PATH_TASKS if t not in ran}
    assert set(others.values()) == {"skipped"}, others
    return states


def _world(dep: Deployment) -> dict[str, Any]:
    return dep.sim_world()


def _assert_chain_counts(chain: dict[str, Any], world: dict[str, Any]) -> None:
    runs = chain["runs"]
    assert {r["status"] for r in runs.values()} == {"COMPLETED"}, runs
    ocid_records = world["distinctNames"] - world["renamedNames"]
    assert runs["RANKING_FETCH"]["recordsProcessed"] == world["characters"]
    assert runs["OCID_LOOKUP"]["recordsProcessed"] == ocid_records
    assert runs["OCID_LOOKUP"]["recordsFailed"] == world["renamedNames"]
    for phase in ("CHARACTER_BASIC", "ITEM_EQUIPMENT"):
        assert runs[phase]["recordsProcessed"] == ocid_records, phase
        assert runs[phase]["upstreamRunId"] == runs["OCID_LOOKUP"]["runId"]
    assert runs["OCID_LOOKUP"]["upstreamRunId"] == runs["RANKING_FETCH"]["runId"]


# -- 0. unpausing: the latest schedule runs at once, for the KST day of its interval ---


def test_unpausing_runs_the_latest_schedule_for_its_kst_day(dep: Deployment) -> None:
    assert dep.rest().get(f"/dags/{DAG}").json()["is_paused"] is True  # shipped paused
    # Paused: a manual trigger is accepted but sits queued (docs/airflow.md "Unpause").
    res = dep.rest().patch(f"/dags/{DAG}", json={"is_paused": False})
    assert res.status_code == 200, res.text
    scheduled = Wait.until(
        "the scheduled run the unpause creates",
        lambda: dep.dag_runs(DAG, run_type="scheduled"),
        60,
    )
    (run,) = scheduled
    done = dep.wait_dag_run(DAG, run["dag_run_id"], BOUND)
    assert done["state"] == "success"
    expected_day = _at(done["data_interval_start"]).astimezone(pl.KST).date().isoformat()
    # the latest 03:00 KST schedule collects the day before it (KST)
    assert _at(done["data_interval_end"]).astimezone(pl.KST).date() - timedelta(days=1) == (
        date.fromisoformat(expected_day)
    )
    chain = dep.service.chain(dep.xcom(DAG, done["dag_run_id"], pl.DAILY_TRIGGER_TASK))
    assert chain["snapshotDate"] == expected_day
    _assert_chain_counts(chain, _world(dep))


# -- 1. two no-conf triggers at once: the second follows the first's chain --------------


def test_two_daily_triggers_at_once_share_one_chain(dep: Deployment) -> None:
    dep.service.wait_idle(within=BOUND)
    before = {r["chainId"] for r in dep.service.runs() if r["chainId"]}
    # API maintenance keeps the first chain's ranking run busy (the service pauses
    # and retries), so the second trigger surely meets it; it ends once both DAG
    # runs' trigger tasks have their answer.
    dep.sim_config(apiMaintenance=True)
    try:
        first, second = _trigger(dep, None), _trigger(dep, None)
        Wait.until(
            "both trigger_daily_collection tasks to succeed",
            lambda: all(
                dep.task_states(DAG, r).get(pl.DAILY_TRIGGER_TASK) == "success"
                for r in (first, second)
            ),
            BOUND,
        )
    finally:
        dep.sim_config(apiMaintenance=False)
    runs = [dep.wait_dag_run(DAG, r, BOUND) for r in (first, second)]
    assert [r["state"] for r in runs] == ["success", "success"]
    chains = {dep.xcom(DAG, r, pl.DAILY_TRIGGER_TASK) for r in (first, second)}
    assert len(chains) == 1, chains
    (chain_id,) = chains
    assert {r["chainId"] for r in dep.service.runs() if r["chainId"]} - before == {chain_id}
    logs = dep.task_log(DAG, first, pl.DAILY_TRIGGER_TASK) + dep.task_log(
        DAG, second, pl.DAILY_TRIGGER_TASK
    )
    assert f"daily chain started: {chain_id}" in logs
    assert f"daily chain already running, following: {chain_id}" in logs
    _assert_chain_counts(dep.service.chain(chain_id), _world(dep))


# -- 2. an invalid conf is refused by the REST API ----------------------------------------


def test_invalid_conf_is_refused_with_400(dep: Deployment) -> None:
    before = len(dep.dag_runs(DAG))
    res = dep.trigger(DAG, {"scope": "RANKING_FETCH_LOOP"})
    assert res.status_code == 400, res.text
    assert "Invalid input for param scope" in res.text
    assert len(dep.dag_runs(DAG)) == before


# -- 3. a single-phase scope runs exactly its two tasks --------------------------------


def test_ranking_fetch_alone_runs_only_its_tasks_fast(dep: Deployment) -> None:
    run_id, run = _run(dep, {"scope": ["RANKING_FETCH"]})
    assert run["state"] == "success"
    trigger, wait = "per_phase_trigger_ranking_fetch", "per_phase_wait_ranking_fetch_completion"
    _only(dep, run_id, {trigger: "success", wait: "success"})
    (svc_run,) = dep.service.runs_of_dag_run(DAG, run_id)
    assert svc_run["status"] == "COMPLETED" and svc_run["phase"] == "RANKING_FETCH"
    assert svc_run["recordsProcessed"] == _world(dep)["characters"]

    branch_log = dep.task_log(DAG, run_id, pl.BRANCH_TASK)
    assert "skipping per_phase_trigger_ocid_lookup: OCID_LOOKUP not in scope ['RANKING_FETCH']" in (
        branch_log
    )
    # the trigger's verdict is in the task's log
    assert f"run {svc_run['runId']} (RANKING_FETCH) COMPLETED" in dep.task_log(DAG, run_id, wait)

    dag_seconds = _seconds(run["start_date"], run["end_date"])
    service_seconds = _seconds(svc_run["startedAt"], svc_run["completedAt"])
    tries = {t: n for t, n in dep.task_tries(DAG, run_id).items() if n > 1}
    print(
        f"FIGURE ranking-fetch scope: DAG run {dag_seconds:.1f}s, service run "
        f"{service_seconds:.1f}s, Airflow overhead {dag_seconds - service_seconds:.1f}s, "
        f"retried tasks {tries}"
    )
    assert dag_seconds < BOUND


# -- 4. two phases: this run's ranking feeds its OCID lookup ----------------------------


def test_two_phase_scope_keeps_the_lineage(dep: Deployment) -> None:
    run_id, run = _run(dep, {"scope": ["OCID_LOOKUP", "RANKING_FETCH"]})
    assert run["state"] == "success"
    _only(
        dep,
        run_id,
        {
            "per_phase_trigger_ranking_fetch": "success",
            "per_phase_wait_ranking_fetch_completion": "success",
            "per_phase_trigger_ocid_lookup": "success",
            "per_phase_wait_ocid_lookup_completion": "success",
        },
    )
    ranking, ocid = dep.service.runs_of_dag_run(DAG, run_id)
    assert (ranking["phase"], ocid["phase"]) == ("RANKING_FETCH", "OCID_LOOKUP")
    assert ocid["upstreamRunId"] == ranking["runId"]
    assert _at(ranking["completedAt"]) <= _at(ocid["startedAt"])


# -- 5. bare ITEM_EQUIPMENT takes `latest`; its asset event runs the consumer DAG ---------


def test_bare_item_equipment_feeds_the_consumer_dag(dep: Deployment) -> None:
    latest_ocid = dep.service.status()["lastCompletedByPhase"]["OCID_LOOKUP"]["runId"]
    consumed_before = {r["dag_run_id"] for r in dep.dag_runs(CONSUMER)}
    wait = "per_phase_wait_item_equipment_completion"
    dep.service.wait_idle(within=BOUND)
    # API maintenance holds the run RUNNING until its wait is DEFERRED in the
    # triggerer, so the trigger logs progress into the task's log while it waits.
    dep.sim_config(apiMaintenance=True)
    try:
        run_id = _trigger(dep, {"scope": "ITEM_EQUIPMENT"})
        Wait.until(
            f"{wait} to be deferred",
            lambda: dep.task_states(DAG, run_id).get(wait) == "deferred",
            BOUND,
        )
        Wait.until(
            "a progress line in the deferred task's log",
            lambda: "(ITEM_EQUIPMENT) RUNNING: " in dep.task_log(DAG, run_id, wait),
            BOUND,
        )
    finally:
        dep.sim_config(apiMaintenance=False)
    run = dep.wait_dag_run(DAG, run_id, BOUND)
    assert run["state"] == "success"
    _only(dep, run_id, {"per_phase_trigger_item_equipment": "success", wait: "success"})
    (item,) = dep.service.runs_of_dag_run(DAG, run_id)
    assert item["upstreamRunId"] == latest_ocid and item["status"] == "COMPLETED"
    wait_log = dep.task_log(DAG, run_id, wait)
    progress = rf"run {item['runId']} \(ITEM_EQUIPMENT\) RUNNING: [\d,?]+ / [\d,?]+ records, "
    assert re.search(progress + r"[\d,?]+ failed, \S+/s, ETA \S+", wait_log), wait_log[-3000:]
    assert f"run {item['runId']} (ITEM_EQUIPMENT) COMPLETED" in wait_log

    # the asset event carries the run; the consumer DAG ran off it and read it
    def consumed() -> list[dict[str, Any]]:
        new = [r for r in dep.dag_runs(CONSUMER) if r["dag_run_id"] not in consumed_before]
        for consumer_run in new:
            if consumer_run["state"] == "success":
                extras = dep.xcom(CONSUMER, consumer_run["dag_run_id"], "read_snapshot")
                if any(e["runId"] == item["runId"] for e in extras):
                    return [e for e in extras if e["runId"] == item["runId"]]
        return []

    mine = Wait.until("a consumer DAG run off this run's asset event", consumed, BOUND)
    assert mine[0] == {
        "runId": item["runId"],
        "phase": "ITEM_EQUIPMENT",
        "snapshotDate": item["snapshotDate"],
        "manifestPath": item["manifestPath"],
        "recordsProcessed": item["recordsProcessed"],
        "recordsFailed": item["recordsFailed"],
        "totalKeys": item["totalKeys"],
        "chainId": None,
    }
    assert Path(item["manifestPath"]).is_file()


# -- 6. loop, then stop the loop -------------------------------------------------------------


def test_loop_then_stop_loop(dep: Deployment) -> None:
    run_id, run = _run(dep, {"scope": ["ITEM_EQUIPMENT_LOOP"]})
    assert run["state"] == "success"
    _only(dep, run_id, {"per_phase_loop_item_equipment": "success"})
    loop_id = dep.xcom(DAG, run_id, "per_phase_loop_item_equipment")
    Wait.until(
        "a loop iteration run",
        lambda: [r for r in dep.service.runs("ITEM_EQUIPMENT") if r["loopId"] == loop_id],
        BOUND,
    )

    stop_id = _trigger(dep, {"scope": "ITEM_EQUIPMENT_STOP_LOOP"})
    stop = dep.wait_dag_run(DAG, stop_id, BOUND)
    assert stop["state"] == "success"
    task = "per_phase_stop_loop_item_equipment"
    _only(dep, stop_id, {task: "success"})
    status = dep.service.status()
    assert status["loopSummaries"]["ITEM_EQUIPMENT"]["status"] == "STOPPED"
    iterations = [r for r in dep.service.runs("ITEM_EQUIPMENT") if r["loopId"] == loop_id]
    assert all(r["terminal"] for r in iterations), iterations

    log = dep.task_log(DAG, stop_id, task)
    named = re.search(r"stop requested: run (\S+) \(iteration of loop (\S+)\)", log)
    if named:  # the loop was mid-iteration: the line names that run, which then ended
        stopped = dep.service.run(named.group(1))
        assert (stopped["loopId"], named.group(2)) == (loop_id, loop_id)
        assert stopped["status"] in ("STOPPED", "COMPLETED")
    else:
        assert f"stop requested: loop {loop_id} (between iterations, no run to stop)" in log
    assert "ITEM_EQUIPMENT is idle" in log

    stop_seconds = _seconds(stop["start_date"], stop["end_date"])
    tries = {t: n for t, n in dep.task_tries(DAG, stop_id).items() if n > 1}
    print(f"FIGURE stop-loop: DAG run {stop_seconds:.1f}s, retried tasks {tries}")
    assert stop_seconds < BOUND


# -- 7. backfill: each day in turn, its date from the data interval ----------------------------


def test_backfill_collects_each_day_one_after_another(dep: Deployment) -> None:
    dep.service.wait_idle(within=BOUND)
    today = kst_now().date()
    days = [(today - timedelta(days=n)).isoformat() for n in (4, 3)]
    started = time.monotonic()
    cli = dep.airflow_cli(
        "backfill",
        "create",
        "--dag-id",
        DAG,
        "--from-date",
        days[0],
        "--to-date",
        f"{days[1]}T18:00:00+00:00",
        "--max-active-runs",
        "1",
    )
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]

    def backfill_runs() -> list[dict[str, Any]] | None:
        runs = dep.dag_runs(DAG, run_type="backfill")
        done = len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done else None

    runs = sorted(
        Wait.until("both backfill runs", backfill_runs, 2 * BOUND), key=lambda r: r["logical_date"]
    )
    assert [r["state"] for r in runs] == ["success", "success"]
    chains = [
        dep.service.chain(dep.xcom(DAG, r["dag_run_id"], pl.DAILY_TRIGGER_TASK)) for r in runs
    ]
    assert [c["snapshotDate"] for c in chains] == days
    # one after another: the second day's chain started after the first's completed
    assert _at(chains[0]["completedAt"]) <= _at(chains[1]["startedAt"])
    print(f"FIGURE backfill of 2 days: {time.monotonic() - started:.1f}s")
