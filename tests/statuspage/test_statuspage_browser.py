"""The status page in a real browser (headless Chromium) against a live sim + service.

Bounded polls only (every wait says what it waits for); no wall-clock assertions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from maplecollect.console.demo import sim_now
from maplecollect.contract.models import RunPublic
from statuspage.browser import Traffic, World, browser_page, world

PAGE_BUDGET_BYTES = 200 * 1024


def wait_for(what: str, check: Callable[[], Any], within: float = 180.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up after {within:g} s waiting for {what}")


def api(w: World) -> httpx.Client:
    return httpx.Client(base_url=w.url, headers={"Authorization": f"Bearer {w.token}"}, timeout=30)


def complete(client: httpx.Client, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = client.post(f"/api/internal/trigger/phase/{phase}", headers=headers)
    assert res.status_code == 202, res.text
    run_id = str(res.json()["runId"])
    run = wait_for(
        f"{phase} run {run_id} to end",
        lambda: (r := client.get(f"/api/internal/runs/{run_id}").json())["terminal"] and r,
    )
    assert run["status"] == "COMPLETED", run
    return run_id


def log_in(page: Any, w: World, traffic: Traffic) -> None:
    page.goto(w.url + "/")
    assert page.locator("#token").is_visible()  # the login form, not the data
    page.fill("#token", w.token)
    page.click("#login-submit")
    page.wait_for_selector('[data-phase="RANKING_FETCH"]')
    assert w.token not in page.url and "?" not in page.url
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "maplecollect_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert w.token not in session[0]["value"]


def card(page: Any, phase: str, name: str) -> Any:
    return page.locator(f'[data-phase="{phase}"] [data-f="{name}"]')


def test_a_run_progresses_to_completed_without_reload(tmp_path: Path) -> None:
    with world(tmp_path, characters=240, rate=40.0) as w, api(w) as client:
        ranking = complete(client, "RANKING_FETCH")
        with browser_page(tmp_path, width=1280) as (page, traffic):
            log_in(page, w, traffic)
            # Polled from Python: the page's CSP forbids the eval behind wait_for_function.
            wait_for(
                "the page's first poll",
                lambda: int(page.get_attribute("body", "data-polls") or 0) >= 1,
            )
            loaded = traffic.bytes_in
            assert loaded < PAGE_BUDGET_BYTES, f"page load {loaded} bytes"
            page.evaluate("window.__noReload = 'still here'")

            page.click('[data-phase="OCID_LOOKUP"] [data-action="trigger"]')
            seen: list[tuple[str, float | None]] = []
            shot = tmp_path / "mid-run.png"

            def observe() -> bool:
                status = card(page, "OCID_LOOKUP", "status").inner_text()
                value = page.evaluate(
                    "() => { const p = document.querySelector("
                    "'[data-phase=\"OCID_LOOKUP\"] progress'); "
                    "return p.hasAttribute('value') ? p.value : null; }"
                )
                seen.append((status, value))
                if status == "RUNNING" and value and 0 < value < 1 and not shot.exists():
                    page.screenshot(path=str(shot), full_page=True)
                return status in ("COMPLETED", "FAILED", "STOPPED")

            wait_for("the OCID_LOOKUP card to show the run's end", observe)
            assert ranking in client.get("/api/internal/run-status").text
            assert seen[-1][0] == "COMPLETED", seen[-5:]
            running = [v for s, v in seen if s == "RUNNING" and v is not None]
            assert any(0 < v < 1 for v in running), seen  # a bar that moved, not a jump
            assert running == sorted(running)  # never backwards
            assert shot.exists() and shot.stat().st_size > 10_000
            assert page.evaluate("window.__noReload") == "still here"  # live, not reloaded
            count = card(page, "OCID_LOOKUP", "count").inner_text()
            assert count.endswith("/ 240") or "/" in count

            # Into the run page: Korean names of failed lookups render as text.
            page.click('[data-phase="OCID_LOOKUP"] [data-f="run"]')
            page.wait_for_selector("#run")
            failures = client.get(
                f"/api/internal/runs/{page.get_attribute('#run', 'data-run')}/failures"
            ).json()
            keys = [s["key"] for e in failures["byCode"].values() for s in e["samples"]]
            assert keys
            table = page.locator("table.samples").inner_text()
            for key in keys:
                assert key in table
            assert page.locator("table.parts a[download]").count() >= 2
            page.wait_for_selector("#chart polyline", state="attached")
        assert traffic.foreign == [], traffic.foreign
        assert all(u.startswith((w.url, "data:")) for u in traffic.urls)


def test_stop_a_loop_from_the_page_on_a_phone(tmp_path: Path) -> None:
    with world(tmp_path, characters=200, rate=40.0) as w, api(w) as client:
        ranking = complete(client, "RANKING_FETCH")
        complete(client, "OCID_LOOKUP", upstream=ranking)
        with browser_page(tmp_path, width=390, height=844) as (page, traffic):
            log_in(page, w, traffic)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 390, f"page is {overflow} px wide on a 390 px screen"
            page.click('[data-phase="ITEM_EQUIPMENT"] [data-action="loop"]')
            wait_for(
                "the ITEM_EQUIPMENT loop to show RUNNING",
                lambda: "loop RUNNING" in card(page, "ITEM_EQUIPMENT", "loop").inner_text(),
            )
            wait_for(
                "the loop's run to show RUNNING",
                lambda: card(page, "ITEM_EQUIPMENT", "status").inner_text() == "RUNNING",
            )
            page.click('[data-phase="ITEM_EQUIPMENT"] [data-action="stop-loop"]')
            wait_for(
                "the loop to show STOPPED",
                lambda: "loop STOPPED" in card(page, "ITEM_EQUIPMENT", "loop").inner_text(),
            )
            status = card(page, "ITEM_EQUIPMENT", "status").inner_text()
            assert status in ("STOPPED", "COMPLETED"), status
            loop = client.get("/api/internal/run-status").json()["loopSummaries"]["ITEM_EQUIPMENT"]
            assert loop["status"] == "STOPPED"
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert traffic.foreign == []


@pytest.mark.skipif(
    "pause" not in RunPublic.model_fields,
    reason="the run JSON has no `pause` field yet (helper visibility's contract)",
)
def test_a_pause_reason_appears_when_data_is_not_ready(tmp_path: Path) -> None:
    # The simulator's clock at 08:00 KST of the day the page asks for: that day's
    # ranking is published at 09:30, so the simulator answers OPENAPI00009.
    early = (sim_now() - timedelta(days=1)).replace(hour=8, minute=0)
    with world(tmp_path, characters=60, rate=40.0, sim_now=early) as w:
        with browser_page(tmp_path, width=1280) as (page, traffic):
            log_in(page, w, traffic)
            page.click('[data-phase="RANKING_FETCH"] [data-action="trigger"]')
            pause = card(page, "RANKING_FETCH", "pause")
            wait_for("a pause reason on the RANKING_FETCH card", pause.is_visible)
            text = pause.inner_text()
            assert "OPENAPI00009" in text, text
            assert card(page, "RANKING_FETCH", "status").inner_text() == "RUNNING"
            page.click('[data-phase="RANKING_FETCH"] [data-action="stop"]')
            wait_for(
                "the paused run to stop",
                lambda: card(page, "RANKING_FETCH", "status").inner_text() == "STOPPED",
            )
        assert traffic.foreign == []
