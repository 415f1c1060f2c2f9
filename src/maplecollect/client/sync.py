"""`ControlClient`: the synchronous control-API client (CLI, smoke, demo, Airflow workers).

It only sends what `calls` builds; httpx is imported on first use, so
`maplecollect --help` does not load it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, Unpack

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client import waiting as w
from maplecollect.client.endpoint import Endpoint, Exchange, Reply, exchange
from maplecollect.phases import Phase

if TYPE_CHECKING:
    import httpx

P = ParamSpec("P")
T = TypeVar("T")
D = TypeVar("D")


def verb(build: Callable[P, calls.Call[T]]) -> Callable[Concatenate[ControlClient, P], T]:
    """A method that sends the call `build` makes (typed like `build`)."""

    def method(self: ControlClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(build(*args, **kwargs))

    method.__doc__ = build.__doc__
    return method


class ControlClient:
    """The control API over one pooled httpx.Client; close it (or use `with`)."""

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        self.endpoint = endpoint or Endpoint()
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(transport=transport, **self.endpoint.client_kwargs())

    @property
    def url(self) -> str:
        return self.endpoint.base_url

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _drive(self, steps: Exchange[T]) -> T:
        """Do the requests and sleeps of an exchange or a wait (`endpoint`, `waiting`)."""
        import httpx

        reply: Reply = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, calls.Call):
                    try:
                        res = self._http.request(step.method, step.path, **step.request)
                        reply = calls.Answer(res.status_code, res.text)
                    except httpx.HTTPError as exc:
                        reply = exc
                else:
                    self._sleep(step)
                    reply = None
        except StopIteration as end:
            result: T = end.value
            return result

    def send(self, call: calls.Call[T]) -> T:
        """Send `call` (retrying transport errors and 5xx) and read its answer."""
        return self._drive(exchange(self.endpoint, call))

    # -- verbs: each sends the `Call` of the same name in `calls` ---------------

    health = verb(calls.health)
    trigger_phase = verb(calls.trigger_phase)
    trigger_daily = verb(calls.trigger_daily)
    start_loop = verb(calls.start_loop)
    stop_phase = verb(calls.stop_phase)
    stop_loop = verb(calls.stop_loop)
    resume = verb(calls.resume)
    run = verb(calls.run)
    chain = verb(calls.chain)
    run_status = verb(calls.run_status)
    runs = verb(calls.runs)
    events = verb(calls.events)

    # -- wait verbs ---------------------------------------------------------------

    def wait(
        self, target: w.Target[D], patience: w.Patience | None = None, **hooks: Unpack[w.Hooks[D]]
    ) -> D:
        """Poll `target` until it is done; returns its last document (`waiting.polls`)."""
        return self._drive(w.polls(self.endpoint, target, patience, clock=self._clock, **hooks))

    def wait_run(
        self, run_id: str, patience: w.Patience | None = None, **hooks: Any
    ) -> c.RunDetailPublic:
        """Until the run is terminal (INTERRUPTED is waited through)."""
        return self.wait(w.run_target(run_id), patience, **hooks)

    def wait_chain(
        self, chain_id: str, patience: w.Patience | None = None, **hooks: Any
    ) -> c.ChainPublic:
        """Until the daily chain is no longer RUNNING."""
        return self.wait(w.chain_target(chain_id), patience, **hooks)

    def wait_idle(
        self, phase: Phase, patience: w.Patience | None = None, **hooks: Any
    ) -> c.RunStatusPublic:
        """Until no run and no loop hold `phase` (after a stop)."""
        return self.wait(w.idle_target(phase), patience, **hooks)
