import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from maplecollect.errors import ConfigError, RunFatalError
from maplecollect.nexon.fingerprint import api_key_fingerprint
from maplecollect.nexon.limiter import RateLimiter
from maplecollect.nexon.redis_limiter import RedisGcraLimiter

from .conftest import FAKE_KEY
from .test_limiter import max_in_any_window

pytestmark = pytest.mark.redis
WORKER = Path(__file__).with_name("redis_worker.py")


def fresh_fingerprint() -> str:
    return api_key_fingerprint(f"{FAKE_KEY}-{uuid.uuid4()}")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def drop(redis: Redis, limiter: RedisGcraLimiter) -> None:
    await redis.delete(*limiter.redis_keys)


async def test_redis_keys_come_from_the_fingerprint_never_the_key(redis: Redis) -> None:
    fp = api_key_fingerprint(FAKE_KEY)
    limiter = RedisGcraLimiter(redis, fp, 100)
    assert isinstance(limiter, RateLimiter)
    await limiter.acquire()
    await limiter.acquire()
    assert all(fp in k for k in limiter.redis_keys)
    assert await redis.exists(*limiter.redis_keys) == 2
    keys = [k async for k in redis.scan_iter(match="maplecollect:ratelimit:*")]
    assert keys and not any(FAKE_KEY.encode() in k for k in keys)
    assert 0 < await redis.pttl(limiter.redis_keys[0]) <= 3000  # idle state expires
    await limiter.close()
    await drop(redis, limiter)


def test_a_raw_key_is_refused_as_limiter_key() -> None:
    with pytest.raises(ConfigError):
        RedisGcraLimiter(Redis(), FAKE_KEY, 10)


async def test_waiters_are_served_in_order(redis: Redis) -> None:
    limiter = RedisGcraLimiter(redis, fresh_fingerprint(), 100)
    order: list[int] = []

    async def worker(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    await asyncio.gather(*(worker(i) for i in range(30)))
    assert order == list(range(30))
    await limiter.close()
    await drop(redis, limiter)


async def test_slow_down_lowers_the_effective_rate(redis: Redis) -> None:
    limiter = RedisGcraLimiter(redis, fresh_fingerprint(), 100)
    limiter.slow_down()
    assert limiter.effective_rate == pytest.approx(80.0)
    await limiter.close()


async def test_unreachable_redis_fails_the_waiters_with_run_fatal() -> None:
    limiter = RedisGcraLimiter.from_url("redis://127.0.0.1:1/0", fresh_fingerprint(), 10)
    with pytest.raises(RunFatalError, match="shared rate limiter unavailable"):
        await limiter.acquire()
    await limiter.close()


@pytest.mark.slow
async def test_two_processes_share_one_budget(redis_url: str, redis: Redis) -> None:
    rate, seconds = 50, 10.5
    fp = fresh_fingerprint()
    start_at = time.monotonic() + 2.0  # both children are normally up by then
    args = [redis_url, fp, str(rate), str(seconds), str(start_at), "20"]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), *args, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(c.communicate() for c in children)), 60)
    assert [c.returncode for c in children] == [0, 0]
    per_process = [orjson.loads(out) for out, _ in outputs]
    combined = sorted(t for times in per_process for t in times)
    assert max_in_any_window(combined) <= rate
    # While both ran (a child may start late on a busy machine), together they used
    # the whole budget, not half of it, and each got a fair part of it.
    start, end = max(t[0] for t in per_process), min(t[-1] for t in per_process)
    both = [t for t in combined if start <= t <= end]
    assert end - start >= 5.0
    assert len(both) >= 0.9 * rate * (end - start)
    assert all(sum(start <= t <= end for t in times) >= 0.3 * len(both) for times in per_process)
    await redis.delete(*RedisGcraLimiter(redis, fp, rate).redis_keys)
