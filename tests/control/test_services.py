"""Limiters belong to the Services that made them (docs/nexon-client.md "One limiter per API key")."""

from __future__ import annotations

from pathlib import Path

import pytest

from maplecollect.config import Settings
from maplecollect.control.services import Services
from maplecollect.errors import ClosedError, ConfigError
from maplecollect.nexon.redis_limiter import RedisGcraLimiter

KEY = "test-key-for-services"


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "nexon_api_key": KEY,
        # Never contacted: building a client opens no connection.
        "nexon_base_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.usefixtures("clean_env")
async def test_one_budget_per_key_within_one_services(tmp_path: Path) -> None:
    services = Services(_settings(tmp_path, rate_limit=100))
    client = await services.nexon()
    limiter, quota = services.budget(KEY)
    # Every phase and loop of the service gets this client, so this one budget.
    assert await services.nexon() is client
    assert client.limiter is limiter
    assert services.budget(KEY) == (limiter, quota)
    assert limiter.effective_rate == pytest.approx(100)
    await services.close()
    with pytest.raises(ClosedError):
        await limiter.acquire()


@pytest.mark.usefixtures("clean_env")
async def test_two_services_at_different_rates_coexist_and_close_independently(
    tmp_path: Path,
) -> None:
    slow = Services(_settings(tmp_path, rate_limit=100))
    fast = Services(_settings(tmp_path, rate_limit=250))
    slow_client, fast_client = await slow.nexon(), await fast.nexon()
    assert slow_client.limiter is not fast_client.limiter
    assert slow_client.limiter.effective_rate == pytest.approx(100)
    assert fast_client.limiter.effective_rate == pytest.approx(250)
    await slow.close()
    assert slow_client.closed
    with pytest.raises(ClosedError):
        await slow_client.limiter.acquire()
    # The other service's client and budget are untouched by that close.
    assert not fast_client.closed
    await fast_client.limiter.acquire()
    await fast.close()
    with pytest.raises(ClosedError):
        await fast_client.limiter.acquire()


@pytest.mark.usefixtures("clean_env")
async def test_redis_url_gives_a_redis_limiter_closed_with_its_services(
    tmp_path: Path, redis_url: str
) -> None:
    services = Services(_settings(tmp_path, rate_limit=100, redis_url=redis_url))
    limiter, _quota = services.budget(KEY)
    assert isinstance(limiter, RedisGcraLimiter)  # one budget across processes
    await services.close()
    with pytest.raises(ClosedError):
        await limiter.acquire()


@pytest.mark.usefixtures("clean_env")
async def test_without_a_key_no_budget_is_made(tmp_path: Path) -> None:
    services = Services(_settings(tmp_path, nexon_api_key=None))
    with pytest.raises(ConfigError, match="NEXON_API_KEY is not set"):
        await services.nexon()
    await services.close()
