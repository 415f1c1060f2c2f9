"""Pure parts of the status page: display strings, the sample ring, file lookup, sessions,
and escaping in the templates. The live behaviour is in the HTTP and browser tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from maplecollect.api import auth
from maplecollect.statuspage import files
from maplecollect.statuspage.overview import cell_colour, failures_list, pause_text, phase_view
from maplecollect.statuspage.pages import templates
from maplecollect.statuspage.samples import Series


def run_json(**over: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    base: dict[str, Any] = {
        "runId": "r1",
        "phase": "OCID_LOOKUP",
        "status": "RUNNING",
        "terminal": False,
        "startedAt": now,
        "updatedAt": now,
        "completedAt": None,
        "totalKeys": 200,
        "recordsProcessed": 50,
        "recordsFailed": 3,
        "ratePerSecond": 12.5,
        "etaSeconds": 12.0,
        "errorMessage": None,
    }
    return base | over


def test_pause_and_failures_follow_the_shared_run_contract() -> None:
    until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    run = run_json(
        pause={"code": "OPENAPI00009", "reason": "data not ready", "since": None, "until": until},
        failuresByCode={"TRANSPORT": 2, "OPENAPI00003": 7, "TIMEOUT": 0},
    )
    text = pause_text(run)
    assert text.startswith("paused: OPENAPI00009 data not ready, next try ")
    assert text.endswith(" KST")
    assert failures_list(run) == [
        {"code": "OPENAPI00003", "count": 7},
        {"code": "TRANSPORT", "count": 2},
    ]
    view = phase_view(run, None, active=True)
    assert view["pause"] == text and view["progress"] == 0.25
    assert view["count"] == "50 / 200" and view["rate"] == "12.5/s" and view["eta"] == "12s"
    # Before the fields exist (or when null) nothing breaks and nothing is invented.
    assert pause_text(run_json()) == "" and pause_text(run_json(pause=None)) == ""
    assert failures_list(run_json(failuresByCode="junk")) == []
    assert phase_view(run_json(), None, active=True)["failures"] == [{"code": "failed", "count": 3}]


def test_idle_and_terminal_views() -> None:
    idle = phase_view(None, None, active=False)
    assert idle["status"] == "IDLE" and idle["progress"] == 0.0
    failed = phase_view(
        run_json(status="FAILED", terminal=True, errorMessage="x" * 500), None, active=False
    )
    assert failed["canResume"] and len(failed["error"]) == 300 and failed["pause"] == ""
    loop = {"status": "WAITING_FOR_CHAIN", "iterationCount": 4}
    assert phase_view(None, loop, active=False)["loop"] == "loop WAITING_FOR_CHAIN · 4 iteration(s)"
    colours = [
        cell_colour(SimpleNamespace(status=s))  # type: ignore[arg-type]
        for s in ("COMPLETED", "FAILED", "ABANDONED", "STOPPED", "RUNNING", "INTERRUPTED")
    ]
    assert colours == ["green", "red", "red", "grey", "blue", "blue"]
    assert cell_colour(None) == "grey"


def test_the_sample_ring_stays_bounded_and_keeps_the_whole_run() -> None:
    series = Series()
    for t in range(10_000):
        series.add([float(t), float(t), 0.0, 5.0, 1.0 if t % 100 == 0 else 0.0, 10.0, 0.0], 64)
    assert len(series.samples) < 64
    assert (
        series.samples[0][0] <= series.stride and series.samples[-1][0] > 10_000 - 2 * series.stride
    )
    times = [s[0] for s in series.samples]
    assert times == sorted(times)
    # Merged and skipped samples add their 429s up instead of dropping them: of the
    # 100 marked seconds only those after the last kept sample are still pending.
    assert sum(s[4] for s in series.samples) >= 99


def test_only_listed_part_files_are_found() -> None:
    chunk = SimpleNamespace(
        endpoint="ocid-lookup",
        path="runs/r1/ocid-lookup/chunks/part-000001.jsonl.zst",
        sha256="a" * 64,
        failed_path="runs/r1/ocid-lookup/failed/part-000001.jsonl.zst",
        failed_sha256="b" * 64,
    )
    chunks: Any = [chunk]
    found = files.find_file("r1", "ocid-lookup", "chunks", "part-000001.jsonl.zst", chunks)
    assert found is not None and found.rel == chunk.path and found.sha256 == "a" * 64
    failed = files.find_file("r1", "ocid-lookup", "failed", "part-000001.jsonl.zst", chunks)
    assert failed is not None and failed.sha256 == "b" * 64
    for folder, name, endpoint in (
        ("chunks", "part-000002.jsonl.zst", "ocid-lookup"),
        ("chunks", "../manifest.json", "ocid-lookup"),
        ("..", "part-000001.jsonl.zst", "ocid-lookup"),
        ("chunks", "part-000001.jsonl.zst", "item-equipment"),
    ):
        assert files.find_file("r1", endpoint, folder, name, chunks) is None


def test_sessions_expire_resist_forgery_and_end_with_a_new_token() -> None:
    now = 1_800_000_000.0
    cookie = auth.new_session("tok", now)
    assert "tok" not in cookie
    assert auth.session_valid("tok", cookie, 3600, now + 3599)
    assert not auth.session_valid("tok", cookie, 3600, now + 3601)  # expired
    assert not auth.session_valid("other-token", cookie, 3600, now)  # token changed
    issued, mac = cookie.split(".")
    assert not auth.session_valid("tok", f"{int(issued) + 1}.{mac}", 3600, now)
    for junk in ("", ".", "abc.def", "1" * 40 + ".x", None):
        assert not auth.session_valid("tok", junk, 3600, now)
    assert auth.csrf_token("tok", cookie) != auth.csrf_token(
        "tok", auth.new_session("tok", now + 1)
    )


@pytest.mark.parametrize("template", ["index.html", "run.html"])
def test_names_are_escaped_and_korean_kept(template: str) -> None:
    evil = '<script>alert("x")</script>'
    run = run_json(errorMessage=f"캐릭터 {evil}", status="FAILED", terminal=True)
    view = phase_view(run, None, active=False)
    context: dict[str, Any] = {
        "data": {
            "now": datetime.now(UTC).isoformat(),
            "phases": [{"phase": "OCID_LOOKUP", "loopable": False, "view": view}],
            "days": [],
            "limiter": {"keys": [{"text": "key default"}]},
        },
        "days": 8,
        "run": run,
        "parts": [],
        "manifest": None,
        "failures": {
            "scanned": 1,
            "truncated": False,
            "byCode": {
                "OPENAPI00003": {"count": 1, "samples": [{"key": f"메이플{evil}", "message": evil}]}
            },
        },
        "failures_by_code": None,
        "timeline": [],
        "rate_limit": 10.0,
        "version": "test",
    }
    html = templates().get_template(template).render(**context)
    assert evil not in html
    assert "&lt;script&gt;" in html
    assert "캐릭터" in html
    if template == "run.html":
        assert "메이플&lt;script&gt;" in html
