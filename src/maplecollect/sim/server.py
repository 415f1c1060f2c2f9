"""Serve a simulator on a local port: in the running event loop, or in a thread for sync code."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from aiohttp import web

from maplecollect.sim.config import SimConfig
from maplecollect.sim.simulator import Simulator

# Hangs and latency are woken at shutdown, so handlers end fast; this only bounds the rest.
SHUTDOWN_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator being served; `base_url` has no trailing slash."""

    simulator: Simulator
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _as_simulator(source: SimConfig | Simulator | None) -> Simulator:
    return source if isinstance(source, Simulator) else Simulator(source)


@contextlib.asynccontextmanager
async def serve_simulator(
    source: SimConfig | Simulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve on `host:port` (0 = a free port) until the block ends; stops cleanly.

    Pass a `Simulator` to reuse a world already built (world generation is the slow part).
    """
    simulator = _as_simulator(source)
    runner = web.AppRunner(
        simulator.create_app(),
        access_log=None,
        handler_cancellation=True,  # a client that gives up cancels its hanging handler
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield RunningSimulator(simulator, host, bound_port)
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def run_simulator_in_thread(
    source: SimConfig | Simulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 60.0,
) -> Iterator[RunningSimulator]:
    """Serve from a background thread with its own event loop (for sync code and tests).

    A start-up failure (e.g. port in use) is raised here, in the caller's thread.
    """
    simulator = _as_simulator(source)
    ready = threading.Event()
    started: list[tuple[RunningSimulator, asyncio.AbstractEventLoop, asyncio.Event]] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        try:
            async with serve_simulator(simulator, host=host, port=port) as running:
                started.append((running, asyncio.get_running_loop(), stop))
                ready.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            raise
        finally:
            ready.set()

    def run() -> None:
        with contextlib.suppress(BaseException):
            asyncio.run(main())

    thread = threading.Thread(target=run, name="maplecollect-sim", daemon=True)
    thread.start()
    if not ready.wait(startup_timeout):
        raise TimeoutError(f"simulator did not start within {startup_timeout} s")
    if failure or not started:
        thread.join()
        raise failure[0] if failure else RuntimeError("simulator thread ended before serving")
    running, loop, stop = started[0]
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
