"""One limiter per API key per process: every phase and loop shares it.

Per-phase buckets that each allowed the full rate added up past Nexon's
per-application quota in the first system; this registry makes that impossible
inside a process (and the Redis limiter across processes).
"""

from __future__ import annotations

import threading

from maplecollect.errors import ConfigError
from maplecollect.nexon.fingerprint import is_fingerprint
from maplecollect.nexon.limiter import GcraLimiter, RateLimiter
from maplecollect.nexon.redis_limiter import RedisGcraLimiter

_lock = threading.Lock()
_limiters: dict[str, tuple[RateLimiter, float, str | None]] = {}


def shared_limiter(
    api_key_fingerprint: str, rate: float, redis_url: str | None = None
) -> RateLimiter:
    """The process-wide limiter for this key: created on first use, then always the same one.

    Asking again with another rate or Redis URL is a ConfigError: two budgets
    for one key is exactly the bug this registry exists to prevent.
    """
    if not is_fingerprint(api_key_fingerprint):
        raise ConfigError("shared_limiter needs an API key fingerprint, not the key")
    with _lock:
        found = _limiters.get(api_key_fingerprint)
        if found is not None:
            limiter, old_rate, old_url = found
            if old_rate != rate or old_url != redis_url:
                raise ConfigError(
                    f"limiter for key {api_key_fingerprint} already exists with rate "
                    f"{old_rate:g}/s ({'redis' if old_url else 'in-process'}); "
                    f"refusing a second budget at {rate:g}/s"
                )
            return limiter
        limiter = (
            RedisGcraLimiter.from_url(redis_url, api_key_fingerprint, rate)
            if redis_url
            else GcraLimiter(rate)
        )
        _limiters[api_key_fingerprint] = (limiter, rate, redis_url)
        return limiter


async def close_shared_limiters() -> None:
    """Close and forget every shared limiter (service shutdown, tests)."""
    with _lock:
        found = list(_limiters.values())
        _limiters.clear()
    for limiter, _, _ in found:
        await limiter.close()
