"""The events maplecollect announces, schemaVersion 1 (docs/downstream.md). Pure builders.

Topics, types, keys and payload fields are those of the system this one replaces, so its
consumers keep working.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class EventType(StrEnum):
    SNAPSHOT_CHUNK_READY = "SNAPSHOT_CHUNK_READY"
    SNAPSHOT_RUN_COMPLETED = "SNAPSHOT_RUN_COMPLETED"
    SNAPSHOT_RUN_FAILED = "SNAPSHOT_RUN_FAILED"
    OCID_LOOKUP_READY = "OCID_LOOKUP_READY"


TOPICS: dict[EventType, str] = {
    EventType.SNAPSHOT_CHUNK_READY: "external-api.snapshot.chunk-ready",
    EventType.SNAPSHOT_RUN_COMPLETED: "external-api.snapshot.run-completed",
    EventType.SNAPSHOT_RUN_FAILED: "external-api.snapshot.run-failed",
    EventType.OCID_LOOKUP_READY: "external-api.ocid.lookup-ready",
}


@dataclass(frozen=True)
class NewEvent:
    """An event before it has its outbox sequence number."""

    event_id: str
    event_type: EventType
    key: str
    run_id: str
    payload: dict[str, Any]
    created_at: datetime

    @property
    def topic(self) -> str:
        return TOPICS[self.event_type]


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with `Z`, as in the manifests."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event(
    event_type: EventType, key: str, run_id: str, fields: dict[str, Any], now: datetime
) -> NewEvent:
    event_id = str(uuid.uuid4())
    payload = {
        "eventId": event_id,
        "eventType": event_type.value,
        "schemaVersion": SCHEMA_VERSION,
        **fields,
        "createdAt": iso(now),
    }
    return NewEvent(event_id, event_type, key, run_id, payload, now)


def chunk_ready(
    *,
    run_id: str,
    phase: str,
    endpoint: str,
    snapshot_date: str,
    part: int,
    object_key: str,
    records: int,
    failed: int,
    raw_bytes: int,
    compressed_bytes: int,
    sha256: str,
    first_index: int,
    last_index: int,
    now: datetime,
) -> NewEvent:
    """A part was published and promoted: its records file is durable and final."""
    cid = f"part-{part:06d}"
    return _event(
        EventType.SNAPSHOT_CHUNK_READY,
        f"{run_id}:{endpoint}:{cid}",
        run_id,
        {
            "runId": run_id,
            "phase": phase,
            "endpoint": endpoint,
            "snapshotDate": snapshot_date,
            "chunkId": cid,
            "objectKey": object_key,
            "recordCount": records,
            "failedCount": failed,
            "uncompressedBytes": raw_bytes,
            "compressedBytes": compressed_bytes,
            "sha256": sha256,
            "firstIndex": first_index,
            "lastIndex": last_index,
        },
        now,
    )


def _run_fields(
    run_id: str, phase: str, endpoint: str, snapshot_date: str, upstream_run_id: str | None
) -> dict[str, Any]:
    return {
        "runId": run_id,
        "phase": phase,
        "endpoint": endpoint,
        "snapshotDate": snapshot_date,
        "upstreamRunId": upstream_run_id,
    }


def run_completed(
    *,
    run_id: str,
    phase: str,
    endpoint: str,
    snapshot_date: str,
    upstream_run_id: str | None,
    manifest_path: str | None,
    total_records: int,
    total_failed: int,
    chunk_count: int,
    started_at: datetime,
    finished_at: datetime,
    now: datetime,
    event_type: EventType = EventType.SNAPSHOT_RUN_COMPLETED,
) -> NewEvent:
    """The run COMPLETED: its manifest and `_SUCCESS` are written.

    `event_type=OCID_LOOKUP_READY` gives the same body on the OCID topic.
    """
    return _event(
        event_type,
        f"{run_id}:{endpoint}",
        run_id,
        {
            **_run_fields(run_id, phase, endpoint, snapshot_date, upstream_run_id),
            "manifestPath": manifest_path,
            "totalRecords": total_records,
            "totalFailed": total_failed,
            "chunkCount": chunk_count,
            "startedAt": iso(started_at),
            "finishedAt": iso(finished_at),
        },
        now,
    )


def run_failed(
    *,
    run_id: str,
    phase: str,
    endpoint: str,
    snapshot_date: str,
    upstream_run_id: str | None,
    error_message: str | None,
    now: datetime,
) -> NewEvent:
    """The run ended FAILED (it may still be resumed, and then complete)."""
    return _event(
        EventType.SNAPSHOT_RUN_FAILED,
        f"{run_id}:{endpoint}",
        run_id,
        {
            **_run_fields(run_id, phase, endpoint, snapshot_date, upstream_run_id),
            "errorMessage": error_message,
        },
        now,
    )
