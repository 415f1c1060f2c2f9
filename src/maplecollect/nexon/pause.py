"""The pause gate: OPENAPI00009/00010/00011 stop every request of a client for a while."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PauseHook = Callable[[bool, str], None]
"""`on_pause(paused, reason)`: called when the gate closes (True) and opens again (False)."""


@dataclass(frozen=True, slots=True)
class PausePolicy:
    """Close the gate for `pause_seconds`; a request paused more than `max_pause_seconds`
    in total fails the run."""

    pause_seconds: float = 60.0
    max_pause_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class PauseState:
    """Why requests are held back, for run status: `code` OPENAPI00009, `reason`
    "data not ready", since when (UTC) and until when the gate stays shut (the next try).
    """

    code: str
    reason: str
    since: datetime
    until: datetime | None


class PauseGate:
    """Open by default. `close_for()` shuts it; `wait()` blocks while shut.

    One timer reopens it (no task per waiter). Closing again while shut
    extends the pause. Belongs to the event loop that first closes it.

    `state` describes the pause from the first close until `settle()` (the
    client calls it when an answer after the reopening is not a pause): a
    "not ready" day re-closes the gate after every try, and one pause that
    keeps its `since` is what an operator needs to see, not a flicker.
    """

    def __init__(self, on_change: PauseHook | None = None) -> None:
        self.on_change = on_change
        self._open = True
        self._until = 0.0
        self._reason = ""
        self._event = asyncio.Event()
        self._event.set()
        self._timer: asyncio.TimerHandle | None = None
        self.state: PauseState | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def reason(self) -> str:
        """Why the gate is (or was last) closed, e.g. "OPENAPI00009 data not ready"."""
        return self._reason

    def close_for(
        self, seconds: float, reason: str, *, code: str = "", summary: str | None = None
    ) -> None:
        """Shut for `seconds`; `reason` goes to the hook, `code`/`summary` to `state`."""
        until = time.monotonic() + seconds
        self._reason = reason
        if not self._open and until <= self._until:
            return
        self._until = until
        now = datetime.now(UTC)
        since = self.state.since if self.state is not None else now
        shown = summary if summary is not None else reason
        self.state = PauseState(code, shown, since, now + timedelta(seconds=seconds))
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(seconds, self._reopen)
        if self._open:
            self._open = False
            self._event.clear()
            if self.on_change is not None:
                self.on_change(True, reason)

    async def wait(self) -> float:
        """Block while closed; returns the seconds spent waiting (0.0 when open).

        Bounded: the timer reopens the gate at `until`; should it ever not fire,
        the waiter reopens it itself a second later (a paused run never hangs).
        """
        if self._open:
            return 0.0
        started = time.monotonic()
        while not self._open:
            remaining = self._until - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0) + 1.0):
                    await self._event.wait()
            except TimeoutError:
                if time.monotonic() >= self._until + 1.0:  # not extended meanwhile
                    self._reopen()
        return time.monotonic() - started

    def settle(self) -> None:
        """An answer that is not a pause came back after the reopening: the pause is over."""
        if self._open:
            self.state = None

    def cancel(self) -> None:
        """Open the gate now and drop the timer (client close)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._reopen()
        self.state = None

    def _reopen(self) -> None:
        self._timer = None
        if self._open:
            return
        self._open = True
        self._event.set()
        if self.on_change is not None:
            self.on_change(False, self._reason)
