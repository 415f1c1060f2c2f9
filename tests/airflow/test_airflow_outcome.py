"""classify / classify_chain / classify_idle: one table each; unknown never succeeds."""

from __future__ import annotations

import pytest

from maplecollect.airflow.outcome import (
    Target,
    Verdict,
    classify,
    classify_chain,
    classify_idle,
    classify_target,
)

S, F, W = Verdict.SUCCESS, Verdict.FAILED, Verdict.WAITING


@pytest.mark.parametrize(
    ("status", "stop_expected", "verdict"),
    [
        ("COMPLETED", False, S),
        ("COMPLETED", True, S),
        ("RUNNING", False, W),
        ("STOPPING", False, W),
        ("STOPPING", True, W),
        ("FAILED", False, F),
        ("FAILED", True, F),
        ("ABANDONED", False, F),
        ("STOPPED", False, F),
        ("STOPPED", True, S),
        ("PAUSED", False, F),
        ("", False, F),
        (None, False, F),
        (3, False, F),
    ],
)
def test_classify_run(status, stop_expected, verdict):
    run = {"runId": "r1", "phase": "OCID_LOOKUP", "status": status, "errorMessage": "boom"}
    outcome = classify(run, stop_expected=stop_expected)
    assert outcome.verdict is verdict
    assert outcome.done is (verdict is not W)


def test_failed_run_message_carries_error_message():
    outcome = classify(
        {
            "runId": "r1",
            "phase": "OCID_LOOKUP",
            "status": "FAILED",
            "errorMessage": "OPENAPI00005 invalid key",
        }
    )
    assert "OPENAPI00005 invalid key" in outcome.message
    assert "r1" in outcome.message


@pytest.mark.parametrize(
    ("status", "verdict"),
    [("RUNNING", W), ("COMPLETED", S), ("FAILED", F), ("STOPPED", F), ("DONE", F), (None, F)],
)
def test_classify_chain(status, verdict):
    assert classify_chain({"chainId": "c1", "status": status}).verdict is verdict


def test_failed_chain_names_the_failed_run():
    chain = {
        "chainId": "c1",
        "status": "FAILED",
        "runs": {
            "RANKING_FETCH": {"runId": "r1", "phase": "RANKING_FETCH", "status": "COMPLETED"},
            "OCID_LOOKUP": {
                "runId": "r2",
                "phase": "OCID_LOOKUP",
                "status": "FAILED",
                "errorMessage": "store unwritable",
            },
        },
    }
    message = classify_chain(chain).message
    assert "r2" in message and "store unwritable" in message and "r1" not in message


def _status(run=None, loop=None, phase="ITEM_EQUIPMENT"):
    return {"slots": {phase: run}, "loopSummaries": {phase: loop}}


@pytest.mark.parametrize(
    ("run", "loop", "verdict"),
    [
        (None, None, S),
        ({"runId": "r", "status": "COMPLETED"}, None, S),
        ({"runId": "r", "status": "STOPPED"}, {"loopId": "l", "status": "STOPPED"}, S),
        ({"runId": "r", "status": "FAILED"}, None, S),
        ({"runId": "r", "status": "STOPPING"}, None, W),
        ({"runId": "r", "status": "RUNNING"}, None, W),
        (None, {"loopId": "l", "status": "RUNNING"}, W),
        ({"runId": "r", "status": "STOPPED"}, {"loopId": "l", "status": "STOPPING"}, W),
        ({"runId": "r", "status": "WEIRD"}, None, F),
        (None, {"loopId": "l", "status": "WEIRD"}, F),
    ],
)
def test_classify_idle(run, loop, verdict):
    assert classify_idle(_status(run, loop), "ITEM_EQUIPMENT").verdict is verdict


def test_classify_target_dispatches():
    assert (
        classify_target(
            Target.RUN, {"status": "STOPPED"}, target_id="r", stop_expected=True
        ).verdict
        is S
    )
    assert classify_target(Target.CHAIN, {"status": "RUNNING"}, target_id="c").verdict is W
    assert classify_target(Target.PHASE_IDLE, _status(), target_id="ITEM_EQUIPMENT").verdict is S
