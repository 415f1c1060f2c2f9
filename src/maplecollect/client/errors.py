"""The one error tree of the control-API client (docs/control-api.md, "Client").

`what` names the call ("trigger ITEM_EQUIPMENT"). No message ever holds the bearer
token or a request header: the transport scrubs the token out of any text it keeps.
"""

from __future__ import annotations

from typing import Any

from maplecollect.errors import MaplecollectError

# Error bodies are small; the cap only guards logs against a misbehaving proxy.
_TEXT_CAP = 4000


def cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + "...(truncated)"


class ControlApiError(MaplecollectError):
    """A control-API call did not give a usable answer."""

    def __init__(self, message: str, *, what: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.what = what
        self.status = status


class Unavailable(ControlApiError):
    """No usable answer (connection, timeout, 5xx) within the retry budget."""

    def __init__(self, what: str, cause: str, *, attempts: int = 1, url: str = "") -> None:
        where = f" at {url}" if url else ""
        super().__init__(
            f"{what} failed: control API{where} unavailable after {attempts} attempt(s): {cause}",
            what=what,
        )
        self.cause = cause
        self.attempts = attempts
        self.url = url


class Refused(ControlApiError):
    """The service refused the call; `body` is its JSON object ({} if none), `text` as sent."""

    def __init__(
        self, what: str, status: int, text: str, body: dict[str, Any], *, hint: str = ""
    ) -> None:
        hint = f" ({hint})" if hint else ""
        super().__init__(
            f"{what} refused by the service{hint}: HTTP {status}: {cap(text)}",
            what=what,
            status=status,
        )
        self.text = text
        self.body = body

    @property
    def code(self) -> str | None:
        """The body's `error` (4xx) or `status` (409 conflicts) code, e.g. INVALID_PHASE."""
        code = self.body.get("error") or self.body.get("status")
        return code if isinstance(code, str) else None


# The hint of a Conflict's message, by the conflict's status.
_CONFLICT_HINTS = {
    "LOOP_ACTIVE": "loop {loop_id} holds the phase; stop the loop first",
    "CHAIN_ACTIVE": "the daily chain {chain_id} has this phase to do",
    "ALREADY_RUNNING": "run {run_id} holds a phase",
}


class Conflict(Refused):
    """409 naming what holds the slot; `conflict` is the typed body (maplecollect.contract)."""

    def __init__(self, what: str, text: str, body: dict[str, Any], conflict: Any) -> None:
        self.conflict = conflict
        hint = _CONFLICT_HINTS.get(str(getattr(conflict, "status", "")), "")
        ids = {"run_id": self.run_id, "loop_id": self.loop_id, "chain_id": self.chain_id}
        super().__init__(what, 409, text, body, hint=hint.format(**ids))

    @property
    def run_id(self) -> str | None:
        return getattr(self.conflict, "run_id", None)

    @property
    def loop_id(self) -> str | None:
        return getattr(self.conflict, "loop_id", None)

    @property
    def chain_id(self) -> str | None:
        return getattr(self.conflict, "chain_id", None)


class ProtocolError(ControlApiError):
    """An accepted status whose body lacks what the contract promises."""


class WaitFailed(ControlApiError):
    """A wait gave up; `last` is the last document polled (None if none answered)."""

    def __init__(self, message: str, *, what: str, last: Any = None, timed_out: bool = False):
        super().__init__(message, what=what)
        self.last = last
        self.timed_out = timed_out
