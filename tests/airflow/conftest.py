"""Airflow test setup: a throw-away AIRFLOW_HOME on SQLite, set BEFORE airflow is imported.

Test files here are named test_airflow_*.py: this folder has no __init__.py (a
package named `airflow` would shadow Airflow itself), so basenames must not clash
with other folders' tests.

Fixtures:
- `ext_api`: the `external_api` connection (env var, JSON form) pointing at
  `ext_api.base_url`, bearer token `ext_api.token`, 2 retries without backoff.
- `make_context`: builds the few context keys our operators read.
- `airflow_db`: the metadata DB created once per session (DAG-run tests only).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

_HOME = tempfile.mkdtemp(prefix="maplecollect-airflow-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
for _name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]

from airflow.sdk.bases.operator import ExecutorSafeguard  # noqa: E402

# Lets tests call operator.execute() directly (the task runner is not involved).
ExecutorSafeguard.test_mode = True

# dag.test() runs tasks through Airflow's in-process execution API, whose imports
# (svcs -> fastapi.testclient -> starlette.testclient) warn that httpx should be
# httpx2. Not ours to fix, and pytest makes warnings errors: import it once, quietly.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import airflow.api_fastapi.execution_api.app  # noqa: F401

TOKEN = "tok-SECRET-1234567890"
BASE_URL = "http://ext-api.test:8081"


def conn_json(**extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "maplecollect",
            "host": "ext-api.test",
            "port": 8081,
            "schema": "http",
            "password": TOKEN,
            "extra": {"retries": 2, "backoff": 0, **extra},
        }
    )


@pytest.fixture
def ext_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    monkeypatch.setenv("AIRFLOW_CONN_EXTERNAL_API", conn_json())
    yield SimpleNamespace(base_url=BASE_URL, token=TOKEN)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    from airflow.utils import db

    db.initdb()


def _make_context(task_id: str = "some_task", **extra: Any) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="daily_collection_pipeline",
        run_id="manual__2026-01-02T00:00:00+00:00",
        task_id=task_id,
        xcoms=extra.pop("xcoms", {}),
    )
    ti.xcom_pull = lambda task_ids=None, **_: ti.xcoms.get(task_ids)
    return {"ti": ti, "params": extra.pop("params", {}), **extra}


@pytest.fixture
def make_context() -> Any:
    return _make_context
