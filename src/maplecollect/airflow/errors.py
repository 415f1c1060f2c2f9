"""Errors of the Airflow side of maplecollect (the control-API client).

    MaplecollectError                       (maplecollect.errors)
    └── ExtApiError                         any failure talking to the control API
        ├── ExtApiRefused                   the service refused: 4xx or an unexpected status;
        │   │                               the message carries the server's body verbatim
        │   ├── LoopActive                  409 LOOP_ACTIVE on a one-shot trigger
        │   └── SlotBusy                    409 ALREADY_RUNNING that cannot be followed as is
        ├── ExtApiProtocolError             a success status with an unusable body
        ├── ExtApiUnavailable               network error / 5xx after the bounded retries
        └── ApiVersionTooOld                /health reports an apiVersion older than needed

No message ever contains the bearer token or request headers.
"""

from __future__ import annotations

from maplecollect.errors import MaplecollectError

# Error bodies are small; the cap only guards logs against a misbehaving proxy.
_BODY_CAP = 4000


def _cap(text: str) -> str:
    return text if len(text) <= _BODY_CAP else text[:_BODY_CAP] + "...(truncated)"


class ExtApiError(MaplecollectError):
    """A control-API call did not give a usable answer."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message)
        self.what = what


class ExtApiRefused(ExtApiError):
    """The service answered with a refusal; `body` is its response text as received."""

    def __init__(self, what: str, status: int, body: str, *, hint: str = "") -> None:
        hint = f" ({hint})" if hint else ""
        super().__init__(
            f"{what} refused by the service{hint}: HTTP {status}: {_cap(body)}", what=what
        )
        self.status = status
        self.body = body


class LoopActive(ExtApiRefused):
    """A loop holds the phase, so a one-shot run cannot start (stop the loop first)."""

    def __init__(self, what: str, status: int, body: str, loop_id: str | None) -> None:
        hint = f"loop {loop_id} holds the phase; stop it first with <PHASE>_STOP_LOOP"
        super().__init__(what, status, body, hint=hint)
        self.loop_id = loop_id


class SlotBusy(ExtApiRefused):
    """409 ALREADY_RUNNING where the caller needs more than the occupying `run_id`."""

    def __init__(self, what: str, status: int, body: str, run_id: str | None) -> None:
        super().__init__(what, status, body, hint=f"run {run_id} holds a phase")
        self.run_id = run_id


class ExtApiProtocolError(ExtApiError):
    """A success status whose body lacks what the contract promises."""


class ExtApiUnavailable(ExtApiError):
    """The service could not be reached (or kept answering 5xx) within the retry budget."""

    def __init__(self, what: str, attempts: int, cause: str) -> None:
        super().__init__(
            f"{what} failed: control API unavailable after {attempts} attempt(s): {cause}",
            what=what,
        )
        self.attempts = attempts


class ApiVersionTooOld(ExtApiError):
    """The deployed service speaks an older control-API version than this package needs."""

    def __init__(self, found: int | None, needed: int) -> None:
        super().__init__(
            f"the maplecollect service reports apiVersion {found}, but this Airflow package "
            f"needs apiVersion >= {needed}: upgrade the service before running the DAG",
            what="health",
        )
        self.found = found
        self.needed = needed
