"""`AsyncControlClient`: the asyncio twin of `ControlClient` (the Airflow triggerer).

Same calls, retry rule and waits (`calls`, `endpoint`, `waiting`); only the
sending and the sleeping are awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

import httpx

from maplecollect import contract as c
from maplecollect.client import calls
from maplecollect.client import waiting as w
from maplecollect.client.endpoint import Endpoint, Exchange, Reply, exchange

P = ParamSpec("P")
T = TypeVar("T")
D = TypeVar("D")


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

    In an event loop that must not block, build it with `await open(endpoint)`: httpx
    loads the TLS context at construction, slow on a busy machine.
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
        self._http = http or httpx.AsyncClient(transport=transport, **self.endpoint.client_kwargs())

    @classmethod
    async def open(
        cls, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> AsyncControlClient:
        kwargs = endpoint.client_kwargs()
        http = await asyncio.to_thread(httpx.AsyncClient, transport=transport, **kwargs)
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

    async def _drive(self, steps: Exchange[T]) -> T:
        reply: Reply = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, calls.Call):
                    try:
                        res = await self._http.request(step.method, step.path, **step.request)
                        reply = calls.Answer(res.status_code, res.text)
                    except httpx.HTTPError as exc:
                        reply = exc
                else:
                    await self._sleep(step)
                    reply = None
        except StopIteration as end:
            result: T = end.value
            return result

    async def send(self, call: calls.Call[T]) -> T:
        return await self._drive(exchange(self.endpoint, call))

    # -- verbs: what a triggerer reads (the POST verbs are the sync client's) ------

    health = averb(calls.health)
    run = averb(calls.run)
    chain = averb(calls.chain)
    run_status = averb(calls.run_status)

    # -- wait verbs -----------------------------------------------------------------

    async def wait(
        self, target: w.Target[D], patience: w.Patience | None = None, **hooks: Unpack[w.Hooks[D]]
    ) -> D:
        """Poll `target` until it is done; returns its last document (`waiting.polls`)."""
        return await self._drive(
            w.polls(self.endpoint, target, patience, clock=self._clock, **hooks)
        )

    async def wait_run(
        self, run_id: str, patience: w.Patience | None = None, **hooks: Any
    ) -> c.RunDetailPublic:
        return await self.wait(w.run_target(run_id), patience, **hooks)
