from __future__ import annotations

from datetime import UTC, datetime

from maplecollect.artifacts import (
    Store,
    build_manifest,
    list_stored_runs,
    purge_runs,
    write_manifest,
)


async def finished_run(store: Store, run_id: str, completed_at: str, status: str) -> None:
    store.put_atomic(f"runs/{run_id}/ocid-lookup/chunks/part-000001.jsonl.zst", b"x")
    manifest = build_manifest(
        run_id=run_id,
        phase="OCID_LOOKUP",
        endpoint="ocid-lookup",
        upstream_run_id=None,
        snapshot_date="2026-11-01",
        started_at="2026-11-01T00:00:00Z",
        completed_at=completed_at,
        status=status,
        chunks=[],
    )
    await write_manifest(store, manifest, success=status == "COMPLETED")


async def test_purge_deletes_only_old_finished_runs(store: Store) -> None:
    await finished_run(store, "old-completed", "2026-11-01T01:00:00Z", "COMPLETED")
    await finished_run(store, "old-stopped", "2026-11-02T01:00:00Z", "STOPPED")
    await finished_run(store, "old-kept", "2026-11-02T01:00:00Z", "COMPLETED")
    await finished_run(store, "recent", "2026-11-20T01:00:00Z", "COMPLETED")
    store.put_atomic("runs/running/ocid-lookup/chunks/part-000001.jsonl.zst", b"x")

    runs = {r.run_id: r for r in await list_stored_runs(store)}
    assert runs["old-stopped"].statuses == ("STOPPED",)
    assert runs["recent"].finished_at == datetime(2026, 11, 20, 1, tzinfo=UTC)
    assert runs["running"].finished_at is None

    cutoff = datetime(2026, 11, 10, tzinfo=UTC)
    dry = await purge_runs(store, cutoff, keep={"old-kept"}, dry_run=True)
    assert sorted(dry) == ["old-completed", "old-stopped"]
    assert len(await store.list_runs()) == 5

    deleted = await purge_runs(store, cutoff, keep={"old-kept"})
    assert sorted(deleted) == ["old-completed", "old-stopped"]
    assert await store.list_runs() == ["old-kept", "recent", "running"]
