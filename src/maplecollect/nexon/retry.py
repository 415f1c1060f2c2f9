"""Bounded exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_attempts` sends and `max_seconds` of retrying per key.

    `delay(n)` after the n-th failed attempt is uniform in
    [0, min(max_delay, base_delay * 2**(n-1))] ("full jitter": concurrent
    retries spread out instead of hitting the API again in lockstep).
    """

    max_attempts: int = 6
    max_seconds: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_seconds <= 0:
            raise ValueError("max_attempts must be >= 1 and max_seconds > 0")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of `delay(attempt)` (no jitter)."""
        # Cap the exponent so huge attempt numbers cannot overflow.
        return min(self.max_delay, self.base_delay * 2.0 ** min(max(attempt, 1) - 1, 62))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based)."""
        return self.rand() * self.ceiling(attempt)

    def allows(self, attempts: int, elapsed: float, next_delay: float) -> bool:
        """True if one more attempt fits both bounds (count, and total time incl. the wait)."""
        return attempts < self.max_attempts and elapsed + next_delay <= self.max_seconds
