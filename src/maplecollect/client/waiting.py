"""The wait verbs' rules: what "done" means per target, and how long to be patient. Pure.

A wait polls one document until its target is done:

- a run: until it is terminal. INTERRUPTED is not an end (the service resumes it
  under the same runId, docs/control-api.md "Restarts"); `interrupted` bounds how
  long a run may stay so when nobody resumes it;
- a daily chain: until it is no longer RUNNING (its runs as above);
- a phase going idle: until no active run and no active loop hold it.

An unreachable service (Unavailable after the client's own retries) is ridden out
for `unreachable` seconds (a restart takes seconds); `timeout` bounds the whole
wait. The sync and async clients drive the same `polls` with their own I/O, and
a test can give its `Watch` a virtual clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar, Unpack

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client.endpoint import Endpoint, Exchange, exchange
from maplecollect.client.errors import Unavailable, WaitFailed
from maplecollect.phases import Phase

D = TypeVar("D")

# A restart (migrations, lifespan) takes seconds; two minutes is a dead service.
UNREACHABLE_SECONDS = 120.0


@dataclass(frozen=True)
class Patience:
    """How a wait polls and when it gives up (seconds; None: no bound)."""

    timeout: float | None = None
    poll: float = 0.5
    unreachable: float = UNREACHABLE_SECONDS
    max_failed_polls: int | None = None
    interrupted: float | None = None


@dataclass(frozen=True)
class Target(Generic[D]):
    """What is polled (`call`), when it is done, and which runs it is made of."""

    what: str
    call: calls.Call[D]
    done: Callable[[D], bool]
    runs: Callable[[D], Iterable[c.RunPublic]]


def run_target(run_id: str) -> Target[c.RunDetailPublic]:
    return Target(f"run {run_id}", calls.run(run_id), lambda run: run.terminal, lambda run: [run])


def chain_running(chain: c.ChainPublic) -> bool:
    return chain.status == c.ChainStatus.RUNNING


def chain_target(chain_id: str) -> Target[c.ChainPublic]:
    return Target(
        f"daily chain {chain_id}",
        calls.chain(chain_id),
        lambda chain: not chain_running(chain),
        lambda chain: chain.runs.values(),
    )


def holder(
    status: c.RunStatusPublic, phase: Phase
) -> tuple[c.RunPublic | None, c.LoopPublic | None]:
    """The run and the loop of `phase` in a run-status document, if any."""
    return status.slots.get(phase), status.loop_summaries.get(phase)


def idle(status: c.RunStatusPublic, phase: Phase) -> bool:
    """No run still going and no loop still active on `phase`."""
    run, loop = holder(status, phase)
    return (run is None or run.terminal) and (
        loop is None or loop.status not in c.ACTIVE_LOOP_STATUSES
    )


def idle_target(phase: Phase) -> Target[c.RunStatusPublic]:
    def runs(status: c.RunStatusPublic) -> list[c.RunPublic]:
        run, _ = holder(status, phase)
        return [run] if run is not None else []

    return Target(f"{phase} to be idle", calls.run_status(), lambda s: idle(s, phase), runs)


OutageHook = Callable[[Unavailable, float, int], None]
BackHook = Callable[[int], None]


def _quiet(*_args: Any) -> None:
    return None


class Watch:
    """One wait's bookkeeping: outage, INTERRUPTED runs, deadline. Feed it every poll."""

    def __init__(
        self,
        what: str,
        patience: Patience,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_outage: OutageHook = _quiet,
        on_back: BackHook = _quiet,
    ) -> None:
        self.what = what
        self.patience = patience
        self.clock = clock
        self.on_outage = on_outage
        self.on_back = on_back
        self.started = clock()
        self.last: Any = None
        self.failed_polls = 0
        self._down_since: float | None = None
        self._interrupted_since: dict[str, float] = {}

    def failed(self, exc: Unavailable) -> None:
        """A poll got no answer; raises Unavailable once the outage is past its bounds."""
        now = self.clock()
        self.failed_polls += 1
        self._down_since = now if self._down_since is None else self._down_since
        down = now - self._down_since
        self.on_outage(exc, down, self.failed_polls)
        capped = self.patience.max_failed_polls is not None and (
            self.failed_polls >= self.patience.max_failed_polls
        )
        if down >= self.patience.unreachable or capped:
            raise Unavailable(
                self.what,
                f"still unreachable after {down:.0f} s ({self.failed_polls} failed polls): "
                f"{exc.cause}",
                attempts=self.failed_polls,
                url=exc.url,
            ) from None

    def answered(self, document: Any, runs: Iterable[c.RunPublic]) -> None:
        """A poll answered (the target is not done yet): check INTERRUPTED runs."""
        now = self.clock()
        if self._down_since is not None:
            self.on_back(self.failed_polls)
        self._down_since, self.failed_polls, self.last = None, 0, document
        bound = self.patience.interrupted
        for run in runs:
            if run.status != c.RunStatus.INTERRUPTED:
                self._interrupted_since.pop(run.run_id, None)
                continue
            since = self._interrupted_since.setdefault(run.run_id, now)
            if bound is not None and now - since > bound:
                raise WaitFailed(
                    f"run {run.run_id} is still INTERRUPTED after {bound:g} s: no service "
                    "resumed it; is `maplecollect serve` running?",
                    what=self.what,
                    last=document,
                )

    def finished(self, document: Any) -> None:
        if self._down_since is not None:
            self.on_back(self.failed_polls)
        self.last = document

    def delay(self) -> float:
        """Seconds to sleep before the next poll; raises WaitFailed past the deadline."""
        timeout = self.patience.timeout
        if timeout is None:
            return self.patience.poll
        left = self.started + timeout - self.clock()
        if left <= 0:
            status = getattr(self.last, "status", None)
            raise WaitFailed(
                f"{self.what} not finished before the deadline ({timeout:g} s, last status "
                f"{status}); "
                "it goes on in the service: wait again, or stop it",
                what=self.what,
                last=self.last,
                timed_out=True,
            )
        return min(self.patience.poll, left)


class Hooks(TypedDict, Generic[D], total=False):
    """What a wait tells its caller: every document polled, an outage, the way back."""

    on_poll: Callable[[D], None]
    on_outage: OutageHook
    on_back: BackHook


def polls(
    endpoint: Endpoint,
    target: Target[D],
    patience: Patience | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    **hooks: Unpack[Hooks[D]],
) -> Exchange[D]:
    """Poll `target` until it is done; returns its last document."""
    on_poll = hooks.get("on_poll", _quiet)
    watch = Watch(
        target.what,
        patience or Patience(),
        clock=clock,
        on_outage=hooks.get("on_outage", _quiet),
        on_back=hooks.get("on_back", _quiet),
    )
    while True:
        try:
            document = yield from exchange(endpoint, target.call)
        except Unavailable as exc:
            watch.failed(exc)
        else:
            on_poll(document)
            if target.done(document):
                watch.finished(document)
                return document
            watch.answered(document, target.runs(document))
        yield watch.delay()
