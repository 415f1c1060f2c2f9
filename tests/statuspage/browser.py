"""Headless Chromium (Debian's package) driven by Playwright, plus a live sim + service.

Playwright's Python package is used without `playwright install`: it launches
the system Chromium (`/usr/bin/chromium`) with a fresh profile. Every request
the page makes is logged, and any request to a host other than 127.0.0.1 is
aborted and recorded, so a test can assert the page stays on loopback.
Missing Chromium/Playwright skips with a printed reason locally and fails under
CI (CI=true or MAPLECOLLECT_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from maplecollect.console.demo import demo_settings, sim_now
from maplecollect.console.service_thread import serve_in_thread
from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread

KEY = "browser-key"
TOKEN = "browser-test-token-0123456789"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def required() -> bool:
    return (
        os.environ.get("CI") == "true"
        or os.environ.get("MAPLECOLLECT_TEST_REQUIRE_SERVICES") == "1"
    )


def chromium_or_skip() -> str:
    """The Chromium executable; skip (locally) or fail (CI) when it or Playwright is missing."""
    path = os.environ.get("MAPLECOLLECT_TEST_CHROMIUM") or shutil.which("chromium")
    problem = None
    if not path:
        problem = "Chromium not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed (requirements-dev.txt)"
    if problem:
        if required():
            pytest.fail(f"{problem}: required under CI")
        print(f"SKIPPED browser test: {problem}")
        pytest.skip(problem)
    assert path is not None
    return path


@dataclass
class Traffic:
    """What the page asked for: every URL, bytes received, and refused foreign hosts."""

    urls: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    bytes_in: int = 0


@contextlib.contextmanager
def browser_page(tmp_path: Path, *, width: int, height: int = 900) -> Iterator[tuple[Any, Traffic]]:
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_skip()
    traffic = Traffic()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{width}"),
            executable_path=chromium,
            args=LAUNCH_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        # Loaded CI machines: Playwright's own waits get the same generous bound as ours.
        context.set_default_timeout(120_000)
        try:

            def route(r: Any) -> None:
                url = r.request.url
                host = urlsplit(url).hostname
                if url.startswith("data:") or host == "127.0.0.1":
                    traffic.urls.append(url)
                    r.continue_()
                else:
                    traffic.foreign.append(url)
                    r.abort()

            context.route("**/*", route)

            def finished(request: Any) -> None:
                with contextlib.suppress(Exception):  # a request may vanish on navigation
                    sizes = request.sizes()
                    traffic.bytes_in += sizes["responseBodySize"] + sizes["responseHeadersSize"]

            context.on("requestfinished", finished)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("dialog", lambda dialog: dialog.accept())  # the buttons' confirmations
            yield page, traffic
        finally:
            context.close()


@dataclass
class World:
    url: str
    sim: Any
    token: str


@contextlib.contextmanager
def world(
    tmp_path: Path, *, characters: int = 200, rate: float = 40.0, **settings: Any
) -> Iterator[World]:
    """Simulator (clock at today noon KST, so default dates have data) + the real service."""
    config = SimConfig(
        seed=7,
        characters=characters,
        api_keys={KEY: rate},
        latency=Latency(10.0, 40.0),
        now=settings.pop("sim_now", None) or sim_now(),
    )
    with run_simulator_in_thread(config) as sim:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "nexon_base_url": sim.base_url,
            "nexon_api_key": KEY,
            "api_token": TOKEN,
            "rate_limit": rate,
            "progress_seconds": 0.25,
            "chunk_max_records": 50,
            "pause_seconds": 1.0,
            "retry_base_delay": 0.05,
            "loop_upstream_wait_seconds": 0.5,
            "ranking_max_pages": 2,  # the small world has one page per world type
        }
        values.update(settings)
        with serve_in_thread(demo_settings(**values)) as url:
            yield World(url=url, sim=sim, token=TOKEN)
