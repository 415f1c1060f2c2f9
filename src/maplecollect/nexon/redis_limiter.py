"""The GCRA limiter with its state in Redis, so several processes/hosts share one key's budget.

One Lua script (atomic) applies the same two rules as `GcraLimiter` against
Redis' own clock (`TIME`), so hosts need no clock agreement: GCRA spacing via
a `tat` field, and a hard cap of floor(rate) grants per (1 s + guard) via a
sorted set of recent grant times. A process asks again only when the script
says a slot is free, through one pump task per process (FIFO locally). The
pump exists only while someone waits. Unlike in process, a slot is counted
when Redis grants it, so the guard is wider (a network hop and another
process' scheduling lie between the grant and the send).

Keys: `maplecollect:ratelimit:{<fingerprint>}:state|log` — derived from the
sha256 fingerprint of the API key, never the key. Both expire when idle.
The adaptive slow-down factor is per process: every process that sends while
the API answers 429 sees 429s itself and slows its own share.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # redis (~20 % of the collector's import time) loads only when used
    from redis.asyncio import Redis

from maplecollect.errors import ClosedError, ConfigError, RunFatalError
from maplecollect.nexon.fingerprint import is_fingerprint
from maplecollect.nexon.limiter import AdaptiveRate, LimiterBase, never_early, whole_ms_timers

log = logging.getLogger(__name__)

# KEYS: state hash, grant log zset. ARGV: interval_us, cap, window_us, ttl_ms, tolerance_us.
# Returns 0 when a slot was granted (and recorded), else the microseconds to wait.
# Numbers are written with %.0f: Lua's default tostring keeps only 14 digits.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local due = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now - window))
if redis.call('ZCARD', KEYS[2]) >= cap then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  due = math.max(due, tonumber(oldest[2]) + window)
end
if now < due then
  return math.max(1, math.ceil(due - now))
end
local base = now
if now - due <= tonumber(ARGV[5]) then
  base = due
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', base + interval))
redis.call('ZADD', KEYS[2], string.format('%.0f', now), seq)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 0
"""

# Wider than in process (20 ms): a grant is timed by Redis but the request leaves
# later, after a network hop and another process' scheduling (measured up to ~6 ms
# on a loaded 2-core machine). Costs 2.5 % of throughput.
REDIS_GUARD = 0.025
_REDIS_RETRIES = (0.05, 0.2, 0.5)  # short: a limiter that cannot reach Redis stalls every request


def _redis_error() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError


class RedisGcraLimiter(LimiterBase):
    """Same interface and guarantees as GcraLimiter, budget shared through Redis.

    `limiter_key` must be an API key fingerprint (`api_key_fingerprint`), so
    a raw key can never end up as a Redis key. If Redis stays unreachable the
    waiting acquirers get RunFatalError (the run cannot respect the quota).
    """

    def __init__(
        self,
        redis: Redis,
        limiter_key: str,
        rate: float,
        *,
        guard: float = REDIS_GUARD,
        adaptive: AdaptiveRate | None = None,
        owns_redis: bool = False,
    ) -> None:
        if not is_fingerprint(limiter_key):
            raise ConfigError("limiter_key must be an API key fingerprint (hex), not the key")
        super().__init__(rate, guard=guard, adaptive=adaptive)
        self._redis = redis
        self._owns_redis = owns_redis
        self.limiter_key = limiter_key
        prefix = f"maplecollect:ratelimit:{{{limiter_key}}}"
        self.redis_keys = (f"{prefix}:state", f"{prefix}:log")
        self._script = redis.register_script(_LUA)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._cap_arg = str(self.cap)
        self._window_us = str(round(self.window * 1e6))

    @classmethod
    def from_url(
        cls,
        url: str,
        limiter_key: str,
        rate: float,
        *,
        guard: float = REDIS_GUARD,
        adaptive: AdaptiveRate | None = None,
    ) -> RedisGcraLimiter:
        """A limiter owning its own Redis client (closed with the limiter)."""
        from redis.asyncio import Redis

        redis = Redis.from_url(url)
        return cls(redis, limiter_key, rate, guard=guard, adaptive=adaptive, owns_redis=True)

    def __repr__(self) -> str:
        return (
            f"RedisGcraLimiter(key={self.limiter_key}, rate={self.rate:g}, "
            f"effective_rate={self.effective_rate:g})"
        )

    async def acquire(self) -> None:
        self._check_open()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name="RedisGcraLimiter-pump")
        await fut

    async def close(self) -> None:
        await super().close()
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
        self._fail_waiters(ClosedError("RedisGcraLimiter is closed"))
        if self._owns_redis:
            await self._redis.aclose()

    async def _run(self) -> None:
        """The one poller of this process: asks Redis for a slot for the head waiter."""
        waiters = self._waiters
        try:
            while waiters:
                while waiters and waiters[0].done():  # cancelled while queued
                    waiters.popleft()
                if not waiters:
                    break
                wait = await self._poll()
                if wait > 0:
                    # An early wake-up would ask Redis again for nothing (never_early).
                    loop = asyncio.get_running_loop()
                    await asyncio.sleep(never_early(wait) if whole_ms_timers(loop) else wait)
                    continue
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # hand the failure to the callers, never lose it in a task
            self._fail_waiters(exc)
        finally:
            if self._pump is asyncio.current_task():
                self._pump = None

    def _fail_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    async def _poll(self) -> float:
        interval = self._interval()
        ttl_ms = str(math.ceil((self.window + interval) * 2000))
        tolerance = str(round(self._tolerance(interval) * 1e6))
        args = (str(round(interval * 1e6)), self._cap_arg, self._window_us, ttl_ms, tolerance)
        for delay in (*_REDIS_RETRIES, None):
            try:
                wait_us = await self._script(keys=self.redis_keys, args=args)
                return int(wait_us) / 1e6
            except _redis_error() as exc:
                if delay is None:
                    # Type name only: a Redis error text may name the server URL.
                    raise RunFatalError(
                        f"shared rate limiter unavailable (Redis: {type(exc).__name__})"
                    ) from exc
                log.warning("rate limiter: Redis error %s, retrying", type(exc).__name__)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
