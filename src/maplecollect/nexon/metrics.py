"""Prometheus metrics of the Nexon client (names and units per Prometheus conventions).

The `key` label is the configured key *name* (MAPLECOLLECT_NEXON_KEY_NAME,
default "default"), never the key nor anything derived from it: a hash prefix
would let anyone who can read /metrics confirm a guessed key.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "maplecollect_nexon_requests",
    "HTTP requests sent to the Nexon Open API, by endpoint and outcome",
    ["key", "endpoint", "outcome"],
)
RETRIES = Counter(
    "maplecollect_nexon_retries",
    "Requests sent again after a retriable failure",
    ["key", "endpoint"],
)
RATE_LIMITED = Counter(
    "maplecollect_nexon_rate_limited", "Answers 429 / OPENAPI00007 (rate limit exceeded)", ["key"]
)
IN_FLIGHT = Gauge("maplecollect_nexon_in_flight", "Requests currently in flight", ["key"])
PAUSED = Gauge(
    "maplecollect_nexon_paused", "Clients paused by OPENAPI00009/00010/00011 right now", ["key"]
)
EFFECTIVE_RATE = Gauge(
    "maplecollect_nexon_limiter_requests_per_second",
    "Requests/s the shared limiter allows now (lower after 429s)",
    ["key"],
)
# Status classes keep the label set small: 2xx 3xx 4xx 5xx, or "error" (no response).
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
LATENCY = Histogram(
    "maplecollect_nexon_request_duration_seconds",
    "Time of one HTTP exchange with the Nexon Open API, by endpoint and status class",
    ["endpoint", "status_class"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
QUOTA_USED = Gauge(
    "maplecollect_nexon_quota_used_requests",
    "Requests sent today (KST day) with this key by this process",
    ["key"],
)
QUOTA_LIMIT = Gauge(
    "maplecollect_nexon_quota_limit_requests", "Configured daily quota (requests)", ["key"]
)


def status_class(status: int) -> str:
    """`2xx`..`5xx` for an HTTP status, `error` for no response (status 0)."""
    return f"{status // 100}xx" if 200 <= status < 600 else "error"


def latency_children(endpoint: str) -> tuple[Any, ...]:
    """The histogram's children of one endpoint, indexed by `min(status // 100, 6)`.

    A tuple index instead of a label lookup per request keeps the hot path at one
    observe (~1-2 µs); 0, 1 and 6 (no response, 1xx, nonsense) are `error`.
    """
    by_class = {cls: LATENCY.labels(endpoint, cls) for cls in STATUS_CLASSES}
    return tuple(by_class[status_class(hundreds * 100)] for hundreds in range(7))
