"""Retention of stored runs (the store side of `maplecollect purge --older-than`).

A run's age is the newest `completedAt` (else `startedAt`) among its manifests.
A run without any manifest may still be running, so age-based purging never
touches it; the database side can delete such runs by id with `Store.delete_run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from maplecollect.artifacts import layout
from maplecollect.artifacts.store import Store
from maplecollect.errors import ConfigError, StoreError


@dataclass(frozen=True, slots=True)
class StoredRun:
    run_id: str
    endpoints: tuple[str, ...]
    statuses: tuple[str, ...]  # one per endpoint with a readable manifest
    finished_at: datetime | None  # None: no readable manifest (running or crashed)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # manifests are written in UTC


def _describe(store: Store, run_id: str) -> StoredRun:
    endpoints = tuple(store.listdir(layout.run_dir(run_id)))
    statuses: list[str] = []
    times: list[datetime] = []
    for endpoint in endpoints:
        rel = layout.manifest_path(run_id, endpoint)
        if not store.exists_sync(rel):
            continue
        try:
            manifest = orjson.loads(store.cat(rel))
        except (orjson.JSONDecodeError, StoreError):
            continue  # unreadable manifest: treat like a missing one (keep the run)
        statuses.append(str(manifest.get("status")))
        when = _parse_time(manifest.get("completedAt")) or _parse_time(manifest.get("startedAt"))
        if when is not None:
            times.append(when)
    return StoredRun(run_id, endpoints, tuple(statuses), max(times) if times else None)


def _list_runs(store: Store) -> list[StoredRun]:
    runs = []
    for name in store.listdir(layout.RUNS):
        try:
            layout.check_id(name)
        except ConfigError:
            continue  # not a run folder we wrote
        runs.append(_describe(store, name))
    return runs


async def list_stored_runs(store: Store) -> list[StoredRun]:
    """Every run folder in the store with its manifest facts."""
    return await asyncio.to_thread(_list_runs, store)


async def purge_runs(
    store: Store, older_than: datetime, *, keep: Collection[str] = (), dry_run: bool = False
) -> list[str]:
    """Delete runs whose manifests are all older than `older_than` (an aware datetime).

    Runs in `keep` (e.g. ones the database still references as running) and runs
    without a manifest are kept. Returns the run ids deleted (or, with
    `dry_run`, that would be).
    """
    if older_than.tzinfo is None:
        raise ValueError("older_than must be timezone-aware")
    doomed = [
        r.run_id
        for r in await list_stored_runs(store)
        if r.finished_at is not None and r.finished_at < older_than and r.run_id not in keep
    ]
    if not dry_run:
        for run_id in doomed:
            await store.delete_run(run_id)
    return doomed
