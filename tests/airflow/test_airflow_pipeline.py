"""Pipeline parts: task ids, branch choice, guards, upstream templates, the conf check."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import jinja2
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from maplecollect.airflow import pipeline as pl
from maplecollect.airflow.scope import SCOPE_STEPS, Action, Step
from maplecollect.phases import Phase

IE = Phase.ITEM_EQUIPMENT


def test_task_ids():
    assert pl.step_task_id(Step(Action.TRIGGER, IE)) == "per_phase_trigger_item_equipment"
    assert pl.step_task_id(Step(Action.STOP_LOOP, IE)) == "per_phase_stop_loop_item_equipment"
    assert pl.step_task_id(Step(Action.LOOP, IE)) == "per_phase_loop_item_equipment"
    assert pl.step_task_id(Step(Action.STOP, Phase.RANKING_FETCH)) == "per_phase_stop_ranking_fetch"
    assert pl.wait_task_id(Step(Action.TRIGGER, IE)) == "per_phase_wait_item_equipment_completion"
    assert pl.STEPS_TASK == "run_steps"


def test_branch_keeps_only_the_scopes_tasks_and_says_why_it_skips_the_rest():
    keep, skip = pl.branch_plan({"scope": ["RANKING_FETCH"]})
    assert keep == ["per_phase_trigger_ranking_fetch", "per_phase_wait_ranking_fetch_completion"]
    assert set(keep) | set(skip) == set(pl.PATH_TASKS)
    assert skip["per_phase_trigger_ocid_lookup"] == "OCID_LOOKUP not in scope ['RANKING_FETCH']"
    assert skip["per_phase_stop_loop_item_equipment"] == (
        "ITEM_EQUIPMENT_STOP_LOOP not in scope ['RANKING_FETCH']"
    )
    assert skip["trigger_daily_collection"] == "scope ['RANKING_FETCH'] is not FULL_DAILY"
    assert skip["run_steps"] == "the conf gives no steps"


def test_branch_keeps_scope_tasks_in_the_fixed_order():
    keep, _ = pl.branch_plan({"scope": ["ITEM_EQUIPMENT", "ITEM_EQUIPMENT_STOP_LOOP"]})
    assert keep == [
        "per_phase_stop_loop_item_equipment",
        "per_phase_trigger_item_equipment",
        "per_phase_wait_item_equipment_completion",
    ]


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ({"scope": "FULL_DAILY"}, ["trigger_daily_collection", "wait_for_daily_chain"]),
        ({}, ["trigger_daily_collection", "wait_for_daily_chain"]),
        ({"scope": ["ITEM_EQUIPMENT_LOOP"]}, ["per_phase_loop_item_equipment"]),
        (
            {"scope": "FULL_DAILY", "steps": [{"action": "loop", "phase": "ITEM_EQUIPMENT"}]},
            ["run_steps"],
        ),
    ],
)
def test_branch_plan(params, kept):
    keep, skip = pl.branch_plan(params)
    assert keep == kept
    assert set(keep).isdisjoint(skip)


def test_branch_operator_skips_by_id_and_succeeds(make_context):
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from maplecollect.airflow.settings import WaitSettings

    with DAG(dag_id="branch_test", schedule=None):
        branch = pl.ScopeBranchOperator(task_id="branch_on_scope")
        pl.wire_in_order(branch, pl.per_phase_chain(WaitSettings()))
    with pytest.raises(DownstreamTasksSkipped) as skipped:
        branch.execute(make_context(params={"scope": "OCID_LOOKUP"}))
    assert "per_phase_trigger_ocid_lookup" not in skipped.value.tasks
    assert "per_phase_trigger_ranking_fetch" in skipped.value.tasks
    assert len(skipped.value.tasks) == 14


def _ctx(params, conf=None):
    class DagRun:
        pass

    dag_run = DagRun()
    dag_run.conf = params if conf is None else conf
    return {"params": params, "dag_run": dag_run}


def test_in_scope_guard():
    guard = pl.InScope(Step(Action.TRIGGER, IE))
    guard(_ctx({"scope": ["ITEM_EQUIPMENT", "OCID_LOOKUP"]}))  # in scope: no exception
    with pytest.raises(AirflowSkipException, match=r"ITEM_EQUIPMENT not in scope \['ITEM_E"):
        guard(_ctx({"scope": ["ITEM_EQUIPMENT_LOOP"]}))
    with pytest.raises(AirflowSkipException):
        guard(_ctx({"scope": "FULL_DAILY"}))


@pytest.mark.parametrize(
    "conf",
    [
        {"scope": "RANKING_FETCH", "steps": [{"action": "trigger", "phase": "OCID_LOOKUP"}]},
        {"scope": "RANKING_FETCH", "sope": "x"},
        {"scope": "ITEM_EQUIPMENT", "date": "2099-01-01"},
    ],
)
def test_check_conf_refuses_before_any_call(conf):
    params = {"scope": "FULL_DAILY", "steps": None, "upstream_run_ids": None, "date": None, **conf}
    params.pop("sope", None)
    with pytest.raises(AirflowFailException, match="invalid conf"):
        pl.check_conf(_ctx(params, conf))


def test_check_conf_accepts_ui_form_with_all_defaults():
    params = {"scope": "FULL_DAILY", "steps": None, "upstream_run_ids": None, "date": None}
    pl.check_conf(_ctx(params, dict(params)))


class _Ti:
    def __init__(self, xcoms):
        self.xcoms = xcoms

    def xcom_pull(self, task_ids=None):
        return self.xcoms.get(task_ids)


def _render(template, params, xcoms, dag_run=None):
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(template)
        .render(params=params, ti=_Ti(xcoms), dag_run=dag_run, **pl.USER_DEFINED_MACROS)
    )


def test_upstream_template_precedence():
    template = pl.upstream_template(Step(Action.TRIGGER, IE))
    wait = "per_phase_wait_ocid_lookup_completion"
    base = {"upstream_run_ids": None}
    assert _render(template, base, {}) == "latest"
    assert _render(template, base, {wait: "ocid-run-1"}) == "ocid-run-1"
    explicit = {"upstream_run_ids": {"ITEM_EQUIPMENT": "ocid-run-0"}}
    assert _render(template, explicit, {wait: "ocid-run-1"}) == "ocid-run-0"
    other = {"upstream_run_ids": {"CHARACTER_BASIC": "x"}}
    assert _render(template, other, {}) == "latest"
    assert pl.upstream_template(Step(Action.TRIGGER, Phase.RANKING_FETCH)) is None


def _dag_run(run_type, start):
    return SimpleNamespace(run_type=run_type, data_interval_start=start)


def test_date_template_conf_date_wins_then_the_data_interval():
    # the interval of the 2026-11-21 03:00 KST run: 2026-11-20 03:00 KST (18:00 UTC the day before)
    start = datetime(2026, 11, 19, 18, 0, tzinfo=UTC)
    scheduled, backfill = _dag_run("scheduled", start), _dag_run("backfill", start)
    manual = _dag_run("manual", start)
    assert _render(pl.DATE_TEMPLATE, {"date": None}, {}, manual) == ""
    assert _render(pl.DATE_TEMPLATE, {"date": "2026-01-01"}, {}, manual) == "2026-01-01"
    assert _render(pl.DATE_TEMPLATE, {"date": None}, {}, scheduled) == "2026-11-20"
    assert _render(pl.DATE_TEMPLATE, {"date": None}, {}, backfill) == "2026-11-20"
    assert _render(pl.DATE_TEMPLATE, {"date": "2026-01-01"}, {}, backfill) == "2026-01-01"
    assert _render(pl.DATE_TEMPLATE, {"date": None}, {}, None) == ""


def test_snapshot_date_follows_the_real_timetable():
    """The DAG's own timetable: each run's interval starts at 03:00 KST of its snapshot day."""
    import runpy
    from pathlib import Path

    dag = runpy.run_path(
        str(Path(pl.__file__).parents[3] / "dags" / "daily_collection_pipeline.py")
    )["dag"]
    from airflow.serialization.serialized_objects import DagSerialization

    infos = list(
        DagSerialization.deserialize_dag(
            DagSerialization.serialize_dag(dag)
        ).iter_dagrun_infos_between(
            datetime.fromisoformat("2026-11-20T00:00:00+00:00"),
            datetime.fromisoformat("2026-11-22T18:00:00+00:00"),
        )
    )
    days = [pl.snapshot_date({}, _dag_run("backfill", info.data_interval.start)) for info in infos]
    # backfill dates select schedule times: each 18:00 UTC (03:00 KST next day)
    # schedule collects the day before it in KST, i.e. its own UTC day
    assert days == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert infos[0].run_after == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def test_run_steps_has_no_retries():
    from maplecollect.airflow.settings import WaitSettings

    assert pl.steps_task(WaitSettings()).retries == 0


def test_per_phase_chain_order_matches_scope_order():
    from maplecollect.airflow.settings import WaitSettings

    ids = [t.task_id for t in pl.per_phase_chain(WaitSettings())]
    expected = []
    for step in SCOPE_STEPS:
        expected.append(pl.step_task_id(step))
        if step.action is Action.TRIGGER:
            expected.append(pl.wait_task_id(step))
    assert ids == expected
