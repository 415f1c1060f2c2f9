"""Per-key rate limit of the simulated API: a sliding window over arrival times."""

from __future__ import annotations

from collections import defaultdict, deque

WINDOW_SECONDS = 1.0


class SlidingWindowLimiter:
    """Admit at most `rate` requests per key in any trailing 1.0 s (monotonic) window.

    429s are not counted, so a client above the limit still gets `rate` requests/s through.
    """

    def __init__(self) -> None:
        self._admitted: defaultdict[str, deque[float]] = defaultdict(deque)

    def admit(self, key: str, rate: float | None, now: float) -> bool:
        if rate is None:
            return True
        window = self._admitted[key]
        cutoff = now - WINDOW_SECONDS
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) + 1 > rate:
            return False
        window.append(now)
        return True

    def reset(self) -> None:
        self._admitted.clear()
