"""Pipeline parts: task ids, branch choice, guards, upstream templates, the conf check."""

from __future__ import annotations

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
    assert (pl.slot_task_id(0), pl.slot_wait_task_id(9)) == ("step_01", "step_10_wait")


@pytest.mark.parametrize(
    ("params", "task_id"),
    [
        ({"scope": "FULL_DAILY"}, "trigger_daily_collection"),
        ({}, "trigger_daily_collection"),
        ({"scope": ["ITEM_EQUIPMENT_LOOP"]}, "per_phase_stop_ranking_fetch"),
        (
            {"scope": "FULL_DAILY", "steps": [{"action": "loop", "phase": "ITEM_EQUIPMENT"}]},
            "step_01",
        ),
    ],
)
def test_choose_branch(params, task_id):
    assert pl.choose_branch(params) == task_id


def _ctx(params, conf=None):
    class DagRun:
        pass

    dag_run = DagRun()
    dag_run.conf = params if conf is None else conf
    return {"params": params, "dag_run": dag_run}


def test_in_scope_guard():
    guard = pl.InScope(Step(Action.TRIGGER, IE))
    guard(_ctx({"scope": ["ITEM_EQUIPMENT", "OCID_LOOKUP"]}))  # in scope: no exception
    with pytest.raises(AirflowSkipException):
        guard(_ctx({"scope": ["ITEM_EQUIPMENT_LOOP"]}))
    with pytest.raises(AirflowSkipException):
        guard(_ctx({"scope": "FULL_DAILY"}))


def test_in_steps_guard():
    params = {
        "steps": [
            {"action": "trigger", "phase": "RANKING_FETCH"},
            {"action": "stop", "phase": "OCID_LOOKUP"},
        ]
    }
    pl.InSteps(0, wait=False)(_ctx(params))
    pl.InSteps(0, wait=True)(_ctx(params))
    pl.InSteps(1, wait=False)(_ctx(params))
    with pytest.raises(AirflowSkipException, match="not a trigger"):
        pl.InSteps(1, wait=True)(_ctx(params))
    with pytest.raises(AirflowSkipException, match="no step 3"):
        pl.InSteps(2, wait=False)(_ctx(params))


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


def _render(template, params, xcoms):
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(template)
        .render(params=params, ti=_Ti(xcoms))
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


def test_date_template():
    assert _render(pl.DATE_TEMPLATE, {"date": None}, {}) == ""
    assert _render(pl.DATE_TEMPLATE, {"date": "2026-01-01"}, {}) == "2026-01-01"


def test_step_operator_index_bounds():
    with pytest.raises(ValueError):
        pl.StepOperator(task_id="x", index=10)


def test_per_phase_chain_order_matches_scope_order():
    from maplecollect.airflow.settings import WaitSettings

    ids = [t.task_id for t in pl.per_phase_chain(WaitSettings())]
    expected = []
    for step in SCOPE_STEPS:
        expected.append(pl.step_task_id(step))
        if step.action is Action.TRIGGER:
            expected.append(pl.wait_task_id(step))
    assert ids == expected
