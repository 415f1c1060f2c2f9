"""A scriptable stand-in for the Nexon Open API on 127.0.0.1 (real HTTP, no patching)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from maplecollect.nexon import GcraLimiter, NexonClient, PausePolicy, RetryPolicy, Timeouts

# Distinctive so a leak is easy to find in any text.
FAKE_KEY = "test_SECRET_d3adb33f_APIKEY_zq9x"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Reply = tuple[int, bytes] | Handler


def nexon_error(code: str, status: int, message: str = "error message") -> tuple[int, bytes]:
    return status, orjson.dumps({"error": {"name": code, "message": message}})


OK_BASIC = orjson.dumps(
    {"date": "2026-11-01T00:00+09:00", "character_name": "아델", "world_name": "스카니아"}
)


@dataclass
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    query: dict[str, str]
    api_key: str | None


@dataclass
class FakeNexon:
    """Replies from a per-path script (first in, first out), then `default`."""

    default: Reply = (200, OK_BASIC)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path].extend(replies)

    def count(self, path: str | None = None) -> int:
        return sum(1 for s in self.seen if path is None or s.path == path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                time.monotonic(),
                request.path,
                dict(request.query),
                request.headers.get("x-nxopen-api-key"),
            )
        )
        queue = self.scripts.get(request.path)
        reply = queue.popleft() if queue else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if callable(reply):
                return await reply(request)
            status, body = reply
            return web.Response(status=status, body=body, content_type="application/json")
        finally:
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def reset_connection(request: web.Request) -> web.StreamResponse:
    """Drop the TCP connection without an answer (the client sees a reset/disconnect)."""
    assert request.transport is not None
    request.transport.abort()
    await asyncio.sleep(1)  # cancelled by the disconnect
    return web.Response()


def slow(seconds: float, reply: tuple[int, bytes] = (200, OK_BASIC)) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=reply[0], body=reply[1], content_type="application/json")

    return handler


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeNexon]:
    api = FakeNexon()
    await api.start()
    yield api
    await api.stop()


ClientFactory = Callable[..., NexonClient]


@pytest.fixture
async def make_client(fake_api: FakeNexon) -> AsyncIterator[ClientFactory]:
    """Clients on the fake API with tiny time scales; closed at the end of the test."""
    made: list[NexonClient] = []

    def factory(**overrides: object) -> NexonClient:
        kwargs: dict[str, object] = {
            "base_url": fake_api.url,
            "limiter": GcraLimiter(2000),
            "max_in_flight": 20,
            "timeouts": Timeouts(connect=1.0, read=0.2, total=2.0),
            "retry": RetryPolicy(max_attempts=4, max_seconds=30, base_delay=0.002, max_delay=0.01),
            "pause": PausePolicy(pause_seconds=0.05, max_pause_seconds=2.0),
        }
        kwargs.update(overrides)
        client = NexonClient(FAKE_KEY, **kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()
