"""Redis Streams sink: one XADD per event to the stream named after its topic."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from maplecollect.state.outbox import StoredEvent


class RedisStreamsSink:
    """Streams `<prefix><topic>`; entry ids are Redis' own, consumers dedupe on `eventId`."""

    name = "redis-streams"
    max_batch = 1000

    def __init__(self, url: str, *, prefix: str = "") -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.prefix = prefix

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        # One round trip per batch; execute() raises if any XADD failed.
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    f"{self.prefix}{event.topic}",
                    {
                        "eventId": event.event_id,
                        "eventType": event.event_type,
                        "key": event.key,
                        "seq": str(event.seq),
                        "value": event.value_bytes(),
                    },
                )
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()
