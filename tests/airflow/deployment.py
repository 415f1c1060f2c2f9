"""A real Airflow deployment for the deployment test, torn down even on failure.

What runs, each in its own process group on free 127.0.0.1 ports:

- the Nexon simulator (`maplecollect sim`, small world, clock pinned at noon KST);
- the control API (`maplecollect serve`, bearer token, its own SQLite data dir);
- Airflow 3.3.2 from this project's `.venv`: `api-server`, `scheduler` (LocalExecutor),
  `dag-processor` and `triggerer`, with a temporary AIRFLOW_HOME and a FRESH
  PostgreSQL database (`af_e2e_<random>` on the machine's server, created here and
  dropped at the end) as metadata DB, the async driver being psycopg's
  (`postgresql+psycopg_async://`, docs/airflow.md "Install").

The REST API v2 is reached with a JWT from `GET /auth/token` (SimpleAuthManager with
`simple_auth_manager_all_admins`, the test stand-in for a real auth manager).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from live_stack import SIM_KEY, TOKEN, ControlApi, service_env, sim_clock

from support.procs import _clean_env, free_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "daily_collection_pipeline.py"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

# A downstream DAG as a user would write it: runs off the ITEM_EQUIPMENT asset and
# returns what the producing wait task put in the asset event's extra.
CONSUMER_DAG = """
from airflow.sdk import DAG, Asset, task

with DAG(
    dag_id="snapshot_consumer",
    schedule=[Asset("maplecollect://item-equipment")],
    is_paused_upon_creation=False,
):
    @task
    def read_snapshot(**context):
        events = context["triggering_asset_events"][Asset("maplecollect://item-equipment")]
        extras = [dict(event.extra) for event in events]
        print("consumed", extras)
        return extras

    read_snapshot()
"""


class Wait:
    """`until(what, predicate, within)`: poll with a bound; the failure says what it waited for."""

    @staticmethod
    def until(what: str, check: Callable[[], Any], within: float, every: float = 0.5) -> Any:
        deadline = time.monotonic() + within
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except httpx.HTTPError as exc:  # a component still starting
                last = exc
            else:
                if last:
                    return last
            time.sleep(every)
        raise AssertionError(f"timed out after {within:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    api_url: str
    sim_url: str
    service: ControlApi
    procs: list[Proc] = field(default_factory=list)
    client: httpx.Client | None = None

    # -- REST API v2 ------------------------------------------------------------------

    def rest(self) -> httpx.Client:
        if self.client is None:
            token = httpx.get(f"{self.api_url}/auth/token", timeout=30).json()["access_token"]
            self.client = httpx.Client(
                base_url=f"{self.api_url}/api/v2",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
        return self.client

    def trigger(self, dag_id: str, conf: dict[str, Any] | None) -> httpx.Response:
        body: dict[str, Any] = {"logical_date": None}
        if conf is not None:
            body["conf"] = conf
        return self.rest().post(f"/dags/{dag_id}/dagRuns", json=body)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        res = self.rest().get(f"/dags/{dag_id}/dagRuns/{run_id}")
        res.raise_for_status()
        run: dict[str, Any] = res.json()
        return run

    def dag_runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:
        res = self.rest().get(f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params})
        res.raise_for_status()
        runs: list[dict[str, Any]] = res.json()["dag_runs"]
        return runs

    def wait_dag_run(self, dag_id: str, run_id: str, within: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        run: dict[str, Any] = Wait.until(f"DAG run {run_id} to end", done, within, every=0.5)
        return run

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        res = self.rest().get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        res.raise_for_status()
        return {ti["task_id"]: ti["state"] for ti in res.json()["task_instances"]}

    def task_tries(self, dag_id: str, run_id: str) -> dict[str, int]:
        res = self.rest().get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        res.raise_for_status()
        return {ti["task_id"]: ti["try_number"] for ti in res.json()["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        res = self.rest().get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": True, "stringify": False},
        )
        res.raise_for_status()
        return res.json()["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The task's log files as Airflow wrote them (worker and triggerer parts)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*.log*")))

    def airflow_cli(self, *args: str, within: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=within,
            check=False,
        )

    # -- the simulator ----------------------------------------------------------------

    def sim_world(self) -> dict[str, Any]:
        world: dict[str, Any] = httpx.get(f"{self.sim_url}/_sim/world", timeout=30).json()
        return world

    def sim_config(self, **patch: Any) -> None:
        httpx.post(f"{self.sim_url}/_sim/config", json=patch, timeout=30).raise_for_status()

    def diagnostics(self) -> str:
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()})\n{p.tail()}" for p in self.procs)


def _spawn(name: str, command: list[str], env: dict[str, str], logs: Path) -> Proc:
    log = logs / f"{name}.out"
    with log.open("wb") as out:
        # Own process group: teardown kills the component with all its children
        # (executor workers, task supervisors, gunicorn/uvicorn workers).
        popen = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, log)


def _kill_all(procs: list[Proc]) -> None:
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:  # leftovers and children of exited leaders
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=10)


@contextlib.contextmanager
def metadata_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata; dropped at the end.

    Yields `user@host:port/name` (the driver prefix is added per use)."""
    name = f"af_e2e_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.split("?", 1)[0].rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def airflow_env(home: Path, db: str, api_port: int, service_url: str) -> dict[str, str]:
    host, port = service_url.removeprefix("http://").split(":")
    env = {k: v for k, v in _clean_env().items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{db}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{db}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__WORKERS": "1",
            # Every component signs / checks the same JWTs (task identity, REST API).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # task supervisors -> api-server; the default 5 s is too short on a machine
            # with load 10+ (the task would fail with ReadTimeout before it starts)
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            # the DAG's knobs (docs/airflow.md "Settings"): fast polls, bounded waits
            "MAPLECOLLECT_AIRFLOW_POLL_INTERVAL": "1",
            "MAPLECOLLECT_AIRFLOW_PROGRESS_INTERVAL": "2",
            "MAPLECOLLECT_AIRFLOW_HEALTH_INTERVAL": "2",
            "MAPLECOLLECT_AIRFLOW_HEALTH_TIMEOUT": "60",
            "MAPLECOLLECT_AIRFLOW_TIMEOUT_DAILY": "180",
            "MAPLECOLLECT_AIRFLOW_TIMEOUT_STOP": "120",
            "MAPLECOLLECT_AIRFLOW_UNREACHABLE_TIMEOUT": "60",
            "AIRFLOW_CONN_EXTERNAL_API": json.dumps(
                {
                    "conn_type": "maplecollect",
                    "host": host,
                    "port": int(port),
                    "password": TOKEN,
                    "extra": {"retries": 2, "backoff": 0.2},
                }
            ),
        }
    )
    return env


