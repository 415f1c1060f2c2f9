"""Shared fixtures: the real PostgreSQL and Redis servers of this machine.

Tests that need them take `postgres_url` / `redis_url`. Locally they skip with
a printed reason when the server does not answer; under CI
(MAPLECOLLECT_TEST_REQUIRE_SERVICES=1, set by .ci/run) they fail instead.

The suite runs in parallel (pytest-xdist, `make pytest`), so every fixture here is
worker-safe: PostgreSQL gives each worker its own database (and each test that asks
its own schema in it), Redis tests use keys under a random prefix or fingerprint,
services listen on ephemeral ports and write under `tmp_path` only.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

# xdist workers run with SIGINT ignored, and a child started with SIGINT ignored keeps
# it ignored (Python installs its KeyboardInterrupt handler only over the default): the
# CLI's Ctrl-C tests would then wait forever. Give the worker the normal handler so
# every subprocess starts as it would from a shell.
if os.environ.get("PYTEST_XDIST_WORKER"):
    signal.signal(signal.SIGINT, signal.default_int_handler)

DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def _require(url: str, default_port: int, what: str) -> str:
    if _reachable(url, default_port):
        return url
    msg = f"{what} not reachable at {url}"
    if os.environ.get("MAPLECOLLECT_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{msg} (required under CI)")
    pytest.skip(msg)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this pytest process's own on the real server, dropped at the end.

    Under pytest-xdist every worker (gw0, gw1, ...) gets its own, so workers and
    other test runs on the same server never share tables, schemas or catalog
    locks; a test that needs more isolation takes `postgres_schema_url`.
    """
    import secrets

    import psycopg

    admin = _require(
        os.environ.get("MAPLECOLLECT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL), 5432, "PostgreSQL"
    )
    # xdist names its workers gw0, gw1, ...; a run without xdist is "main".
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"mc_test_{worker}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            # FORCE: a test that leaked a connection must not keep the database alive.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("MAPLECOLLECT_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    return _require(url, 6379, "Redis")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Drop MAPLECOLLECT_* / NEXON_* variables so settings come only from the test."""
    for name in list(os.environ):
        if name.startswith(("MAPLECOLLECT_", "NEXON_")) and not name.startswith(
            "MAPLECOLLECT_TEST_"
        ):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema per test on the real PostgreSQL server, dropped afterwards."""
    import secrets

    import psycopg

    schema = f"mc_test_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # Tests of one worker run one at a time, so any other session on this worker's
        # database belongs to a process the test left behind (e.g. after a timeout);
        # it would hold locks the DROP waits for, or deadlock with it.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# The files that took longest in a measured run (docs/performance.md "Test suite"),
# longest first. `make pytest` hands whole files to xdist workers in collection
# order (--no-loadscope-reorder), so starting these first keeps one of them from
# being the last thing running while the other workers sit idle.
LONGEST_FIRST = (
    "tests/airflow/test_airflow_deployment.py",
    "tests/cli/test_cli_client.py",
    "tests/collect/test_fencing.py",
    "tests/collect/test_kill_and_resume.py",
    "tests/collect/test_auto_resume.py",
    "tests/airflow/test_airflow_trigger_live.py",
    "tests/cli/test_cli_visibility.py",
    "tests/statuspage/test_serve_exposure.py",
    "tests/api/test_cross_process_race.py",
    "tests/cli/test_cli_demo.py",
    "tests/events/test_crash.py",
    "tests/export/test_export.py",
    "tests/airflow/test_dag_integration.py",
    "tests/cli/test_cli_run.py",
    "tests/statuspage/test_demo_keep.py",
    "tests/collect/test_chain_priority_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the order inside a file and of the rest stays
