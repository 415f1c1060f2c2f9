"""Prometheus metrics of the Nexon client. Labels carry the key fingerprint, never the key."""

from __future__ import annotations

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
    "maplecollect_nexon_limiter_effective_rate",
    "Requests/s the shared limiter allows now (lower after 429s)",
    ["key"],
)
LATENCY = Histogram(
    "maplecollect_nexon_request_seconds",
    "Time of one HTTP exchange with the Nexon Open API",
    ["endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
QUOTA_USED = Gauge(
    "maplecollect_nexon_quota_used_today",
    "Requests sent today (KST day) with this key by this process",
    ["key"],
)
QUOTA_LIMIT = Gauge("maplecollect_nexon_quota_daily_limit", "Configured daily quota", ["key"])
