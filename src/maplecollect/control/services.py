"""Long-lived things shared by every run in a process: the Nexon client and the store."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from maplecollect.config import Settings

if TYPE_CHECKING:
    from maplecollect.artifacts.store import Store
    from maplecollect.nexon.client import NexonClient
    from maplecollect.nexon.pause import PauseState


class Services:
    """Built lazily: a service that only answers status calls never opens HTTP pools.

    One NexonClient per process means one rate limiter per API key for every
    phase and loop (docs/nexon-client.md).
    """

    def __init__(self, settings: Settings, *, client: NexonClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._owns_client = client is None
        self._store: Store | None = None
        self._lock = asyncio.Lock()

    async def nexon(self) -> NexonClient:
        async with self._lock:
            if self._client is None:
                from maplecollect.nexon.client import NexonClient

                client = NexonClient.from_settings(self.settings)
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
        """Close the client and the process's shared limiters (they are bound to this loop)."""
        if self._client is not None and self._owns_client:
            from maplecollect.nexon.registry import close_shared_limiters

            client: Any = self._client
            await client.__aexit__(None, None, None)
            await close_shared_limiters()
        self._client = None
