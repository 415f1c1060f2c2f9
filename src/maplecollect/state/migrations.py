"""Alembic migrations, applied by `maplecollect db upgrade` and on `serve`.

Alembic itself (~0.5-1 CPU-s to import) is loaded only when a migration must actually run:
`upgrade` first reads `alembic_version` and returns at once when the database is already at
the head revision of the scripts, which is every restart but the first after a deploy that
added a migration (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from maplecollect.state.database import sync_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # render_as_string keeps the password in the URL Alembic hands to env.py.
    cfg.set_main_option(
        "sqlalchemy.url",
        sync_url(database_url).render_as_string(hide_password=False).replace("%", "%%"),
    )
    return cfg


@cache
def script_heads() -> frozenset[str]:
    """Head revisions of the migration scripts, read from their `revision` /
    `down_revision` assignments (what Alembic's ScriptDirectory computes, without
    importing Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else None
            if isinstance(node, ast.AnnAssign):
                target = node.target
            value = getattr(node, "value", None)
            if not isinstance(target, ast.Name) or value is None:
                continue
            if target.id == "revision":
                revisions.add(ast.literal_eval(value))
            elif target.id == "down_revision":
                down = ast.literal_eval(value)
                parents.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - parents)


def _at_head(database_url: str) -> bool:
    """Whether `alembic_version` names exactly the scripts' heads (False if unreadable)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from maplecollect.state.database import create_sync_db_engine

    engine = create_sync_db_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return frozenset(rows) == script_heads()
    except SQLAlchemyError:
        return False  # no table yet, or another problem: Alembic decides and reports
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (idempotent; safe from several replicas)."""
    if revision == "head" and _at_head(database_url):
        return
    from alembic import command

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
