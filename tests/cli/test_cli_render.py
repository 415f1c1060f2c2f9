"""What `maplecollect runs <id>` draws for one run body."""

from __future__ import annotations

from rich.console import Console

from maplecollect.console.render import failures_text, run_detail


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
