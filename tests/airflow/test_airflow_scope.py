"""Conf -> plan: tokens, fixed order, steps, upstream rules, the first task's checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maplecollect.airflow.scope import (
    FULL_DAILY,
    SCOPE_TOKENS,
    Action,
    ConfError,
    Mode,
    Step,
    parse_scope,
    parse_steps,
    plan_from_params,
    resolve_upstream,
)
from maplecollect.phases import Phase

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
RB, OC, CB, IE = Phase.RANKING_FETCH, Phase.OCID_LOOKUP, Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT
T, L, S, SL = Action.TRIGGER, Action.LOOP, Action.STOP, Action.STOP_LOOP


def test_tokens_are_the_documented_set():
    assert set(SCOPE_TOKENS) == {
        "RANKING_FETCH",
        "OCID_LOOKUP",
        "CHARACTER_BASIC",
        "ITEM_EQUIPMENT",
        "CHARACTER_BASIC_LOOP",
        "ITEM_EQUIPMENT_LOOP",
        "RANKING_FETCH_STOP",
        "OCID_LOOKUP_STOP",
        "CHARACTER_BASIC_STOP",
        "ITEM_EQUIPMENT_STOP",
        "CHARACTER_BASIC_STOP_LOOP",
        "ITEM_EQUIPMENT_STOP_LOOP",
    }


def test_full_daily_is_none():
    assert parse_scope(FULL_DAILY) is None


def test_single_token_string():
    assert parse_scope("ITEM_EQUIPMENT") == (Step(T, IE),)


def test_fixed_order_stops_then_triggers_then_loops():
    scope = [
        "ITEM_EQUIPMENT_LOOP",
        "ITEM_EQUIPMENT",
        "OCID_LOOKUP",
        "RANKING_FETCH",
        "ITEM_EQUIPMENT_STOP",
        "CHARACTER_BASIC_STOP_LOOP",
        "RANKING_FETCH_STOP",
    ]
    assert [s.token for s in parse_scope(scope)] == [
        "RANKING_FETCH_STOP",
        "CHARACTER_BASIC_STOP_LOOP",
        "ITEM_EQUIPMENT_STOP",
        "RANKING_FETCH",
        "OCID_LOOKUP",
        "ITEM_EQUIPMENT",
        "ITEM_EQUIPMENT_LOOP",
    ]


@pytest.mark.parametrize(
    "scope",
    [
        "RANKING_FETCH_LOOP",
        "OCID_LOOKUP_LOOP",
        "OCID_LOOKUP_STOP_LOOP",
        "BOGUS",
        [],
        ["RANKING_FETCH", 3],
        ["OCID_LOOKUP", "OCID_LOOKUP"],
        42,
        {"a": 1},
        ["FULL_DAILY"],
        "ranking_fetch",
    ],
)
def test_bad_scopes(scope):
    with pytest.raises(ConfError):
        parse_scope(scope)


def test_steps_keep_their_order():
    steps = [
        {"action": "stop_loop", "phase": "ITEM_EQUIPMENT"},
        {"action": "trigger", "phase": "ITEM_EQUIPMENT"},
        {"action": "trigger", "phase": "RANKING_FETCH"},
    ]
    assert parse_steps(steps) == (Step(SL, IE), Step(T, IE), Step(T, RB))


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"action": "loop", "phase": "RANKING_FETCH"}],
        [{"action": "stop_loop", "phase": "OCID_LOOKUP"}],
        [{"action": "run", "phase": "RANKING_FETCH"}],
        [{"action": "trigger", "phase": "NOPE"}],
        [{"action": "trigger"}],
        [{"action": "trigger", "phase": "RANKING_FETCH", "extra": 1}],
        ["RANKING_FETCH"],
        [{"action": "trigger", "phase": "RANKING_FETCH"}] * 11,
    ],
)
def test_bad_steps(steps):
    with pytest.raises(ConfError):
        parse_steps(steps)


def _plan(params, raw=None):
    return plan_from_params(params, raw_conf=raw if raw is not None else params, now=NOW)


def test_plan_modes():
    assert _plan({}).mode is Mode.FULL_DAILY
    assert _plan({"scope": "FULL_DAILY", "steps": None}).mode is Mode.FULL_DAILY
    assert _plan({"scope": ["OCID_LOOKUP"]}).mode is Mode.SCOPE
    steps = [{"action": "trigger", "phase": "OCID_LOOKUP"}]
    assert _plan({"steps": steps}).mode is Mode.STEPS
    # the UI form sends every param, scope at its default: steps win
    assert _plan({"scope": "FULL_DAILY", "steps": steps}).mode is Mode.STEPS


def test_scope_and_steps_together_are_refused():
    with pytest.raises(ConfError, match="not both"):
        _plan({"scope": "RANKING_FETCH", "steps": [{"action": "trigger", "phase": "OCID_LOOKUP"}]})


def test_unknown_conf_keys_are_refused():
    with pytest.raises(ConfError, match="unknown conf key"):
        _plan({"scope": "RANKING_FETCH"}, raw={"scope": "RANKING_FETCH", "scopes": "x"})


@pytest.mark.parametrize(
    ("upstream", "ok"),
    [
        ({"OCID_LOOKUP": "latest"}, True),
        ({"ITEM_EQUIPMENT": "20260102-020000-ocid-00aa11bb"}, True),
        ({"RANKING_FETCH": "latest"}, False),  # the root phase has no upstream
        ({"ocid_lookup": "latest"}, False),
        ({"OCID_LOOKUP": "../etc"}, False),
        ({"OCID_LOOKUP": 5}, False),
        (["OCID_LOOKUP"], False),
    ],
)
def test_upstream_run_ids(upstream, ok):
    params = {"scope": "OCID_LOOKUP", "upstream_run_ids": upstream}
    if ok:
        assert _plan(params).upstream_run_ids
    else:
        with pytest.raises(ConfError):
            _plan(params)


@pytest.mark.parametrize(
    ("date", "ok"),
    [
        ("2026-01-09", True),
        ("latest", True),
        (None, True),
        ("2026-02-30", False),
        ("2026-01-11", False),
        ("2020-01-01", False),
        ("20260109", False),
    ],
)
def test_date(date, ok):
    params = {"scope": "RANKING_FETCH", "date": date}
    if ok:
        assert _plan(params).date == date
    else:
        with pytest.raises(ConfError, match="date"):
            _plan(params)


def test_upstream_of_a_step_comes_from_the_latest_earlier_upstream_trigger():
    steps = (Step(T, RB), Step(T, OC), Step(S, IE), Step(T, IE), Step(T, OC), Step(T, CB))
    ids = ["r0", "o1", None, "i3", "o4", "c5"]
    assert resolve_upstream(steps, 0, {}, ids) is None  # root
    assert resolve_upstream(steps, 1, {}, ids) == "r0"
    assert resolve_upstream(steps, 2, {}, ids) is None  # not a trigger
    assert resolve_upstream(steps, 3, {}, ids) == "o1"
    assert resolve_upstream(steps, 5, {}, ids) == "o4"  # the latest earlier OCID trigger
    assert resolve_upstream((Step(T, IE),), 0, {}, []) == "latest"


def test_resolve_upstream_precedence():
    assert resolve_upstream((Step(T, RB),), 0, {OC: "x"}, []) is None
    steps = (Step(T, RB), Step(T, OC))
    assert resolve_upstream(steps, 1, {OC: "explicit-1"}, ["this-run"]) == "explicit-1"
    assert resolve_upstream(steps, 1, {}, ["this-run"]) == "this-run"
    assert resolve_upstream(steps, 1, {}, [None]) == "latest"
