"""In-memory progress of one run; the supervisor writes it to the DB at a bounded rate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from maplecollect.nexon.classify import UNKNOWN


@dataclass
class Progress:
    """Counters a phase bumps per record; cheap, no I/O.

    The rate is an exponentially weighted average over samples taken when
    progress is flushed, so a stall shows up within a few flushes.
    """

    total_keys: int | None = None
    records: int = 0
    failed: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    rate: float | None = None
    _last_done: int = field(default=0, repr=False)
    _last_time: float = field(default_factory=time.monotonic, repr=False)

    @property
    def done(self) -> int:
        return self.records + self.failed

    def set_total(self, total: int | None) -> None:
        self.total_keys = total

    def add(self, records: int = 0, failed: int = 0) -> None:
        self.records += records
        self.failed += failed

    def add_failure(self, code: str | None) -> None:
        """One failed record, counted by its error code (`UNKNOWN` without one)."""
        self.failed += 1
        key = code or UNKNOWN
        self.failures_by_code[key] = self.failures_by_code.get(key, 0) + 1

    def sample(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        elapsed = now - self._last_time
        if elapsed <= 0:
            return
        instant = (self.done - self._last_done) / elapsed
        self.rate = instant if self.rate is None else 0.5 * self.rate + 0.5 * instant
        self._last_done = self.done
        self._last_time = now

    @property
    def eta_seconds(self) -> float | None:
        if self.total_keys is None or not self.rate:
            return None
        return max(self.total_keys - self.done, 0) / self.rate
