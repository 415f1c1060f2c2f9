"""Long-lived things shared by every run in a process: the Nexon client and the store."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from maplecollect.config import Settings
from maplecollect.errors import ConfigError

if TYPE_CHECKING:
    from maplecollect.artifacts.store import Store
    from maplecollect.nexon.client import NexonClient
    from maplecollect.nexon.limiter import RateLimiter
    from maplecollect.nexon.pause import PauseState
    from maplecollect.nexon.quota import DailyQuota


class Services:
    """Built lazily: a service that only answers status calls never opens HTTP pools.

    Every run using this Services shares one rate limiter and daily quota per API key
    (docs/nexon-client.md); nothing is process-wide, `close()` closes only these.
    """

    def __init__(self, settings: Settings, *, client: NexonClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._owns_client = client is None
        self._store: Store | None = None
        self._lock = asyncio.Lock()
        self._budgets: dict[str, tuple[RateLimiter, DailyQuota]] = {}

    def budget(self, api_key: str) -> tuple[RateLimiter, DailyQuota]:
        """This service's one limiter and quota for `api_key`, made on first use."""
        from maplecollect.nexon.client import limiter_from_settings
        from maplecollect.nexon.fingerprint import api_key_fingerprint
        from maplecollect.nexon.quota import DailyQuota

        s, fingerprint = self.settings, api_key_fingerprint(api_key)  # never keep the key
        if fingerprint not in self._budgets:
            quota = DailyQuota(s.nexon_key_name, s.daily_quota)
            self._budgets[fingerprint] = (limiter_from_settings(s, api_key), quota)
        return self._budgets[fingerprint]

    async def nexon(self) -> NexonClient:
        async with self._lock:
            if self._client is None:
                from maplecollect.nexon.client import NexonClient

                api_key = self.settings.api_key_value()
                if not api_key:
                    raise ConfigError("NEXON_API_KEY is not set")
                limiter, quota = self.budget(api_key)
                client = NexonClient.from_settings(self.settings, limiter=limiter, quota=quota)
                await client.__aenter__()
                self._client = client
            return self._client

    def nexon_pause(self) -> PauseState | None:
        """The Nexon client's current pause (it holds every run of this process back)."""
        client = self._client
        return client.pause_state if client is not None else None

    def store(self) -> Store:
        if self._store is None:
            from maplecollect.artifacts.store import open_store

            self._store = open_store(self.settings.resolved_store_url)
        return self._store

    async def close(self) -> None:
        """Close the client this made and its own limiters (bound to this event loop)."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.close()
        budgets = list(self._budgets.values())
        self._budgets.clear()
        for limiter, _quota in budgets:
            await limiter.close()
