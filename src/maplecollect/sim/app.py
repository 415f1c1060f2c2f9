"""The aiohttp application: the Nexon request pipeline and the `/_sim/*` introspection.

The pipeline's order is in docs/simulator.md; one handler, no middlewares: cheaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from maplecollect.errors import ConfigError
from maplecollect.sim import apierrors
from maplecollect.sim.apierrors import ApiError
from maplecollect.sim.controls import decode_patch
from maplecollect.sim.endpoints import JSON_CONTENT_TYPE, Answer
from maplecollect.sim.faults import Fault, pick_fault, sample_latency

if TYPE_CHECKING:
    from maplecollect.sim.simulator import Simulator

API_KEY_HEADER = "x-nxopen-api-key"
SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator")
_LINGER_RESET = struct.pack("ii", 1, 0)


def _respond(
    sim: Simulator, path: str, status: int, body: bytes, content_type: str, *, label: str = ""
) -> web.Response:
    sim.stats.record(path, label or str(status))
    return web.Response(body=body, status=status, headers={"Content-Type": content_type})


def _error(sim: Simulator, path: str, error: ApiError) -> web.Response:
    return _respond(sim, path, error.status, error.body, JSON_CONTENT_TYPE)


def _reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), like a crashed upstream."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Without SO_LINGER a plain close still ends the exchange without a response.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


async def nexon_handler(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    path = request.path
    controls = sim.controls
    now = sim.monotonic()

    key = request.headers.get(API_KEY_HEADER)
    if key:
        sim.stats.arrival(key, now)
    if not key or key not in controls.api_keys:
        return _error(sim, path, apierrors.INVALID_API_KEY)
    if key in controls.forbidden_keys:
        return _error(sim, path, apierrors.FORBIDDEN)
    if not sim.limiter.admit(key, controls.api_keys[key], now):
        return _error(sim, path, apierrors.RATE_LIMITED)

    try:
        delay = sample_latency(controls.latency, sim.rng)
        if delay > 0:
            await sim.sleep(delay)
        fault = pick_fault(controls.faults, sim.rng)
        if fault is Fault.RESET:
            _reset_connection(request)
            sim.stats.record(path, "reset")
            return web.Response(status=500)  # never sent: the transport is gone
        if fault is Fault.GATEWAY:
            return _respond(sim, path, 502, apierrors.GATEWAY_HTML, "text/html")
        if fault is Fault.ERROR:
            return _error(sim, path, apierrors.SERVER_ERROR)
        if fault is Fault.OK_ERROR:
            body = apierrors.SERVER_ERROR.body
            return _respond(sim, path, 200, body, JSON_CONTENT_TYPE, label="200-error")
        if fault is Fault.HANG:
            await sim.sleep(controls.faults.hang_seconds)
    except asyncio.CancelledError:
        # The client gave up (timeout) while we were sleeping on purpose.
        sim.stats.record(path, "cancelled")
        raise

    maintenance = controls.maintenance_error()
    if maintenance is not None:
        return _error(sim, path, maintenance)
    answer: Answer = sim.endpoints.resolve(path, request.query)
    return _respond(sim, path, answer.status, answer.body, JSON_CONTENT_TYPE)


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


async def world_handler(request: web.Request) -> web.Response:
    return _json(request.app[SIMULATOR_KEY].world_summary())


async def stats_handler(request: web.Request) -> web.Response:
    return _json(request.app[SIMULATOR_KEY].stats.snapshot())


async def stats_reset_handler(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    sim.reset_stats()
    return _json(sim.stats.snapshot())


async def config_get_handler(request: web.Request) -> web.Response:
    return _json(request.app[SIMULATOR_KEY].controls.snapshot())


async def config_post_handler(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    try:
        sim.controls.apply(decode_patch(await request.read()))
    except ConfigError as exc:
        return _json({"error": str(exc)}, status=400)
    return _json(sim.controls.snapshot())


async def _allow_sleeps(app: web.Application) -> None:
    app[SIMULATOR_KEY].allow_sleeps()


async def _wake_sleepers(app: web.Application) -> None:
    app[SIMULATOR_KEY].wake_sleepers()


def create_app(sim: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR_KEY] = sim
    app.router.add_get("/_sim/world", world_handler)
    app.router.add_get("/_sim/stats", stats_handler)
    app.router.add_post("/_sim/stats/reset", stats_reset_handler)
    app.router.add_get("/_sim/config", config_get_handler)
    app.router.add_post("/_sim/config", config_post_handler)
    app.router.add_get("/maplestory/{tail:.*}", nexon_handler)
    # On shutdown, end deliberate sleeps (hangs, latency) so the server stops at once.
    app.on_startup.append(_allow_sleeps)
    app.on_shutdown.append(_wake_sleepers)
    return app
