"""Airflow integration: hook, operators, trigger and sensors for the control API.

Installed with the package (never from the dags folder), so the triggerer can
import `maplecollect.airflow.triggers.PhaseRunTrigger`. Modules:

    connection  Airflow connection -> the client's Endpoint (pure)
    hook        ExtApiHook: connection -> maplecollect.client (sync for workers,
                async for triggers); the client owns routes, answers and retries
    outcome     classify(run) / classify_chain / classify_idle (pure, shared)
    triggers    PhaseRunTrigger (JSON-only, never raises)
    waiting     defer to the trigger, judge its event
    operators   TriggerPhase / TriggerDaily / LoopPhase / StopPhase / StopLoop
    sensors     PhaseRunSensor, DailyChainSensor, ExtApiHealthSensor
    scope, params, pipeline, settings   the daily_collection_pipeline DAG's logic

This module imports nothing from Airflow: it is loaded for provider metadata.
"""

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider metadata so Airflow lists the `external_api` connection type."""
    return {
        "package-name": "maplecollect",
        "name": "maplecollect",
        "description": "Trigger, loop and stop maplecollect phases from Airflow.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": "maplecollect.airflow.hook.ExtApiHook",
                "connection-type": "maplecollect",
            }
        ],
    }
