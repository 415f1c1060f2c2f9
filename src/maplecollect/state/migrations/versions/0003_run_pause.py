"""runs: why a run waits (pause code, reason, since, until)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on both dialects, no table rebuild.
    op.add_column("runs", sa.Column("pause_code", sa.String(length=32), nullable=True))
    op.add_column("runs", sa.Column("pause_reason", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("pause_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("pause_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops columns by rebuilding the table: batch mode does that.
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pause_until")
        batch.drop_column("pause_since")
        batch.drop_column("pause_reason")
        batch.drop_column("pause_code")
