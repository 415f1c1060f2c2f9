"""The live stack of the DAG integration tests: the simulator and the real service.

- the Nexon simulator, served from a background thread (its own event loop), with a
  pinned clock and a small world;
- the control API in a subprocess: the app `maplecollect serve` runs
  (`maplecollect.api.app:create_app`, served by uvicorn), configured only by
  environment, with a bearer token and short retry / pause delays;
- `ControlApi`: a small synchronous client of the control API for the assertions
  (dag.test() is synchronous, so the tests are too).

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from maplecollect.sim import KST, RunningSimulator, SimConfig, run_simulator_in_thread
from support.procs import _clean_env, _wait_healthy, free_port
from support.sim import SIM_NOW

PHASES = ("RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT")
TOKEN = "live-integration-token-0123456789"
SIM_KEY = "test-key"


def sim_clock() -> datetime:
    """Pinned simulator clock: noon KST today (never before SIM_NOW).

    With no `date` in the conf the service asks for yesterday in KST by the real
    clock; at noon today that day is published, and so is `support.sim.SNAPSHOT`.
    """
    noon_today = datetime.now(KST).replace(hour=12, minute=0, second=0, microsecond=0)
    return max(SIM_NOW, noon_today)


def service_env(sim_url: str) -> dict[str, str]:
    return {
        "MAPLECOLLECT_NEXON_BASE_URL": sim_url,
        "NEXON_API_KEY": SIM_KEY,
        "MAPLECOLLECT_API_TOKEN": TOKEN,
        "MAPLECOLLECT_RETRY_BASE_DELAY": "0.01",
        "MAPLECOLLECT_RETRY_MAX_DELAY": "0.05",
        "MAPLECOLLECT_PAUSE_SECONDS": "0.05",
        "MAPLECOLLECT_CHUNK_MAX_RECORDS": "100",
        "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
        "MAPLECOLLECT_HEARTBEAT_SECONDS": "0.5",
        "MAPLECOLLECT_LOOP_UPSTREAM_WAIT_SECONDS": "0.1",
        "MAPLECOLLECT_LOOP_FAILURE_BACKOFF_SECONDS": "0.05",
    }


@contextlib.contextmanager
def simulator(characters: int) -> Iterator[RunningSimulator]:
    config = SimConfig(seed=11, characters=characters, now=sim_clock())
    with run_simulator_in_thread(config) as sim:
        yield sim


def start_service(
    data_dir: Path, sim_url: str, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The app of `maplecollect serve` (migrations, supervisor, real phases) under uvicorn,
    in its own process; settings come from the environment only, as in production."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "maplecollect.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = _clean_env(MAPLECOLLECT_DATA_DIR=str(data_dir), **service_env(sim_url))
    proc = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    return proc, url


@contextlib.contextmanager
def service(data_dir: Path, sim_url: str) -> Iterator[ControlApi]:
    """The control API on a free loopback port; terminated (then killed) at exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc, url = start_service(data_dir, sim_url)
    try:
        with ControlApi(url, TOKEN) as api:
            yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class ControlApi:
    """Synchronous control-API client (bearer token) used by the test assertions."""

    url: str
    token: str

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def __enter__(self) -> ControlApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def get(self, path: str, **params: Any) -> Any:
        res = self.client.get(path, params=params or None)
        assert res.status_code == 200, f"GET {path}: {res.status_code} {res.text}"
        return res.json()

    def post(self, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, json=json, headers=headers)

    def run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.get(f"/api/internal/runs/{run_id}")
        return run

    def runs(self, phase: str | None = None) -> list[dict[str, Any]]:
        """Run history, oldest first."""
        params = {"limit": 1000, **({"phase": phase} if phase else {})}
        runs: list[dict[str, Any]] = self.get("/api/internal/runs", **params)
        return list(reversed(runs))

    def run_ids(self) -> set[str]:
        return {r["runId"] for r in self.runs()}

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.get("/api/internal/run-status")
        return status

    def chain(self, chain_id: str) -> dict[str, Any]:
        chain: dict[str, Any] = self.get(f"/api/internal/chains/{chain_id}")
        return chain

    def runs_of_dag_run(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Runs whose X-Airflow-Run-Id names this DAG run, oldest first."""
        prefix = f"{dag_id}/{run_id}/"
        return [r for r in self.runs() if (r.get("airflowRunId") or "").startswith(prefix)]

    def busy(self) -> list[str]:
        """Phases held now by a run or by an active loop."""
        status = self.status()
        held = []
        for phase in PHASES:
            slot = status["slots"][phase]
            loop = status["loopSummaries"][phase]
            if (slot and not slot["terminal"]) or (
                loop and loop["status"] in ("RUNNING", "STOPPING")
            ):
                held.append(phase)
        return held

    def wait_idle(self, within: float = 60) -> None:
        """Until no run and no loop holds any phase (cases start from an idle service)."""
        deadline = time.monotonic() + within
        while self.busy():
            assert time.monotonic() < deadline, f"service still busy: {self.busy()}"
            time.sleep(0.05)

    def wait_run(self, run_id: str, within: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while not (run := self.run(run_id))["terminal"]:
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
            time.sleep(0.05)
        return run

    def complete(self, phase: str, *, upstream: str | None = None, date: str) -> dict[str, Any]:
        """Trigger `phase` through the API and wait for it to complete."""
        headers = {"X-Upstream-Run-Id": upstream} if upstream else None
        res = self.post(
            f"/api/internal/trigger/phase/{phase}", json={"date": date}, headers=headers
        )
        assert res.status_code == 202, res.text
        run = self.wait_run(res.json()["runId"])
        assert run["status"] == "COMPLETED", run
        return run
