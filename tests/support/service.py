"""Serve the real control API under uvicorn on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from maplecollect.api.app import create_app
from maplecollect.config import Settings
from maplecollect.control.context import PhaseRunner, RunFinalizer
from maplecollect.control.supervisor import Supervisor
from maplecollect.phases import Phase


def fast_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with short intervals so supervisor behaviour shows within a test."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'state.db'}",
        "progress_seconds": 0.05,
        "heartbeat_seconds": 0.1,
        "heartbeat_timeout_seconds": 5.0,
        "loop_upstream_wait_seconds": 0.05,
        "loop_failure_backoff_seconds": 0.01,
        "nexon_api_key": "test-key",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class RunningService:
    app: FastAPI
    url: str
    client: httpx.AsyncClient
    # Sent by complete() when set: tests pin the snapshot date, never "yesterday".
    date: str | None = None

    @property
    def supervisor(self) -> Supervisor:
        sup: Supervisor = self.app.state.supervisor
        return sup

    async def wait_run(self, run_id: str, *, within: float = 30) -> dict[str, Any]:
        """Poll GET /runs/{id} until the run is terminal; returns its JSON."""
        async with asyncio.timeout(within):
            while True:
                res = await self.client.get(f"/api/internal/runs/{run_id}")
                body: dict[str, Any] = res.json()
                if res.status_code == 200 and body["terminal"]:
                    return body
                await asyncio.sleep(0.02)

    async def complete(self, phase: str, upstream: str | None = None) -> str:
        """Trigger a phase and wait for it to complete; returns its runId."""
        headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
        body = {"date": self.date} if self.date else None
        res = await self.client.post(
            f"/api/internal/trigger/phase/{phase}", headers=headers, json=body
        )
        assert res.status_code == 202, res.text
        run = await self.wait_run(res.json()["runId"])
        assert run["status"] == "COMPLETED", run
        return str(run["runId"])


@contextlib.asynccontextmanager
async def serve(
    settings: Settings,
    runners: Mapping[Phase, PhaseRunner] | None = None,
    *,
    finalizer: RunFinalizer | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[RunningService]:
    app = create_app(settings, runners=runners, finalizer=finalizer)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            yield RunningService(app=app, url=url, client=client)
    finally:
        server.should_exit = True
        await task
