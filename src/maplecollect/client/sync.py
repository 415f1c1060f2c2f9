"""`ControlClient`: the synchronous control-API client (CLI, smoke, demo, Airflow workers).

    with ControlClient(Endpoint("http://127.0.0.1:8081", token)) as api:
        started = api.trigger_phase(Phase.RANKING_FETCH)
        run = api.wait_run(started.run_id)

Every verb builds its `Call` in `calls` and reads the answer there; this class
only sends (with the endpoint's retries). httpx is imported on first use, so
`maplecollect --help` does not load it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client import waiting as w
from maplecollect.client.endpoint import Endpoint, verdict
from maplecollect.client.errors import Unavailable
from maplecollect.phases import Phase

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("maplecollect.client")
P = ParamSpec("P")
T = TypeVar("T")
D = TypeVar("D")


def _nothing(_document: Any) -> None:
    return None


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
        timeout = httpx.Timeout(self.endpoint.timeout, connect=self.endpoint.connect_timeout)
        self._http = httpx.Client(
            transport=transport, timeout=timeout, **self.endpoint.client_kwargs()
        )

    @property
    def url(self) -> str:
        return self.endpoint.base_url

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: calls.Call[T]) -> T:
        """Send `call` (retrying transport errors and 5xx) and read its answer."""
        import httpx

        ep = self.endpoint
        attempts = ep.attempts(call)
        cause = ""
        for attempt in range(1, attempts + 1):
            status, text, error = None, "", None
            try:
                res = self._http.request(
                    call.method,
                    call.path,
                    headers=dict(call.headers),
                    json=call.json,
                    params=call.params,
                )
                status, text = res.status_code, res.text
            except httpx.HTTPError as exc:
                error = exc
            answer, cause = verdict(ep, call, status, text, error)
            if answer is not None:
                return call.read(answer)
            if attempt < attempts:
                log.warning("%s: %s; retry %d/%d", call.what, cause, attempt, attempts - 1)
                self._sleep(ep.retry_delay(attempt))
        raise Unavailable(call.what, cause, attempts=attempts, url=ep.base_url)

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
        self,
        target: w.Target[D],
        patience: w.Patience | None = None,
        *,
        on_poll: Callable[[D], None] = _nothing,
        on_outage: w.OutageHook = w._quiet,
        on_back: w.BackHook = w._quiet,
    ) -> D:
        """Poll `target` until it is done; returns its last document (see `waiting`)."""
        watch = w.Watch(
            target.what,
            patience or w.Patience(),
            clock=self._clock,
            on_outage=on_outage,
            on_back=on_back,
        )
        while True:
            try:
                document = self.send(target.call)
            except Unavailable as exc:
                watch.failed(exc)
            else:
                on_poll(document)
                if target.done(document):
                    watch.finished(document)
                    return document
                watch.answered(document, target.runs(document))
            self._sleep(watch.delay())

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
