import uuid

import pytest

from maplecollect.errors import ConfigError
from maplecollect.nexon.fingerprint import api_key_fingerprint
from maplecollect.nexon.limiter import GcraLimiter
from maplecollect.nexon.redis_limiter import RedisGcraLimiter
from maplecollect.nexon.registry import close_shared_limiters, shared_limiter

from .conftest import FAKE_KEY


def fp() -> str:
    return api_key_fingerprint(str(uuid.uuid4()))


async def test_one_limiter_per_key_for_the_whole_process() -> None:
    a, b = fp(), fp()
    first = shared_limiter(a, 500)
    assert shared_limiter(a, 500) is first  # every phase and loop gets the same budget
    assert isinstance(first, GcraLimiter)
    assert shared_limiter(b, 500) is not first
    await close_shared_limiters()
    assert shared_limiter(a, 500) is not first  # closed ones are forgotten
    await close_shared_limiters()


async def test_a_second_budget_for_one_key_is_refused() -> None:
    key = fp()
    shared_limiter(key, 500)
    with pytest.raises(ConfigError, match="refusing a second budget"):
        shared_limiter(key, 250)
    with pytest.raises(ConfigError):
        shared_limiter(key, 500, "redis://127.0.0.1:6379/15")
    await close_shared_limiters()


def test_the_registry_refuses_a_raw_api_key() -> None:
    with pytest.raises(ConfigError):
        shared_limiter(FAKE_KEY, 500)


async def test_redis_url_gives_a_redis_limiter() -> None:
    limiter = shared_limiter(fp(), 100, "redis://127.0.0.1:6379/15")
    assert isinstance(limiter, RedisGcraLimiter)
    await close_shared_limiters()
