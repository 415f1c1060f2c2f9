"""run lease epoch (fencing token), auto-resume bookkeeping, INTERRUPTED holds the slot

Revision ID: 0004
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None

_OLD = sa.text("status IN ('RUNNING', 'STOPPING')")
_NEW = sa.text("status IN ('RUNNING', 'STOPPING', 'INTERRUPTED')")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column(
                "auto_resume_attempts", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )
        batch.add_column(sa.Column("resume_after", sa.DateTime(timezone=True), nullable=True))
    # An INTERRUPTED run keeps its phase slot until it is resumed.
    op.drop_index(
        "ux_runs_active_phase", table_name="runs", sqlite_where=_OLD, postgresql_where=_OLD
    )
    op.create_index(
        "ux_runs_active_phase",
        "runs",
        ["phase"],
        unique=True,
        sqlite_where=_NEW,
        postgresql_where=_NEW,
    )


def downgrade() -> None:
    # INTERRUPTED does not exist before this revision: those runs become ABANDONED
    # (resumable by hand), as a shutdown left them before.
    op.execute(
        "UPDATE runs SET status = 'ABANDONED', completed_at = updated_at "
        "WHERE status = 'INTERRUPTED'"
    )
    op.drop_index(
        "ux_runs_active_phase", table_name="runs", sqlite_where=_NEW, postgresql_where=_NEW
    )
    op.create_index(
        "ux_runs_active_phase",
        "runs",
        ["phase"],
        unique=True,
        sqlite_where=_OLD,
        postgresql_where=_OLD,
    )
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("resume_after")
        batch.drop_column("auto_resume_attempts")
        batch.drop_column("lease_epoch")
