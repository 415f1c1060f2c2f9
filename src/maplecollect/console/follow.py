"""Follow runs and chains of a running service until they end, with progress bars.

The waiting is the client's (`maplecollect.client.waiting`); this module adds the
bars, the lines an operator sees and the bounds of the CLI's waits. A service that
stops answering (a restart) is retried with a visible message; a run INTERRUPTED
longer than `INTERRUPTED_SECONDS` (no replica resumed it) ends the wait.
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

Body = dict[str, Any]

# A graceful shutdown leaves runs INTERRUPTED for the next service to resume:
# past this, nobody is resuming them.
INTERRUPTED_SECONDS = 600.0
# The longest a `--wait` follows a run or chain: the daily cadence.
FOLLOW_SECONDS = 24 * 3600.0
# A stop is honoured at the next batch boundary, within seconds.
STOP_WAIT_SECONDS = 120.0


def outage_lines(say: Callable[[str], None]) -> dict[str, Any]:
    """The wait hooks that say when the service stops and starts answering (once each)."""

    from maplecollect.client.waiting import UNREACHABLE_SECONDS  # the waits' default bound

    def on_outage(exc: Unavailable, _down: float, failed: int) -> None:
        if failed == 1:
            say(f"{exc.message}: unreachable, retrying for up to {UNREACHABLE_SECONDS:g} s")

    return {"on_outage": on_outage, "on_back": lambda _failed: say("the control API answers again")}


def follow(
    api: ControlClient,
    kind: str,
    target_id: str,
    *,
    out: Console | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Body:
    """Wait for a run (`kind` "run") or a daily chain ("chain") to end; returns its JSON."""
    from maplecollect.client import waiting as w

    target: w.Target[Any] = (w.run_target if kind == "run" else w.chain_target)(target_id)
    patience = w.Patience(
        timeout=FOLLOW_SECONDS if timeout is None else timeout,
        poll=poll_seconds,
        interrupted=INTERRUPTED_SECONDS,
    )
    with RunBars(out) as bars:
        found = api.wait(
            target,
            patience,
            on_poll=lambda doc: bars.update(run.wire() for run in target.runs(doc)),
            **outage_lines(lambda line: bars.progress.console.print(line, markup=False)),
        )
    body: Body = found.wire()
    return body


def wait_terminal(api: ControlClient, run_id: str, *, say: Callable[[str], None]) -> Body:
    """After a stop request: wait (bounded) until the run has ended; returns its JSON."""
    from maplecollect.client.waiting import Patience

    wait = Patience(timeout=STOP_WAIT_SECONDS, poll=0.3)
    return api.wait_run(run_id, wait, **outage_lines(say)).wire()


def wait_loop_stopped(api: ControlClient, phase: str, *, say: Callable[[str], None]) -> Body:
    """After a loop stop: wait (bounded) until the phase is idle; returns its loop's JSON."""
    from maplecollect.client.waiting import Patience

    status = api.wait_idle(Phase(phase), Patience(timeout=STOP_WAIT_SECONDS), **outage_lines(say))
    loop = status.loop_summaries.get(Phase(phase))
    return loop.wire() if loop is not None else {}
