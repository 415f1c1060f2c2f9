"""loops: status WAITING_FOR_CHAIN (17 characters) and in the one-active-loop index

Revision ID: 0010
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD = "status IN ('RUNNING', 'STOPPING')"
_NEW = "status IN ('RUNNING', 'WAITING_FOR_CHAIN', 'STOPPING')"


def _index(predicate: str) -> None:
    op.create_index(
        "ux_loops_active_phase",
        "loops",
        ["phase"],
        unique=True,
        sqlite_where=sa.text(predicate),
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    op.drop_index("ux_loops_active_phase", table_name="loops")
    with op.batch_alter_table("loops") as batch:
        batch.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
    _index(_NEW)


def downgrade() -> None:
    op.drop_index("ux_loops_active_phase", table_name="loops")
    # A waiting loop is running as far as the older code knows.
    op.execute("UPDATE loops SET status = 'RUNNING' WHERE status = 'WAITING_FOR_CHAIN'")
    with op.batch_alter_table("loops") as batch:
        batch.alter_column(
            "status",
            existing_type=sa.String(length=32),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
    _index(_OLD)
