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
from typing import TYPE_CHECKING, Any, TypeVar

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client import waiting as w
from maplecollect.client.endpoint import Endpoint, verdict
from maplecollect.client.errors import Unavailable
from maplecollect.phases import Phase

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("maplecollect.client")
T = TypeVar("T")
D = TypeVar("D")


def _nothing(_document: Any) -> None:
    return None


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

    # -- verbs ------------------------------------------------------------------

    def health(self) -> c.HealthPublic:
        return self.send(calls.health())

    def trigger_phase(
        self,
        phase: Phase,
        *,
        upstream_run_id: str | None = None,
        date: str | None = None,
        airflow_run_id: str | None = None,
    ) -> calls.PhaseTriggered:
        return self.send(
            calls.trigger_phase(
                phase, upstream_run_id=upstream_run_id, date=date, airflow_run_id=airflow_run_id
            )
        )

    def trigger_daily(
        self, *, date: str | None = None, airflow_run_id: str | None = None
    ) -> calls.DailyTriggered:
        return self.send(calls.trigger_daily(date=date, airflow_run_id=airflow_run_id))

    def start_loop(
        self,
        phase: Phase,
        *,
        date: str | None = None,
        interval_seconds: float | None = None,
        airflow_run_id: str | None = None,
    ) -> calls.LoopStarted:
        return self.send(
            calls.start_loop(
                phase, date=date, interval_seconds=interval_seconds, airflow_run_id=airflow_run_id
            )
        )

    def stop_phase(self, phase: Phase, *, airflow_run_id: str | None = None) -> calls.StopRequested:
        return self.send(calls.stop_phase(phase, airflow_run_id=airflow_run_id))

    def stop_loop(self, phase: Phase, *, airflow_run_id: str | None = None) -> calls.StopRequested:
        return self.send(calls.stop_loop(phase, airflow_run_id=airflow_run_id))

    def resume(self, run_id: str) -> c.RunResumed:
        return self.send(calls.resume(run_id))

    def run(self, run_id: str) -> c.RunDetailPublic:
        return self.send(calls.run(run_id))

    def chain(self, chain_id: str) -> c.ChainPublic:
        return self.send(calls.chain(chain_id))

    def run_status(self) -> c.RunStatusPublic:
        return self.send(calls.run_status())

    def runs(
        self, *, phase: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[c.RunPublic]:
        return self.send(calls.runs(phase=phase, status=status, limit=limit))

    def events(
        self, *, after: int = 0, limit: int = 100, wait_seconds: float = 0
    ) -> c.EventsPagePublic:
        return self.send(calls.events(after=after, limit=limit, wait_seconds=wait_seconds))

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
