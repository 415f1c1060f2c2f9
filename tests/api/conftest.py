from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner, walkers
from support.service import RunningService, fast_settings, serve


@pytest.fixture
def phases() -> dict[Phase, WalkerRunner]:
    return walkers()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Slot and concurrency tests run on SQLite and on the real PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_schema_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
async def svc(
    tmp_path: Path, phases: dict[Phase, WalkerRunner], database_url: str, clean_env: None
) -> AsyncIterator[RunningService]:
    async with serve(fast_settings(tmp_path, database_url=database_url), phases) as running:
        yield running
