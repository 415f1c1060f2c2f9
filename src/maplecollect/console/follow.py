"""Follow runs and chains of a running service until they end, with progress bars."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from maplecollect.console.client import ControlClient
from maplecollect.console.errors import CliError
from maplecollect.console.render import RunBars

Body = dict[str, Any]


def _poll(
    fetch: Callable[[], tuple[list[Body], bool]],
    *,
    out: Console | None,
    poll_seconds: float,
    timeout: float | None,
    what: str,
) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    with RunBars(out) as bars:
        while True:
            runs, finished = fetch()
            bars.update(runs)
            if finished:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise CliError(f"{what} did not end within {timeout:g} s")
            time.sleep(poll_seconds)


def follow_run(
    api: ControlClient,
    run_id: str,
    *,
    out: Console | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Body:
    """Wait for a run to reach a terminal status; returns its final JSON."""
    final: Body = {}

    def fetch() -> tuple[list[Body], bool]:
        nonlocal final
        final = api.run(run_id)
        return [final], bool(final.get("terminal"))

    _poll(fetch, out=out, poll_seconds=poll_seconds, timeout=timeout, what=f"run {run_id}")
    return final


def follow_chain(
    api: ControlClient,
    chain_id: str,
    *,
    out: Console | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Body:
    """Wait for a daily chain to end (COMPLETED, FAILED or STOPPED); returns its JSON."""
    final: Body = {}

    def fetch() -> tuple[list[Body], bool]:
        nonlocal final
        final = api.chain(chain_id)
        runs = list((final.get("runs") or {}).values())
        return runs, final.get("status") != "RUNNING"

    _poll(fetch, out=out, poll_seconds=poll_seconds, timeout=timeout, what=f"chain {chain_id}")
    return final


def wait_loop_stopped(
    api: ControlClient, phase: str, loop_id: str | None, *, timeout: float | None = None
) -> Body:
    """Wait until the phase's newest loop (`loop_id` if given) is STOPPED; returns it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        loop = (api.run_status().get("loopSummaries") or {}).get(phase) or {}
        if loop and loop.get("status") == "STOPPED" and loop_id in (None, loop.get("loopId")):
            return dict(loop)
        if deadline is not None and time.monotonic() > deadline:
            raise CliError(f"loop {loop_id or phase} did not stop within {timeout:g} s")
        time.sleep(0.5)
