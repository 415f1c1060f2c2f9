"""Writes a run's manifest (and `_SUCCESS` for COMPLETED runs) from its promoted parts."""

from __future__ import annotations

from datetime import UTC, datetime

from maplecollect.artifacts.manifest import build_manifest, write_manifest
from maplecollect.control.services import Services
from maplecollect.phases import Phase
from maplecollect.state.models import RunRow
from maplecollect.state.repository import Repository


class ManifestFinalizer:
    """Every ended run gets a manifest of what it collected, whatever its final status."""

    async def finalize(
        self, run: RunRow, status: str, *, repo: Repository, services: Services
    ) -> str | None:
        endpoint = Phase(run.phase).endpoint
        chunks = await repo.list_chunks(run.run_id, endpoint)
        manifest = build_manifest(
            run_id=run.run_id,
            phase=run.phase,
            endpoint=endpoint,
            upstream_run_id=run.upstream_run_id,
            snapshot_date=run.snapshot_date,
            started_at=run.started_at,
            completed_at=datetime.now(UTC),
            status=status,
            chunks=chunks,
        )
        return await write_manifest(services.store(), manifest, success=status == "COMPLETED")
