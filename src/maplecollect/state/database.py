"""Engines for the run-state database: async for the service, sync for Alembic.

Users give one URL (`sqlite:///path` or `postgresql://...`); the driver for
each side is chosen here so nobody else spells driver names.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from maplecollect.errors import ConfigError

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


@dataclass(frozen=True)
class DbTimeouts:
    """Bounds on every database session, so a frozen or stalled process cannot block its
    peers (docs/reliability.md "Bounded database sessions"); SQLite has only the busy one."""

    lock_seconds: float = 5.0
    statement_seconds: float = 30.0
    idle_in_transaction_seconds: float = 10.0
    busy_seconds: float = 10.0

    def postgres_options(self) -> str:
        ms = {
            "lock_timeout": self.lock_seconds,
            "statement_timeout": self.statement_seconds,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_seconds,
        }
        return " ".join(f"-c {name}={round(value * 1000)}" for name, value in ms.items())


_TIMEOUTS: weakref.WeakKeyDictionary[AsyncEngine, DbTimeouts] = weakref.WeakKeyDictionary()


def _with_postgres_options(url: URL, timeouts: DbTimeouts) -> URL:
    # libpq `options` are applied at connection start-up: no extra round trip and
    # no SET that a rollback could undo. Options already in the URL (a test's
    # search_path) are kept; ours come last so they win.
    existing = url.query.get("options")
    if isinstance(existing, tuple):
        existing = " ".join(existing)
    merged = (
        f"{existing} {timeouts.postgres_options()}" if existing else timeouts.postgres_options()
    )
    return url.update_query_dict({"options": merged})


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in it
        raise ConfigError("MAPLECOLLECT_DATABASE_URL is not a valid database URL") from exc
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ConfigError(
            f"unsupported database backend {backend!r}: use sqlite:///path or postgresql://..."
        )
    return parsed.set(drivername=drivers[backend])


def sync_url(url: str) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def _ensure_sqlite_dir(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_tuning(
    sync_engine: Engine, *, writer: bool = True, busy_seconds: float = DbTimeouts.busy_seconds
) -> None:
    """WAL for concurrent readers, a busy timeout, and BEGIN IMMEDIATE for writers.

    Two implicit transactions upgrading to writers fail with "database is locked";
    taking the write lock at BEGIN makes writers queue (the SQLAlchemy recipe).
    """
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_seconds * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def create_async_db_engine(
    url: str, *, writer: bool = True, timeouts: DbTimeouts | None = None
) -> AsyncEngine:
    """The service's engine; `writer=False` gives SQLite a read-only-use engine."""
    timeouts = timeouts or DbTimeouts()
    parsed = _with_driver(url, _ASYNC_DRIVERS)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(parsed)
        kwargs = {"connect_args": {"timeout": timeouts.busy_seconds}}
    else:
        parsed = _with_postgres_options(parsed, timeouts)
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_async_engine(parsed, **kwargs)
    # Repository builds its SQLite read engine with the same bounds.
    _TIMEOUTS[engine] = timeouts
    if parsed.get_backend_name() == "sqlite":
        _sqlite_tuning(engine.sync_engine, writer=writer, busy_seconds=timeouts.busy_seconds)
    return engine


def engine_timeouts(engine: AsyncEngine) -> DbTimeouts:
    return _TIMEOUTS.get(engine, DbTimeouts())


def create_sync_db_engine(url: str) -> Engine:
    parsed = sync_url(url)
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(parsed)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _sqlite_tuning(engine, busy_seconds=30.0)  # migrations may wait for a busy peer
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
