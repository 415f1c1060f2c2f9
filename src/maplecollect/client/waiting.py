"""The wait verbs' rules: what "done" means per target, and how long to be patient. Pure.

INTERRUPTED is not an end: the service resumes the run under the same runId
(docs/control-api.md "Restarts"). The sync and async clients drive the same
`polls` with their own I/O and clock, so a test can give them a virtual one.
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


def chain_target(chain_id: str) -> Target[c.ChainPublic]:
    return Target(
        f"daily chain {chain_id}",
        calls.chain(chain_id),
        lambda chain: chain.status != c.ChainStatus.RUNNING,
        lambda chain: chain.runs.values(),
    )


def idle_target(phase: Phase) -> Target[c.RunStatusPublic]:
    """Until no run still going and no loop still active hold `phase`."""

    def idle(status: c.RunStatusPublic) -> bool:
        run, loop = status.slots.get(phase), status.loop_summaries.get(phase)
        active_loop = loop is not None and loop.status in c.ACTIVE_LOOP_STATUSES
        return (run is None or run.terminal) and not active_loop

    def runs(status: c.RunStatusPublic) -> list[c.RunPublic]:
        run = status.slots.get(phase)
        return [run] if run is not None else []

    return Target(f"{phase} to be idle", calls.run_status(), idle, runs)


OutageHook = Callable[[Unavailable, float, int], None]
BackHook = Callable[[int], None]


class Hooks(TypedDict, Generic[D], total=False):
    """What a wait tells its caller: every document polled, an outage, the way back."""

    on_poll: Callable[[D], None]
    on_outage: OutageHook
    on_back: BackHook


def _quiet(*_args: Any) -> None:
    return None


def polls(
    endpoint: Endpoint,
    target: Target[D],
    patience: Patience | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    **hooks: Unpack[Hooks[D]],
) -> Exchange[D]:
    """Poll `target` until it is done; returns its last document.

    Raises Unavailable past the outage's bounds, WaitFailed past the deadline or
    when a run stays INTERRUPTED past its bound.
    """
    bounds = patience or Patience()
    started = clock()
    last: D | None = None
    failed = 0  # polls in a row without an answer
    down_since: float | None = None
    interrupted_since: dict[str, float] = {}
    while True:
        try:
            document = yield from exchange(endpoint, target.call)
        except Unavailable as exc:
            now = clock()
            failed += 1
            down_since = now if down_since is None else down_since
            down = now - down_since
            hooks.get("on_outage", _quiet)(exc, down, failed)
            capped = bounds.max_failed_polls is not None and failed >= bounds.max_failed_polls
            if down >= bounds.unreachable or capped:
                raise Unavailable(
                    target.what,
                    f"still unreachable after {down:.0f} s ({failed} failed polls): {exc.cause}",
                    attempts=failed,
                    url=exc.url,
                ) from None
        else:
            hooks.get("on_poll", _quiet)(document)
            if down_since is not None:
                hooks.get("on_back", _quiet)(failed)
            down_since, failed, last = None, 0, document
            if target.done(document):
                return document
            now = clock()
            for run in target.runs(document):
                if run.status != c.RunStatus.INTERRUPTED:
                    interrupted_since.pop(run.run_id, None)
                    continue
                since = interrupted_since.setdefault(run.run_id, now)
                if bounds.interrupted is not None and now - since > bounds.interrupted:
                    raise WaitFailed(
                        f"run {run.run_id} is still INTERRUPTED after {bounds.interrupted:g} s: "
                        "no service resumed it; is `maplecollect serve` running?",
                        what=target.what,
                        last=document,
                    )
        left = None if bounds.timeout is None else started + bounds.timeout - clock()
        if left is not None and left <= 0:
            raise WaitFailed(
                f"{target.what} not finished before the deadline ({bounds.timeout:g} s, last "
                f"status {getattr(last, 'status', None)}); "
                "it goes on in the service: wait again, or stop it",
                what=target.what,
                last=last,
                timed_out=True,
            )
        yield bounds.poll if left is None else min(bounds.poll, left)
