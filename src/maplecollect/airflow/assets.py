"""Assets the wait tasks emit when a phase's snapshot is complete (docs/airflow.md
"Assets"): one per phase; the event's `extra` names the run that produced the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

from maplecollect.phases import ORDER, Phase

_EXTRA_KEYS = (
    "runId",
    "phase",
    "snapshotDate",
    "manifestPath",
    "recordsProcessed",
    "recordsFailed",
    "totalKeys",
    "chainId",
)


def asset_for(phase: Phase) -> Asset:
    """`ITEM_EQUIPMENT` -> `maplecollect://item-equipment`."""
    return Asset(f"maplecollect://{phase.value.lower().replace('_', '-')}")


def all_assets() -> list[Asset]:
    return [asset_for(phase) for phase in ORDER]


def record_events(
    context: Mapping[str, Any],
    outlets: Iterable[Any],
    runs: Mapping[str, Mapping[str, Any]],
    log: Any,
) -> None:
    """Put each outlet's run (from `runs`, run documents by phase name) into its event."""
    events = context.get("outlet_events")
    phases = {asset_for(phase).name: phase for phase in ORDER}
    for outlet in outlets:
        phase = phases.get(outlet.name) if isinstance(outlet, Asset) else None
        run = runs.get(phase.value) if phase is not None else None
        if events is None or not isinstance(run, Mapping):
            continue
        events[outlet].extra = {key: run.get(key) for key in _EXTRA_KEYS}
        log.info(
            "asset event %s: run %s, snapshot %s, %s records, manifest %s",
            outlet.name,
            run.get("runId"),
            run.get("snapshotDate"),
            run.get("recordsProcessed"),
            run.get("manifestPath"),
        )
