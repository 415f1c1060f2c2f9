import asyncio
import sys
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
    # A key of this test's own: parallel workers and other runs share the Redis db.
    raw_key = f"{FAKE_KEY}-{uuid.uuid4()}"
    fp = api_key_fingerprint(raw_key)
    limiter = RedisGcraLimiter(redis, fp, 100)
    assert isinstance(limiter, RateLimiter)
    await limiter.acquire()
    await limiter.acquire()
    assert all(fp in k for k in limiter.redis_keys)
    assert await redis.exists(*limiter.redis_keys) == 2
    keys = [k async for k in redis.scan_iter(match="maplecollect:ratelimit:*")]
    assert keys and not any(raw_key.encode() in k or FAKE_KEY.encode() in k for k in keys)
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
    # Long enough for several full windows; the cap is checked on every one of them.
    rate, seconds = 50, 4.5
    fp = fresh_fingerprint()
    args = [redis_url, fp, str(rate), str(seconds), "20"]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    # A barrier instead of a wall-clock start: both children are connected first.
    for child in children:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"ready\n"
    outputs = await asyncio.wait_for(
        asyncio.gather(*(c.communicate(b"go\n") for c in children)), 120
    )
    assert [c.returncode for c in children] == [0, 0]
    per_process = [orjson.loads(out) for out, _ in outputs]
    combined = sorted(t for times in per_process for t in times)
    # The safety property holds however busy the machine is: one budget, never
    # two (two separate buckets would allow 2x the rate in a window). How close
    # to the rate they get is a throughput figure, measured in bench/.
    assert max_in_any_window(combined) <= rate
    assert all(len(times) > 1 for times in per_process)
    assert len(combined) > rate
    await redis.delete(*RedisGcraLimiter(redis, fp, rate).redis_keys)
