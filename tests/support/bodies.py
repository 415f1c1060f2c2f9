"""Contract-valid JSON bodies for tests that answer HTTP themselves (respx).

Built from the contract models (`maplecollect.contract`), so a body here is one
the real service could send; tests give only the fields they care about.
"""

from __future__ import annotations

from typing import Any

from maplecollect.contract import (
    ChainPublic,
    HealthPublic,
    LoopPublic,
    RunDetailPublic,
    RunPublic,
    RunStatusPublic,
)
from maplecollect.phases import ORDER

WHEN = "2026-01-02T03:00:00Z"
ACTIVE = ("RUNNING", "STOPPING", "INTERRUPTED")


def run_json(
    run_id: str, phase: str = "ITEM_EQUIPMENT", status: str = "RUNNING", **extra: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "runId": run_id,
        "phase": phase,
        "status": status,
        "terminal": status not in ACTIVE,
        "upstreamRunId": None,
        "chainId": None,
        "loopId": None,
        "airflowRunId": None,
        "snapshotDate": "2026-01-01",
        "startedAt": WHEN,
        "updatedAt": WHEN,
        "completedAt": None,
        "heartbeatAt": WHEN,
        "totalKeys": None,
        "recordsProcessed": 0,
        "recordsFailed": 0,
        "chunksProcessed": 0,
        "ratePerSecond": None,
        "etaSeconds": None,
        "errorMessage": None,
        "manifestPath": None,
        "resumeCount": 0,
        **extra,
    }
    return RunDetailPublic.model_validate(values).wire()


def chain_json(chain_id: str, status: str, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values = {
        "chainId": chain_id,
        "status": status,
        "snapshotDate": "2026-01-01",
        "airflowRunId": None,
        "startedAt": WHEN,
        "completedAt": None,
        "errorMessage": None,
        "runs": {phase: RunPublic.model_validate(run).wire() for phase, run in runs.items()},
    }
    return ChainPublic.model_validate(values).wire()


def loop_json(loop_id: str, phase: str, status: str, **extra: Any) -> dict[str, Any]:
    values = {
        "loopId": loop_id,
        "phase": phase,
        "status": status,
        "snapshotDate": "latest",
        "intervalSeconds": 0.0,
        "iterationCount": 0,
        "currentRunId": None,
        "lastRunId": None,
        "lastError": None,
        "consecutiveFailures": 0,
        "airflowRunId": None,
        "startedAt": WHEN,
        "updatedAt": WHEN,
        "stoppedAt": None,
        **extra,
    }
    return LoopPublic.model_validate(values).wire()


def run_status_json(
    slots: dict[str, dict[str, Any]] | None = None, loops: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    values = {
        "slots": {p.value: (slots or {}).get(p.value) for p in ORDER},
        "lastCompletedByPhase": {p.value: None for p in ORDER},
        "current": None,
        "lastCompleted": None,
        "loopSummaries": {p.value: (loops or {}).get(p.value) for p in ORDER},
    }
    return RunStatusPublic.model_validate(values).wire()


def health_json(status: str = "UP", api_version: int = 2, **extra: Any) -> dict[str, Any]:
    values = {
        "status": status,
        "version": "test",
        "apiVersion": api_version,
        "database": status,
        **extra,
    }
    return HealthPublic.model_validate(values).wire()
