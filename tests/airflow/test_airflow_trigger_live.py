"""PhaseRunTrigger against the REAL service (live_stack.py): progress lines while a run
goes, and a wait that rides out the service being down for a while.

The trigger runs as the triggerer runs it (`async for event in trigger.run()`), reading
the `external_api` connection from the environment and polling over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_stack import TOKEN, ControlApi, simulator, start_service

from maplecollect.airflow.triggers import PhaseRunTrigger, _Progress
from maplecollect.sim import RunningSimulator
from support.procs import free_port
from support.sim import SNAPSHOT

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with simulator(40) as running:
        yield running


def _connect(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXTERNAL_API",
        json.dumps(
            {
                "conn_type": "maplecollect",
                "host": "127.0.0.1",
                "port": port,
                "password": TOKEN,
                "extra": {"retries": 0, "connect_timeout": 1},
            }
        ),
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _event(trigger: PhaseRunTrigger) -> dict[str, Any]:
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1
    payload: dict[str, Any] = events[0]
    return payload


class Polls:
    """Counts the trigger's polls (answered or failed) so a test acts after N of them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.target = 1 << 30  # set by reach()
        self.reached = asyncio.Event()
        for name in ("poll", "outage"):
            monkeypatch.setattr(_Progress, name, self._counting(getattr(_Progress, name)))

    def _counting(self, hook: Any) -> Any:
        def counting(progress: _Progress, *args: Any) -> None:
            self.count += 1
            if self.count >= self.target:
                self.reached.set()
            hook(progress, *args)

        return counting

    async def reach(self, n: int, within: float = 60) -> None:
        self.target = n
        self.reached.clear()
        if self.count >= n:
            return
        await asyncio.wait_for(self.reached.wait(), within)


def _out(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    return out + err


def test_progress_lines_of_a_real_run(
    sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    proc, url = start_service(tmp_path / "svc", sim.base_url)
    try:
        with ControlApi(url, TOKEN) as api:
            _connect(monkeypatch, api.host_port[1])
            # API maintenance holds the run RUNNING (the service pauses and retries)
            # until the trigger has logged it; then the run completes.
            sim.simulator.controls.api_maintenance = True
            res = api.post("/api/internal/trigger/phase/RANKING_FETCH", json={"date": SNAPSHOT})
            assert res.status_code == 202, res.text
            run_id = res.json()["runId"]
            # progress_interval 0: every poll while RUNNING logs a progress line
            trigger = PhaseRunTrigger(
                target="run", target_id=run_id, poll_interval=0.1, progress_interval=0
            )
            polls = Polls(monkeypatch)

            async def wait_and_release() -> dict[str, Any]:
                task = asyncio.create_task(_event(trigger))
                await polls.reach(3)
                sim.simulator.controls.api_maintenance = False
                return await asyncio.wait_for(task, 90)

            capfd.readouterr()
            try:
                event = asyncio.run(wait_and_release())
            finally:
                sim.simulator.controls.api_maintenance = False
            out = _out(capfd)
            assert event["status"] == "success", event
            running = [
                line
                for line in out.splitlines()
                if f"run {run_id} (RANKING_FETCH) RUNNING:" in line and " records" in line
            ]
            assert len(running) >= 2, out[-3000:]  # (the third poll may see COMPLETED)
            assert f"run {run_id} (RANKING_FETCH) COMPLETED" in out
            assert TOKEN not in out
    finally:
        _stop(proc)


def test_wait_rides_out_the_service_being_down(
    sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "svc"
    proc, url = start_service(data, sim.base_url)
    try:
        with ControlApi(url, TOKEN) as api:
            run = api.complete("RANKING_FETCH", date=SNAPSHOT)
    finally:
        _stop(proc)
    # The service is down (nothing listens on `port`); it comes back there later.
    port = free_port()
    _connect(monkeypatch, port)
    trigger = PhaseRunTrigger(
        target="run", target_id=run["runId"], poll_interval=0.2, unreachable_timeout=120
    )
    restarted: list[subprocess.Popen[bytes]] = []
    polls = Polls(monkeypatch)

    async def wait_across_a_restart() -> dict[str, Any]:
        task = asyncio.create_task(_event(trigger))
        await polls.reach(3)  # three failed polls
        assert not task.done()
        new_proc, _ = await asyncio.to_thread(start_service, data, sim.base_url, port)
        restarted.append(new_proc)
        return await asyncio.wait_for(task, 90)

    capfd.readouterr()
    try:
        event = asyncio.run(wait_across_a_restart())
    finally:
        for p in restarted:
            _stop(p)
    out = _out(capfd)
    assert event["status"] == "success", event
    assert "service unreachable for" in out
    assert "service reachable again after" in out


def test_unreachable_longer_than_the_bound_fails_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _connect(monkeypatch, free_port())  # nothing listens there
    trigger = PhaseRunTrigger(
        target="run",
        target_id="20261126-030000-rank-0a1b2c3d",
        poll_interval=0.1,
        unreachable_timeout=0.5,
    )
    event = asyncio.run(_event(trigger))
    assert event["status"] == "error"
    assert event["message"].startswith("gave up: "), event
    assert "unreachable after" in event["message"], event
