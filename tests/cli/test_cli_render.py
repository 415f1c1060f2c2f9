"""What the CLI draws for runs: pure rendering of control-API JSON (waits, failures by code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from maplecollect.console.render import (
    RunBars,
    activity,
    failures_text,
    pause_text,
    run_detail,
    status_table,
)

NOW = datetime(2026, 11, 26, 18, 14, tzinfo=UTC)  # 03:14 KST on the 27th


def _run(**extra: object) -> dict[str, object]:
    run: dict[str, object] = {
        "runId": "20261126-180000-rank-0badc0de",
        "phase": "RANKING_FETCH",
        "status": "RUNNING",
        "terminal": False,
        "snapshotDate": "2026-11-26",
        "startedAt": "2026-11-26T18:00:00Z",
        "updatedAt": "2026-11-26T18:14:00Z",
        "recordsProcessed": 0,
        "recordsFailed": 0,
        "totalKeys": None,
        "ratePerSecond": 0.0,
        "etaSeconds": None,
        "pause": None,
    }
    run.update(extra)
    return run


PAUSE = {
    "code": "OPENAPI00009",
    "reason": "data not ready",
    "since": "2026-11-26T18:10:00Z",
    "until": "2026-11-26T18:15:00Z",
}


def test_a_pause_reads_with_its_code_reason_and_next_try_in_kst() -> None:
    run = _run(pause=PAUSE)
    assert pause_text(run, NOW) == "paused: OPENAPI00009 data not ready, next try 03:15:00 KST"
    assert pause_text(run, NOW + timedelta(minutes=2)) == (
        "paused: OPENAPI00009 data not ready, trying again now"
    )
    assert pause_text(_run()) is None
    assert pause_text(_run(pause=PAUSE, terminal=True, status="FAILED")) is None


def _text(renderable: object) -> str:
    out = Console(width=250, record=True, color_system=None)
    out.print(renderable)
    return out.export_text()


def test_status_shows_what_a_run_waits_for_instead_of_a_rate() -> None:
    interrupted = _run(status="INTERRUPTED", ratePerSecond=12.5, etaSeconds=30)
    assert activity(interrupted) == "interrupted, waiting for auto-resume"
    body = {"slots": {"RANKING_FETCH": interrupted}, "loopSummaries": {}}
    table = _text(status_table(body))
    assert "INTERRUPTED interrupted, waiting for auto-resume" in table
    assert "12.5/s" not in table and "30s" not in table


def test_finished_bars_say_took_and_show_failures() -> None:
    out = Console(width=200, record=True, color_system=None)
    done = _run(
        runId="20261126-180000-ocid-0badc0de",
        phase="OCID_LOOKUP",
        status="COMPLETED",
        terminal=True,
        recordsProcessed=98,
        recordsFailed=2,
        totalKeys=100,
        completedAt="2026-11-26T18:01:30Z",
    )
    with RunBars(out) as bars:
        bars.update([_run(pause=PAUSE)])
        bars.update([done])
    text = out.export_text()
    assert "RANKING_FETCH run 20261126-180000-rank-0badc0de paused: OPENAPI00009" in text
    line = next(x for x in text.splitlines() if x.startswith("OCID_LOOKUP ") and "━" in x)
    assert "2 failed" in line and "took 1m30s" in line and "ETA" not in line


def _drawn(body: dict[str, object]) -> str:
    out = Console(record=True, width=200)
    out.print(run_detail(body))
    return out.export_text()


def test_one_run_shows_its_failures_by_code_most_frequent_first() -> None:
    body = {
        "runId": "20261126-030000-basic-0a1b2c3d",
        "phase": "CHARACTER_BASIC",
        "status": "COMPLETED",
        "recordsProcessed": 980,
        "recordsFailed": 14,
        "failuresByCode": {"OPENAPI00003": 2, "TRANSPORT": 12},
    }
    drawn = _drawn(body)
    (line,) = [row for row in drawn.splitlines() if "failuresByCode" in row]
    assert line.split("│")[2].strip() == "TRANSPORT 12, OPENAPI00003 2"
    assert "failuresByCode" not in _drawn({**body, "recordsFailed": 0, "failuresByCode": {}})


def test_failures_text_breaks_ties_by_code() -> None:
    assert failures_text({"TIMEOUT": 3, "HTTP_5XX": 3, "BAD_BODY": 1200}) == (
        "BAD_BODY 1,200, HTTP_5XX 3, TIMEOUT 3"
    )
