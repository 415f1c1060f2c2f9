"""Nexon Open API client: pooled HTTP, a smooth limiter per key, classified retries.

See docs/nexon-client.md. Modules: classify (pure outcome table, failure codes),
retry (backoff policy), limiter / redis_limiter (rate limiting),
pause (the pause gate), breaker (a run's circuit breaker), quota (daily
accounting), bodies (cheap msgspec checks), client (NexonClient), metrics,
fields (the documented body fields, shared by the simulator and the exporter),
fingerprint.

The names below load on first use (PEP 562): the control plane imports the
small modules (breaker, classify) without paying for aiohttp and Redis, which
a service that only answers status calls never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maplecollect.nexon.bodies import is_empty_character
    from maplecollect.nexon.client import NexonClient, Timeouts
    from maplecollect.nexon.fingerprint import api_key_fingerprint
    from maplecollect.nexon.limiter import AdaptiveRate, GcraLimiter
    from maplecollect.nexon.pause import PausePolicy
    from maplecollect.nexon.redis_limiter import RedisGcraLimiter
    from maplecollect.nexon.retry import RetryPolicy

_WHERE = {
    "is_empty_character": "bodies",
    "NexonClient": "client",
    "Timeouts": "client",
    "api_key_fingerprint": "fingerprint",
    "AdaptiveRate": "limiter",
    "GcraLimiter": "limiter",
    "PausePolicy": "pause",
    "RedisGcraLimiter": "redis_limiter",
    "RetryPolicy": "retry",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AdaptiveRate",
    "GcraLimiter",
    "NexonClient",
    "PausePolicy",
    "RedisGcraLimiter",
    "RetryPolicy",
    "Timeouts",
    "api_key_fingerprint",
    "is_empty_character",
]
