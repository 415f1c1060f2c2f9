"""Serve the control API from a background thread (for the demo and sync tests)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import uvicorn

from maplecollect.config import Settings
from maplecollect.console.errors import CliError
from maplecollect.control.context import PhaseRunner
from maplecollect.phases import Phase


@contextlib.contextmanager
def serve_in_thread(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 60,
    runners: Mapping[Phase, PhaseRunner] | None = None,
    wrap: Callable[[Any], Any] | None = None,
) -> Iterator[str]:
    """Run `create_app(settings)` under uvicorn in a thread; yields its base URL.

    On exit the server shuts down like on SIGTERM. `runners` and `wrap` (of the ASGI
    app) are for tests.
    """
    from maplecollect.api.app import create_app

    app = create_app(settings, runners=runners)
    config = uvicorn.Config(
        wrap(app) if wrap is not None else app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target, name="maplecollect-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            thread.join(5)
            reason = f": {failure[0]}" if failure else ""
            raise CliError(f"the control API did not start{reason}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise CliError(f"the control API did not start within {startup_timeout:g} s")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(60)
