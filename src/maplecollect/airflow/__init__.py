"""Airflow integration: hook, operators, trigger, sensors and the daily DAG's logic.

Installed with the package (never from the dags folder), so the triggerer can import
`maplecollect.airflow.triggers.PhaseRunTrigger`. This module imports nothing from
Airflow: it is loaded for provider metadata.
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
