"""Alembic environment: runs migrations on the sync engine of maplecollect."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from maplecollect.state.database import create_sync_db_engine
from maplecollect.state.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_sync_db_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several replicas may start at once: one migrates, the others wait.
            connection.execute(text("SELECT pg_advisory_lock(724513)"))
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(724513)"))
            connection.commit()
    engine.dispose()


run_migrations_online()
