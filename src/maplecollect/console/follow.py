"""Follow runs and chains of a running service until they end, with progress bars.

The waiting is the client's (`ControlClient.wait_run` / `wait_chain` / `wait_idle`,
rules in `maplecollect.client.waiting`); this module adds the bars and the lines
an operator sees. Every wait has a bound and says what it waits for: a run that is
paused or INTERRUPTED shows why on its bar; a service that stops answering (a
restart) is retried for `UNREACHABLE_SECONDS` with a visible message; a run
INTERRUPTED longer than `INTERRUPTED_SECONDS` (no replica resumed it) ends the
wait; and the whole wait gives up after its `timeout`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

from maplecollect.console.render import RunBars
from maplecollect.phases import Phase

if TYPE_CHECKING:
    from maplecollect.client.errors import Unavailable
    from maplecollect.client.sync import ControlClient
    from maplecollect.client.waiting import Patience

Body = dict[str, Any]

# A restart (migrations, lifespan) takes seconds; two minutes is a dead service.
UNREACHABLE_SECONDS = 120.0
# A graceful shutdown leaves runs INTERRUPTED for the next service to resume:
# past this, nobody is resuming them.
INTERRUPTED_SECONDS = 600.0
# The longest a `--wait` follows a run or chain: the daily cadence.
FOLLOW_SECONDS = 24 * 3600.0
# A stop is honoured at the next batch boundary, within seconds.
STOP_WAIT_SECONDS = 120.0


def patience(timeout: float | None, poll: float) -> Patience:
    from maplecollect.client.waiting import Patience

    return Patience(
        timeout=FOLLOW_SECONDS if timeout is None else timeout,
        poll=poll,
        unreachable=UNREACHABLE_SECONDS,
        interrupted=INTERRUPTED_SECONDS,
    )


def outage_lines(say: Callable[[str], None]) -> dict[str, Any]:
    """The wait hooks that say when the service stops and starts answering (once each)."""

    def on_outage(exc: Unavailable, _down: float, failed: int) -> None:
        if failed == 1:
            say(f"{exc.message}: unreachable, retrying for up to {UNREACHABLE_SECONDS:g} s")

    return {"on_outage": on_outage, "on_back": lambda _failed: say("the control API answers again")}


def follow_run(
    api: ControlClient,
    run_id: str,
    *,
    out: Console | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Body:
    """Wait for a run to reach a terminal status; returns its final JSON."""
    with RunBars(out) as bars:
        run = api.wait_run(
            run_id,
            patience(timeout, poll_seconds),
            on_poll=lambda doc: bars.update([doc.wire()]),
            **outage_lines(lambda line: bars.progress.console.print(line, markup=False)),
        )
    return run.wire()


def follow_chain(
    api: ControlClient,
    chain_id: str,
    *,
    out: Console | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Body:
    """Wait for a daily chain to end (COMPLETED, FAILED or STOPPED); returns its JSON."""
    with RunBars(out) as bars:
        chain = api.wait_chain(
            chain_id,
            patience(timeout, poll_seconds),
            on_poll=lambda doc: bars.update([run.wire() for run in doc.runs.values()]),
            **outage_lines(lambda line: bars.progress.console.print(line, markup=False)),
        )
    return chain.wire()


def wait_terminal(
    api: ControlClient,
    run_id: str,
    *,
    say: Callable[[str], None],
    timeout: float = STOP_WAIT_SECONDS,
) -> Body:
    """After a stop request: wait (bounded) until the run has ended; returns its JSON."""
    from maplecollect.client.waiting import Patience

    wait = Patience(timeout=timeout, poll=0.3, unreachable=UNREACHABLE_SECONDS)
    return api.wait_run(run_id, wait, **outage_lines(say)).wire()


def wait_loop_stopped(
    api: ControlClient,
    phase: str,
    *,
    say: Callable[[str], None],
    timeout: float = STOP_WAIT_SECONDS,
) -> Body:
    """After a loop stop: wait (bounded) until the phase is idle; returns its loop's JSON."""
    from maplecollect.client.waiting import Patience

    wait = Patience(timeout=timeout, poll=0.5, unreachable=UNREACHABLE_SECONDS)
    status = api.wait_idle(Phase(phase), wait, **outage_lines(say))
    loop = status.loop_summaries.get(Phase(phase))
    return loop.wire() if loop is not None else {}
