"""Progress lines of a deferred wait: pure formatting (maplecollect.airflow.progress)."""

from __future__ import annotations

import pytest

from maplecollect.airflow.progress import duration, pause_text, run_line, state_key


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (-1, "-"), (0, "0s"), (59.4, "59s"), (183, "3m03s"), (3725, "1h02m")],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_run_line_without_pause_or_totals():
    line = run_line({"runId": "r1", "phase": "OCID_LOOKUP", "status": "RUNNING"})
    assert line == "run r1 (OCID_LOOKUP) RUNNING: ? / ? records, ? failed, -/s, ETA -"


def test_run_line_interrupted_says_it_waits_for_auto_resume():
    line = run_line({"runId": "r1", "phase": "OCID_LOOKUP", "status": "INTERRUPTED"})
    assert "INTERRUPTED (interrupted, waiting for auto-resume)" in line


def test_pause_text_with_until():
    pause = {"code": "MAINTENANCE", "reason": "API maintenance", "since": "a", "until": "b"}
    assert pause_text(pause) == ", paused: MAINTENANCE API maintenance (since a, until b)"
    assert pause_text(None) == ""


def test_state_key_changes_with_status_or_pause_only():
    base = {"status": "RUNNING", "recordsProcessed": 1}
    assert state_key(base) == state_key({**base, "recordsProcessed": 2})
    assert state_key(base) != state_key({**base, "pause": {"code": "X", "reason": "y"}})
    assert state_key(base) != state_key({**base, "status": "STOPPING"})
