"""Request counters for `/_sim/stats`: per path and status, and the peak rate per key."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from maplecollect.sim.ratelimit import WINDOW_SECONDS


class Stats:
    """Counts every request to a Nexon path; `maxPerSecond` counts every arrival per key
    (429s included) in the busiest trailing 1 s window, on the monotonic clock."""

    def __init__(self) -> None:
        self._requests: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self._arrivals: defaultdict[str, deque[float]] = defaultdict(deque)
        self._max_per_second: dict[str, int] = {}

    def arrival(self, key: str, now: float) -> None:
        window = self._arrivals[key]
        window.append(now)
        cutoff = now - WINDOW_SECONDS
        while window[0] <= cutoff:
            window.popleft()
        if len(window) > self._max_per_second.get(key, 0):
            self._max_per_second[key] = len(window)

    def record(self, path: str, status: str) -> None:
        """`status` is the HTTP status as text, or "reset" / "cancelled" without a response."""
        self._requests[path][status] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {path: dict(by_status) for path, by_status in self._requests.items()},
            "maxPerSecond": dict(self._max_per_second),
            "total": sum(sum(by_status.values()) for by_status in self._requests.values()),
        }

    def reset(self) -> None:
        self._requests.clear()
        self._arrivals.clear()
        self._max_per_second.clear()
