"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chains",
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot_date", sa.String(length=10), nullable=False),
        sa.Column("airflow_run_id", sa.String(length=250), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_chains")),
    )
    op.create_index(
        "ux_chains_active",
        "chains",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'RUNNING'"),
        postgresql_where=sa.text("status = 'RUNNING'"),
    )
    op.create_table(
        "chunks",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("last_index", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("raw_bytes", sa.Integer(), nullable=False),
        sa.Column("compressed_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("failed_sha256", sa.String(length=64), nullable=True),
        sa.Column("failed_path", sa.Text(), nullable=True),
        sa.Column("failed_compressed_bytes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "endpoint", "part", name=op.f("pk_chunks")),
    )
    op.create_table(
        "loops",
        sa.Column("loop_id", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot_date", sa.String(length=10), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("iteration_count", sa.Integer(), nullable=False),
        sa.Column("current_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("airflow_run_id", sa.String(length=250), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("loop_id", name=op.f("pk_loops")),
    )
    op.create_index("ix_loops_phase_started", "loops", ["phase", "started_at"], unique=False)
    op.create_index(
        "ux_loops_active_phase",
        "loops",
        ["phase"],
        unique=True,
        sqlite_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
        postgresql_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
    )
    op.create_table(
        "ocid_cache",
        sa.Column("character_name", sa.String(length=64), nullable=False),
        sa.Column("world_name", sa.String(length=64), nullable=True),
        sa.Column("ocid", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("character_name", name=op.f("pk_ocid_cache")),
    )
    op.create_table(
        "phase_locks",
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("phase", name=op.f("pk_phase_locks")),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("upstream_run_id", sa.String(length=64), nullable=True),
        sa.Column("chain_id", sa.String(length=64), nullable=True),
        sa.Column("loop_id", sa.String(length=64), nullable=True),
        sa.Column("airflow_run_id", sa.String(length=250), nullable=True),
        sa.Column("snapshot_date", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("total_keys", sa.Integer(), nullable=True),
        sa.Column("records_processed", sa.Integer(), nullable=False),
        sa.Column("records_failed", sa.Integer(), nullable=False),
        sa.Column("chunks_processed", sa.Integer(), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("manifest_path", sa.Text(), nullable=True),
        sa.Column("resume_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_chain_id"), "runs", ["chain_id"], unique=False)
    op.create_index(op.f("ix_runs_loop_id"), "runs", ["loop_id"], unique=False)
    op.create_index("ix_runs_phase_started", "runs", ["phase", "started_at"], unique=False)
    op.create_index("ix_runs_started", "runs", ["started_at"], unique=False)
    op.create_index(
        "ux_runs_active_phase",
        "runs",
        ["phase"],
        unique=True,
        sqlite_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
        postgresql_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
    )
    # One lock row per phase (see models.PhaseLockRow).
    locks = sa.table("phase_locks", sa.column("phase", sa.String))
    op.bulk_insert(
        locks,
        [
            {"phase": p}
            for p in ("RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT")
        ],
    )


def downgrade() -> None:
    op.drop_index(
        "ux_runs_active_phase",
        table_name="runs",
        sqlite_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
        postgresql_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
    )
    op.drop_index("ix_runs_started", table_name="runs")
    op.drop_index("ix_runs_phase_started", table_name="runs")
    op.drop_index(op.f("ix_runs_loop_id"), table_name="runs")
    op.drop_index(op.f("ix_runs_chain_id"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("phase_locks")
    op.drop_table("ocid_cache")
    op.drop_index(
        "ux_loops_active_phase",
        table_name="loops",
        sqlite_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
        postgresql_where=sa.text("status IN ('RUNNING', 'STOPPING')"),
    )
    op.drop_index("ix_loops_phase_started", table_name="loops")
    op.drop_table("loops")
    op.drop_table("chunks")
    op.drop_index(
        "ux_chains_active",
        table_name="chains",
        sqlite_where=sa.text("status = 'RUNNING'"),
        postgresql_where=sa.text("status = 'RUNNING'"),
    )
    op.drop_table("chains")
