"""Alembic migrations, applied by `maplecollect db upgrade` and on `serve`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from maplecollect.state.database import sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # render_as_string keeps the password in the URL Alembic hands to env.py.
    cfg.set_main_option(
        "sqlalchemy.url",
        sync_url(database_url).render_as_string(hide_password=False).replace("%", "%%"),
    )
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (idempotent; safe from several replicas)."""
    command.upgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from maplecollect.state.database import create_sync_db_engine

    engine = create_sync_db_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
