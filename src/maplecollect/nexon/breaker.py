"""The circuit breaker of one run: stop hammering an API that does not answer.

Retries heal single failures; they make an outage worse (every key retries
on its own, for minutes). The breaker watches every attempt of one run: a
*fault* is an attempt without a usable answer that is not a fact about the
data (no response, timeout, 5xx, OPENAPI00001, a bad body). It trips when

  * `consecutive` attempts in a row were faults, or
  * more than `max_ratio` of the last `window` attempts were faults.

The first `pauses` trips shut the breaker's gate for `pause_seconds`,
doubling each time (the run's requests wait, then try again with fresh
counters); the next trip gives up: `reason` is set to a one-line message
naming the rule and the dominant error, and every request of the run raises
`CircuitOpen` (the run ends FAILED). Rate-limit answers and pauses
(00007/00009/00010/00011) are neither faults nor healthy answers.

Answers to requests sent before a trip are ignored (`epoch`), so 200
requests that were in flight when the API went away count once, not into
the next round.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from maplecollect.nexon.pause import PauseGate, PauseHook

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a run's requests trip the breaker; see the module docstring."""

    consecutive: int = 20
    window: int = 100
    max_ratio: float = 0.5
    pauses: int = 3
    pause_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.consecutive < 1 or self.window < 1 or self.pauses < 0:
            raise ValueError("consecutive and window must be >= 1, pauses >= 0")
        if not 0 < self.max_ratio <= 1 or self.pause_seconds < 0:
            raise ValueError("max_ratio must be in (0, 1] and pause_seconds >= 0")


class CircuitBreaker:
    """Per run, on the event loop of the run; cheap enough to call on every attempt."""

    def __init__(self, policy: BreakerPolicy | None = None, on_pause: PauseHook | None = None):
        self.policy = policy or BreakerPolicy()
        self.gate = PauseGate(on_pause)
        self.epoch = 0
        self.trips = 0
        self.reason: str | None = None
        """Set once the breaker gave up; the run must fail with this message."""
        self.dominant: str | None = None
        """The most frequent fault code when it last tripped."""
        self._streak = 0
        self._recent: deque[str | None] = deque(maxlen=self.policy.window)
        self._faults = 0

    @property
    def open(self) -> bool:
        """True once the breaker gave up (every request of the run fails)."""
        return self.reason is not None

    def healthy(self, epoch: int) -> None:
        """An attempt sent in `epoch` got a usable answer (or a Nexon verdict about the key)."""
        if epoch == self.epoch and self.reason is None:
            self._streak = 0
            self._push(None)

    def fault(self, epoch: int, code: str, message: str) -> None:
        """An attempt sent in `epoch` got no usable answer; may trip the breaker."""
        if epoch != self.epoch or self.reason is not None or not self.gate.is_open:
            return
        self._streak += 1
        self._push(code)
        policy = self.policy
        if self._streak >= policy.consecutive:
            self._trip(f"{self._streak} consecutive failed requests", message)
        elif len(self._recent) == policy.window and self._faults > policy.max_ratio * policy.window:
            self._trip(f"{self._faults} of the last {policy.window} requests failed", message)

    def _push(self, code: str | None) -> None:
        recent = self._recent
        if len(recent) == recent.maxlen and recent[0] is not None:
            self._faults -= 1
        recent.append(code)
        if code is not None:
            self._faults += 1

    def _trip(self, rule: str, message: str) -> None:
        counts = Counter(code for code in self._recent if code is not None)
        self.dominant = counts.most_common(1)[0][0]
        by_code = ", ".join(f"{code} {n}" for code, n in counts.most_common())
        self.trips += 1
        self.epoch += 1
        self._streak = 0
        self._recent.clear()
        self._faults = 0
        policy = self.policy
        if self.trips > policy.pauses:
            waited = sum(policy.pause_seconds * 2**i for i in range(policy.pauses))
            self.reason = (
                f"CIRCUIT_BREAKER: {rule} ({by_code}), still failing after "
                f"{policy.pauses} pause(s) ({waited:g}s); last: {message}"
            )
            log.error("%s", self.reason)
            return
        seconds = policy.pause_seconds * 2 ** (self.trips - 1)
        reason = f"CIRCUIT_BREAKER {rule} ({by_code}); next try in {seconds:g}s"
        log.warning("%s; last: %s", reason, message)
        self.gate.close_for(seconds, reason)
