"""Database sessions are bounded, so a frozen process cannot block its peers
(docs/reliability.md "Bounded database sessions")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from maplecollect.state import migrations
from maplecollect.state.database import DbTimeouts, create_async_db_engine

LOCK_ROW = "select phase from phase_locks where phase = 'RANKING_FETCH' for update"
TOUCH_ROW = "update phase_locks set touched_at = now() where phase = 'RANKING_FETCH'"


async def test_postgres_sessions_carry_the_timeouts(postgres_schema_url: str) -> None:
    engine = create_async_db_engine(
        postgres_schema_url,
        timeouts=DbTimeouts(lock_seconds=0.5, statement_seconds=3, idle_in_transaction_seconds=4),
    )
    try:
        async with engine.connect() as conn:
            shown = [
                (await conn.execute(text(f"show {name}"))).scalar()
                for name in (
                    "lock_timeout",
                    "statement_timeout",
                    "idle_in_transaction_session_timeout",
                )
            ]
            path = (await conn.execute(text("show search_path"))).scalar()
        assert shown == ["500ms", "3s", "4s"]
        # The URL's own options (a schema's search_path) are kept.
        assert "mc_test_" in str(path)
    finally:
        await engine.dispose()


async def test_a_frozen_transaction_loses_its_locks_and_a_waiter_gives_up(
    postgres_schema_url: str,
) -> None:
    await asyncio.to_thread(migrations.upgrade, postgres_schema_url)
    frozen = create_async_db_engine(
        postgres_schema_url, timeouts=DbTimeouts(idle_in_transaction_seconds=1.0)
    )
    impatient = create_async_db_engine(postgres_schema_url, timeouts=DbTimeouts(lock_seconds=0.3))
    peer = create_async_db_engine(postgres_schema_url, timeouts=DbTimeouts(lock_seconds=30))
    try:
        conn = await frozen.connect()
        await conn.begin()
        await conn.execute(text(LOCK_ROW))  # ... and then the process is frozen
        # A peer with a short lock_timeout fails fast instead of hanging.
        async with asyncio.timeout(20):
            with pytest.raises(DBAPIError, match="lock timeout"):
                async with impatient.begin() as other:
                    await other.execute(text(TOUCH_ROW))
        # A patient peer gets the row once the server ends the frozen session.
        async with asyncio.timeout(20), peer.begin() as other:
            await other.execute(text(TOUCH_ROW))
        with pytest.raises(DBAPIError):
            await conn.execute(text("select 1"))  # the frozen one wakes to a dead session
        await conn.invalidate()
        await conn.close()
    finally:
        for engine in (frozen, impatient, peer):
            await engine.dispose()


async def test_sqlite_busy_timeout_is_the_setting(tmp_path: Path) -> None:
    engine = create_async_db_engine(
        f"sqlite:///{tmp_path / 'state.db'}", timeouts=DbTimeouts(busy_seconds=1.5)
    )
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("pragma busy_timeout"))).scalar() == 1500
    finally:
        await engine.dispose()
