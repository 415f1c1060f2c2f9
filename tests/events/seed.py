"""Runs and promoted chunks written through the real Repository, to produce outbox events."""

from __future__ import annotations

from datetime import UTC, datetime

from maplecollect.phases import Phase
from maplecollect.state.models import ChunkRow, RunRow, RunStatus
from maplecollect.state.repository import Lease, Repository

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def run_row(run_id: str, phase: Phase = Phase.ITEM_EQUIPMENT) -> RunRow:
    return RunRow(
        run_id=run_id,
        phase=phase.value,
        status=RunStatus.RUNNING.value,
        upstream_run_id=None if phase is Phase.RANKING_FETCH else "up-1",
        snapshot_date="2026-11-26",
        started_at=NOW,
        updated_at=NOW,
        heartbeat_at=NOW,
        owner="test",
        records_processed=0,
        records_failed=0,
        chunks_processed=0,
        stop_requested=False,
        resume_count=0,
    )


def chunk_row(run_id: str, endpoint: str, part: int, records: int = 10) -> ChunkRow:
    first = (part - 1) * records
    return ChunkRow(
        run_id=run_id,
        endpoint=endpoint,
        part=part,
        first_index=first,
        last_index=first + records - 1,
        records=records,
        failed=0,
        raw_bytes=1000 * records,
        compressed_bytes=100 * records,
        sha256="ab" * 32,
        path=f"chunks/part-{part:06d}.jsonl.zst",
        failed_sha256=None,
        failed_path=None,
        failed_compressed_bytes=None,
        created_at=NOW,
    )


async def seed_run(
    repo: Repository,
    run_id: str,
    parts: int,
    *,
    phase: Phase = Phase.ITEM_EQUIPMENT,
    status: RunStatus | None = RunStatus.COMPLETED,
) -> None:
    """Create a run, promote `parts` chunks and end it with `status` (None: leave it running)."""
    run = await repo.create_run(run_row(run_id, phase))
    for part in range(1, parts + 1):
        await repo.add_chunk(chunk_row(run_id, phase.endpoint, part))
    if status is not None:
        await repo.finish_run(
            Lease.of(run), status, now=NOW, manifest_path=f"memory://{run_id}/m.json"
        )
