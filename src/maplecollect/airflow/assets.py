"""Assets the wait tasks emit when a phase's snapshot is complete (docs/airflow.md "Assets").

One asset per phase, `maplecollect://<endpoint>` (`ranking-fetch`, `ocid-lookup`,
`character-basic`, `item-equipment`). A wait task declares its phase's asset (the
daily chain's wait declares all four) as an outlet; when it succeeds, Airflow
records an asset event whose `extra` says which run produced the data:

    {"runId", "phase", "snapshotDate", "manifestPath", "recordsProcessed",
     "recordsFailed", "totalKeys", "chainId"}

so a downstream DAG scheduled on `Asset("maplecollect://item-equipment")` reads the
snapshot's manifest without asking the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

from maplecollect.phases import ORDER, Phase

SCHEME = "maplecollect"
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


def endpoint(phase: Phase) -> str:
    """`ITEM_EQUIPMENT` -> `item-equipment`."""
    return phase.value.lower().replace("_", "-")


def asset_for(phase: Phase) -> Asset:
    return Asset(f"{SCHEME}://{endpoint(phase)}")


def all_assets() -> list[Asset]:
    return [asset_for(phase) for phase in ORDER]


def phase_of(outlet: Any) -> Phase | None:
    """The phase an outlet stands for, or None when it is not one of ours."""
    if not isinstance(outlet, Asset):
        return None
    for phase in ORDER:
        if outlet.name == f"{SCHEME}://{endpoint(phase)}":
            return phase
    return None


def event_extra(run: Mapping[str, Any]) -> dict[str, Any]:
    """The asset event's extra for a COMPLETED run document (JSON values only)."""
    return {key: run.get(key) for key in _EXTRA_KEYS}


def record_events(
    context: Mapping[str, Any], outlets: Iterable[Any], runs: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Put each outlet's run details into its asset event; returns the phases recorded.

    `runs`: run documents by phase name (one for a phase wait, four for the chain).
    """
    events = context.get("outlet_events")
    if events is None:
        return []
    recorded = []
    for outlet in outlets:
        phase = phase_of(outlet)
        run = runs.get(phase.value) if phase is not None else None
        if phase is not None and isinstance(run, Mapping):
            events[outlet].extra = event_extra(run)
            recorded.append(phase.value)
    return recorded
