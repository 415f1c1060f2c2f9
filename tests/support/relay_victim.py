"""Relay the outbox to Redis in batches of 3 and SIGKILL itself after the broker took
batch KILL_BATCH but before the cursor was acknowledged.

    python relay_victim.py DATABASE_URL REDIS_URL PREFIX KILL_BATCH
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from maplecollect.events.redis_streams import RedisStreamsSink
from maplecollect.events.relay import Relay
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.outbox import StoredEvent
from maplecollect.state.repository import Repository


class DyingSink(RedisStreamsSink):
    def __init__(self, url: str, prefix: str, kill_batch: int) -> None:
        super().__init__(url, prefix=prefix)
        self.batches = 0
        self.kill_batch = kill_batch

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        await super().publish(events)
        self.batches += 1
        if self.batches == self.kill_batch:
            os.kill(os.getpid(), signal.SIGKILL)


async def main(db_url: str, redis_url: str, prefix: str, kill_batch: int) -> None:
    repo = Repository(create_async_db_engine(db_url))
    relay = Relay(DyingSink(redis_url, prefix, kill_batch), repo.events, batch_size=3)
    await relay.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