@contextlib.contextmanager
def deployment(tmp: Path, *, postgres_url: str, characters: int) -> Iterator[Deployment]:
    procs: list[Proc] = []
    logs = tmp / "process-logs"
    logs.mkdir(parents=True)
    try:
        with metadata_database(postgres_url) as db:
            sim_port, svc_port, api_port = free_port(), free_port(), free_port()
            sim_url = f"http://127.0.0.1:{sim_port}"
            procs.append(
                _spawn(
                    "sim",
                    [
                        str(BIN / "maplecollect"),
                        "sim",
                        "--port",
                        str(sim_port),
                        "--characters",
                        str(characters),
                        "--seed",
                        "11",
                        "--now",
                        sim_clock().isoformat(),
                        "--api-key",
                        SIM_KEY,
                    ],
                    _clean_env(),
                    logs,
                )
            )
            svc_url = f"http://127.0.0.1:{svc_port}"
            svc_env = _clean_env(MAPLECOLLECT_DATA_DIR=str(tmp / "service"), **service_env(sim_url))
            procs.append(
                _spawn(
                    "serve",
                    [
                        str(BIN / "maplecollect"),
                        "serve",
                        "--port",
                        str(svc_port),
                        "--log-level",
                        "warning",
                    ],
                    svc_env,
                    logs,
                )
            )

            home = tmp / "airflow-home"
            (home / "dags").mkdir(parents=True)
            shutil.copy(DAG_FILE, home / "dags" / DAG_FILE.name)
            (home / "dags" / "snapshot_consumer.py").write_text(CONSUMER_DAG)
            env = airflow_env(home, db, api_port, svc_url)
            migrate = subprocess.run(
                [str(BIN / "airflow"), "db", "migrate"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
            # started before the migration, so they came up meanwhile
            Wait.until("the simulator", lambda: httpx.get(f"{sim_url}/_sim/world").is_success, 120)
            Wait.until("maplecollect serve", lambda: httpx.get(f"{svc_url}/health").is_success, 120)
            for component in AIRFLOW_COMPONENTS:
                procs.append(_spawn(component, [str(BIN / "airflow"), component], env, logs))
            with ControlApi(svc_url, TOKEN) as api:
                dep = Deployment(home, env, f"http://127.0.0.1:{api_port}", sim_url, api, procs)
                try:
                    Wait.until(
                        "the api-server",
                        lambda: httpx.get(f"{dep.api_url}/api/v2/monitor/health").is_success,
                        120,
                    )
                    yield dep
                except BaseException:
                    print(dep.diagnostics())  # shown by pytest for the failing test
                    raise
                finally:
                    if dep.client is not None:
                        dep.client.close()
                    _kill_all(procs)
    finally:
        _kill_all(procs)


def kst_now() -> datetime:
    from maplecollect.sim import KST

    return datetime.now(KST)
