"""A run paused by the Nexon API (OPENAPI00009 "data not ready") says so in run-status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from support.sim import SIM_NOW, stack

NOT_READY_YET = (SIM_NOW + timedelta(days=1)).date().isoformat()  # the simulator's tomorrow


async def _until(
    client: httpx.AsyncClient, path: str, found: Callable[[Any], Any], within: float = 60
) -> Any:
    async with asyncio.timeout(within):
        while not (hit := found((await client.get(path)).json())):  # noqa: ASYNC110 - polling a server
            await asyncio.sleep(0.05)
    return hit


async def test_pause_shows_in_run_status_and_clears_when_data_is_ready(
    tmp_path: Path, database_url: str, clean_env: None
) -> None:
    settings = {"pause_seconds": 0.05, "database_url": database_url}
    async with stack(tmp_path, characters=40, **settings) as st:
        api = st.svc.client
        res = await api.post(
            "/api/internal/trigger/phase/RANKING_FETCH", json={"date": NOT_READY_YET}
        )
        assert res.status_code == 202, res.text
        run_id = res.json()["runId"]

        def paused(body: Any) -> Any:
            run = body["slots"]["RANKING_FETCH"]
            return run if run and run["runId"] == run_id and run["pause"] else None

        run = await _until(api, "/api/internal/run-status", paused)
        pause = run["pause"]
        assert run["status"] == "RUNNING"
        assert (pause["code"], pause["reason"]) == ("OPENAPI00009", "data not ready")
        since = datetime.fromisoformat(pause["since"])
        assert datetime.fromisoformat(pause["until"]) > since
        # The gate re-closes after every try of a "not ready" day: one pause, same `since`.
        detail = await _until(
            api,
            f"/api/internal/runs/{run_id}",
            lambda b: b if b["pause"] and b["pause"]["until"] != pause["until"] else None,
        )
        assert detail["pause"]["since"] == pause["since"]

        # The day becomes ready: the pause clears, the run completes, nothing waits.
        st.sim.simulator.controls.clock.pin(SIM_NOW + timedelta(days=2))
        done = await st.svc.wait_run(run_id, within=60)
        assert done["status"] == "COMPLETED" and done["pause"] is None
        assert done["recordsProcessed"] == st.truth["characters"]
        row = await st.svc.supervisor.repo.get_run(run_id)
        assert row is not None and row.pause_code is None and row.pause_since is None
