"""Errors of the Airflow side: the client's tree (`maplecollect.client.errors`) under the
names this provider has always raised, plus the one check only Airflow makes.

    ExtApiError = ControlApiError           any failure talking to the control API
    ├── ExtApiRefused = Refused             4xx or an unexpected status, body verbatim
    │   └── Conflict                        a contract 409 (ALREADY_RUNNING, LOOP_ACTIVE ...)
    ├── ExtApiProtocolError = ProtocolError an accepted status with an unusable body
    ├── ExtApiUnavailable = Unavailable     network error / 5xx after the bounded retries
    └── ApiVersionTooOld                    /health reports an apiVersion older than needed

No message ever contains the bearer token or request headers.
"""

from __future__ import annotations

from maplecollect.client.errors import (
    Conflict,
    ControlApiError,
    ProtocolError,
    Refused,
    Unavailable,
)

ExtApiError = ControlApiError
ExtApiRefused = Refused
ExtApiProtocolError = ProtocolError
ExtApiUnavailable = Unavailable


class ApiVersionTooOld(ControlApiError):
    """The deployed service speaks an older control-API version than this package needs."""

    def __init__(self, found: int | None, needed: int) -> None:
        super().__init__(
            f"the maplecollect service reports apiVersion {found}, but this Airflow package "
            f"needs apiVersion >= {needed}: upgrade the service before running the DAG",
            what="health",
        )
        self.found = found
        self.needed = needed


__all__ = [
    "ApiVersionTooOld",
    "Conflict",
    "ExtApiError",
    "ExtApiProtocolError",
    "ExtApiRefused",
    "ExtApiUnavailable",
]
