"""The FastAPI application: `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers

from maplecollect import API_VERSION, __version__
from maplecollect.api.auth import check_access, require_access
from maplecollect.api.errors import install_error_handlers
from maplecollect.api.guard import RequestGuard
from maplecollect.api.routes import (
    chains,
    events,
    health,
    loops,
    metrics,
    runs,
    stops,
    triggers,
)
from maplecollect.config import Settings, get_settings
from maplecollect.control.context import PhaseRunner, RunContext, RunFinalizer
from maplecollect.control.services import Services
from maplecollect.control.supervisor import Supervisor
from maplecollect.events.service import start_relays
from maplecollect.phases import ORDER, Phase
from maplecollect.state import migrations
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.models import RunRow
from maplecollect.state.repository import Repository
from maplecollect.statuspage import api as statuspage_api
from maplecollect.statuspage import pages
from maplecollect.statuspage.samples import ThroughputSampler


class _LazyRunner:
    """The real runner of one phase, imported at its first run: the phases' imports are
    ~15 % of the start-up CPU (docs/performance.md, "Start-up")."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self._runner: PhaseRunner | None = None

    async def run(self, ctx: RunContext) -> None:
        if self._runner is None:
            from maplecollect.collect.registry import phase_runners

            self._runner = phase_runners()[self.phase]
        await self._runner.run(ctx)


class _LazyFinalizer:
    """The manifest writer, imported when the first run ends (see `_LazyRunner`)."""

    def __init__(self) -> None:
        self._finalizer: RunFinalizer | None = None

    async def finalize(
        self, run: RunRow, status: str, *, repo: Repository, services: Services
    ) -> str | None:
        if self._finalizer is None:
            from maplecollect.collect.registry import default_finalizer

            self._finalizer = default_finalizer()
        return await self._finalizer.finalize(run, status, repo=repo, services=services)


def default_runners() -> tuple[Mapping[Phase, PhaseRunner], RunFinalizer]:
    """The real phases and the manifest writer, each imported at its first use."""
    return {phase: _LazyRunner(phase) for phase in ORDER}, _LazyFinalizer()


def create_app(
    settings: Settings | None = None,
    *,
    runners: Mapping[Phase, PhaseRunner] | None = None,
    finalizer: RunFinalizer | None = None,
    services: Services | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the control API. `runners`/`finalizer` default to the real phases."""
    settings = settings or get_settings()
    if runners is None:
        runners, default_final = default_runners()
        finalizer = finalizer or default_final

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        if migrate:
            await asyncio.to_thread(migrations.upgrade, url)
        engine = create_async_db_engine(url, timeouts=settings.db_timeouts())
        repo = Repository(engine)
        supervisor = Supervisor(settings, repo, runners, services=services, finalizer=finalizer)
        await supervisor.start()
        app.state.repo = repo
        app.state.supervisor = supervisor
        relays = start_relays(settings, repo)
        sampler = ThroughputSampler(repo, settings.progress_seconds)
        app.state.sampler = sampler
        try:
            async with sampler:
                yield
        finally:
            await supervisor.close()
            await relays.close()
            await repo.dispose()

    app = FastAPI(
        title="maplecollect control API",
        version=f"{__version__} (api {API_VERSION})",
        description="Run, loop and stop the phases of the MapleStory daily collection.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # The outermost layer: bearer token or the status page's login cookie (+ CSRF
    # header) decided from the headers (api/auth.py) before any body is read.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        authorize=lambda scope: check_access(
            Request(scope), settings, Headers(scope=scope).get("authorization")
        ),
    )
    internal = APIRouter(prefix="/api/internal", dependencies=[Depends(require_access)])
    for module in (triggers, stops, loops, runs, chains, events):
        internal.include_router(module.router)
    internal.include_router(statuspage_api.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(internal)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    _without_422(app)
    return app


def _without_422(app: FastAPI) -> None:
    """Validation errors are answered 400 INVALID_REQUEST (api/errors.py), so the
    document must not list FastAPI's default 422 (docs/control-api.md, "Errors")."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
