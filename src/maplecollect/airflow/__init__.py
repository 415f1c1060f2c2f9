"""Airflow integration: hook, operators, trigger and sensor for the control API."""

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
