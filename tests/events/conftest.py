"""Fixtures of the outbox and relay tests: a migrated repository, NATS, helpers."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from maplecollect.state import migrations
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.repository import Repository

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The real NATS server (JetStream enabled); fails instead of skipping under CI."""
    url = os.environ.get("MAPLECOLLECT_TEST_NATS_URL", DEFAULT_NATS_URL)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 1):
            return url
    except OSError:
        msg = f"NATS not reachable at {url}"
        if os.environ.get("MAPLECOLLECT_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{msg} (required under CI)")
        pytest.skip(msg)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_schema_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


async def open_repo(url: str) -> Repository:
    migrations.upgrade(url)
    return Repository(create_async_db_engine(url))


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[Repository]:
    repository = await open_repo(database_url)
    yield repository
    await repository.dispose()


@pytest.fixture
async def sqlite_repo(sqlite_url: str) -> AsyncIterator[Repository]:
    repository = await open_repo(sqlite_url)
    yield repository
    await repository.dispose()
