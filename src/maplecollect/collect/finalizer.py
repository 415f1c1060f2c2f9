"""Writes a run's manifest (and `_SUCCESS` for COMPLETED runs) from its promoted parts.

Fenced like every write of a run: each file is written only while the run's
lease (owner + epoch of this attempt) is still held (docs/reliability.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from maplecollect.artifacts.manifest import build_manifest, write_manifest
from maplecollect.control.services import Services
from maplecollect.phases import Phase
from maplecollect.state.models import RunRow
from maplecollect.state.repository import Lease, Repository


class ManifestFinalizer:
    """Every ended run gets a manifest of what it collected, whatever its final status."""

    async def finalize(
        self, run: RunRow, status: str, *, repo: Repository, services: Services
    ) -> str | None:
        endpoint = Phase(run.phase).endpoint
        lease = Lease.of(run)

        async def guard(what: str) -> None:
            await repo.check_lease(lease, what)

        await guard("finalising")
        chunks = await repo.list_chunks(run.run_id, endpoint)
        store = services.store()
        # Drop temp files and parts past the last promoted one (e.g. a part a
        # fenced-out writer renamed just before it learnt it lost the lease),
        # so `chunks/*` holds exactly what the manifest lists.
        await store.remove_parts_after(
            run.run_id, endpoint, max((c.part for c in chunks), default=0)
        )
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
        return await write_manifest(store, manifest, success=status == "COMPLETED", guard=guard)
