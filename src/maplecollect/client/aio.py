"""`AsyncControlClient`: the asyncio twin of `ControlClient` (the Airflow triggerer).

Same calls (`calls`), same retry rule and wait rules (`endpoint`, `waiting`);
only the sending and the sleeping are awaited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client import waiting as w
from maplecollect.client.endpoint import Endpoint, verdict
from maplecollect.client.errors import Unavailable
from maplecollect.phases import Phase

log = logging.getLogger("maplecollect.client")
P = ParamSpec("P")
T = TypeVar("T")
D = TypeVar("D")


def _nothing(_document: Any) -> None:
    return None


def averb(
    build: Callable[P, calls.Call[T]],
) -> Callable[Concatenate[AsyncControlClient, P], Awaitable[T]]:
    """A coroutine method that sends the call `build` makes (typed like `build`)."""

    async def method(self: AsyncControlClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(build(*args, **kwargs))

    method.__doc__ = build.__doc__
    return method


class AsyncControlClient:
    """The control API over one pooled httpx.AsyncClient; `await aclose()` it.

    Build it with `await AsyncControlClient.open(endpoint)` inside an event loop that
    must not block: httpx loads the TLS context at construction, which takes a
    noticeable time on a busy machine, so `open` builds it in a thread.
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint or Endpoint()
        self._sleep = sleep
        self._clock = clock
        self._http = http or httpx.AsyncClient(**_kwargs(self.endpoint, transport))

    @classmethod
    async def open(
        cls, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> AsyncControlClient:
        http = await asyncio.to_thread(httpx.AsyncClient, **_kwargs(endpoint, transport))
        return cls(endpoint, http=http)

    @property
    def url(self) -> str:
        return self.endpoint.base_url

    async def __aenter__(self) -> AsyncControlClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: calls.Call[T]) -> T:
        ep = self.endpoint
        attempts = ep.attempts(call)
        cause = ""
        for attempt in range(1, attempts + 1):
            status, text, error = None, "", None
            try:
                res = await self._http.request(
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
                await self._sleep(ep.retry_delay(attempt))
        raise Unavailable(call.what, cause, attempts=attempts, url=ep.base_url)

    # -- verbs: what a triggerer reads (the POST verbs are the sync client's) ------

    health = averb(calls.health)
    run = averb(calls.run)
    chain = averb(calls.chain)
    run_status = averb(calls.run_status)

    # -- wait verbs -----------------------------------------------------------------

    async def wait(
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
                document = await self.send(target.call)
            except Unavailable as exc:
                watch.failed(exc)
            else:
                on_poll(document)
                if target.done(document):
                    watch.finished(document)
                    return document
                watch.answered(document, target.runs(document))
            await self._sleep(watch.delay())

    async def wait_run(
        self, run_id: str, patience: w.Patience | None = None, **hooks: Any
    ) -> c.RunDetailPublic:
        return await self.wait(w.run_target(run_id), patience, **hooks)

    async def wait_chain(
        self, chain_id: str, patience: w.Patience | None = None, **hooks: Any
    ) -> c.ChainPublic:
        return await self.wait(w.chain_target(chain_id), patience, **hooks)

    async def wait_idle(
        self, phase: Phase, patience: w.Patience | None = None, **hooks: Any
    ) -> c.RunStatusPublic:
        return await self.wait(w.idle_target(phase), patience, **hooks)


def _kwargs(endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None) -> dict[str, Any]:
    timeout = httpx.Timeout(endpoint.timeout, connect=endpoint.connect_timeout)
    return {"transport": transport, "timeout": timeout, **endpoint.client_kwargs()}
