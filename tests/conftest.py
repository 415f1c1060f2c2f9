"""Shared fixtures: the real PostgreSQL and Redis servers of this machine.

Tests that need them take `postgres_url` / `redis_url`. Locally they skip with
a printed reason when the server does not answer; under CI
(MAPLECOLLECT_TEST_REQUIRE_SERVICES=1, set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

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


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("MAPLECOLLECT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return _require(url, 5432, "PostgreSQL")


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
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
