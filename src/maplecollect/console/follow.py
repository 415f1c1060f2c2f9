"""Follow runs and chains of a running service until they end, with progress bars.

Every wait here has a bound and says what it waits for: a run that is paused
or INTERRUPTED shows why on its bar; a service that stops answering (a
restart) is retried for `UNREACHABLE_SECONDS` with a visible message; a run
INTERRUPTED longer than `INTERRUPTED_SECONDS` (no replica resumed it) ends the
wait; and the whole wait gives up after its `timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rich.console import Console

from maplecollect.console.client import ControlApiError, ControlClient
from maplecollect.console.errors import CliError
from maplecollect.console.render import RunBars, fmt_seconds

Body = dict[str, Any]
T = TypeVar("T")

# A restart (migrations, lifespan) takes seconds; two minutes is a dead service.
UNREACHABLE_SECONDS = 120.0
# A graceful shutdown leaves runs INTERRUPTED for the next service to resume:
# past this, nobody is resuming them.
INTERRUPTED_SECONDS = 600.0
# The longest a `--wait` follows a run or chain: the daily cadence.
FOLLOW_SECONDS = 24 * 3600.0
# A stop is honoured at the next batch boundary, within seconds.
STOP_WAIT_SECONDS = 120.0


class Patience:
    """Retry calls while the service is unreachable, for a bounded time, saying so."""

    def __init__(self, say: Callable[[str], None], seconds: float = UNREACHABLE_SECONDS) -> None:
        self.say = say
        self.seconds = seconds
        self._since: float | None = None

    def call(self, fetch: Callable[[], T]) -> T | None:
        """`fetch()`, or None while the service does not answer (raises past the bound)."""
        try:
            found = fetch()
        except ControlApiError as exc:
            if not exc.unreachable:
                raise
            now = time.monotonic()
            if self._since is None:
                self._since = now
                self.say(f"{exc.message}: unreachable, retrying for up to {self.seconds:g} s")
            elif now - self._since > self.seconds:
                raise CliError(
                    f"{exc.message}: still unreachable after {self.seconds:g} s"
                ) from None
            return None
        if self._since is not None:
            self._since = None
            self.say("the control API answers again")
        return found


class InterruptedWatch:
    """Fail a wait whose runs stay INTERRUPTED (waiting for auto-resume) too long."""

    def __init__(self, seconds: float = INTERRUPTED_SECONDS) -> None:
        self.seconds = seconds
        self._since: dict[str, float] = {}

    def check(self, runs: Iterable[Body]) -> None:
        now = time.monotonic()
        for run in runs:
            run_id = str(run.get("runId"))
            if run.get("status") != "INTERRUPTED":
                self._since.pop(run_id, None)
                continue
            since = self._since.setdefault(run_id, now)
            if now - since > self.seconds:
                raise CliError(
                    f"run {run_id} is still INTERRUPTED after {self.seconds:g} s: no service "
                    f"resumed it; is `maplecollect serve` running? (`maplecollect runs {run_id}`)"
                )


def _poll(
    fetch: Callable[[], tuple[list[Body], bool]],
    *,
    out: Console | None,
    poll_seconds: float,
    timeout: float | None,
    what: str,
) -> None:
    limit = FOLLOW_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + limit
    interrupted = InterruptedWatch()
    with RunBars(out) as bars:
        patience = Patience(lambda line: bars.progress.console.print(line, markup=False))
        while True:
            got = patience.call(fetch)
            if got is not None:
                runs, finished = got
                bars.update(runs)
                if finished:
                    return
                interrupted.check(runs)
            if time.monotonic() > deadline:
                raise CliError(f"{what} did not end within {fmt_seconds(limit)}")
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


def wait_terminal(
    api: ControlClient,
    run_id: str,
    *,
    say: Callable[[str], None],
    timeout: float = STOP_WAIT_SECONDS,
) -> Body:
    """After a stop request: wait (bounded) until the run has ended; returns its JSON."""
    deadline = time.monotonic() + timeout
    patience = Patience(say)
    last: Body = {}
    while True:
        run = patience.call(lambda: api.run(run_id))
        if run is not None:
            last = run
            if run.get("terminal"):
                return dict(run)
        if time.monotonic() > deadline:
            raise CliError(
                f"run {run_id} is still {last.get('status', 'unknown')} {timeout:g} s after the "
                f"stop request; see `maplecollect runs {run_id}` and the service log"
            )
        time.sleep(0.3)


def wait_loop_stopped(
    api: ControlClient,
    phase: str,
    loop_id: str | None,
    *,
    say: Callable[[str], None] | None = None,
    timeout: float = STOP_WAIT_SECONDS,
) -> Body:
    """Wait (bounded) until the phase's newest loop (`loop_id` if given) is STOPPED."""
    deadline = time.monotonic() + timeout
    patience = Patience(say or (lambda _line: None))
    while True:
        status = patience.call(api.run_status)
        loop = ((status or {}).get("loopSummaries") or {}).get(phase) or {}
        if loop and loop.get("status") == "STOPPED" and loop_id in (None, loop.get("loopId")):
            return dict(loop)
        if time.monotonic() > deadline:
            raise CliError(
                f"loop {loop_id or phase} is still {loop.get('status', 'unknown')} "
                f"{timeout:g} s after the stop request; see `maplecollect status`"
            )
        time.sleep(0.5)
