"""Relays: copy the outbox to a broker, at least once, from the last acknowledged seq.

The cursor moves only once the broker acknowledged the batch; a failing sink is retried
for ever, since skipping would lose events (docs/downstream.md, "Relays to brokers").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from maplecollect.metrics import RELAY_CURSOR, RELAY_FAILURES, RELAYED
from maplecollect.nexon.retry import RetryPolicy
from maplecollect.state.outbox import EventStore, StoredEvent

log = logging.getLogger(__name__)

# Only the delay part of RetryPolicy is used: a relay never gives up.
BACKOFF = RetryPolicy(max_attempts=1, max_seconds=1, base_delay=0.5, max_delay=30.0)


class Sink(Protocol):
    """A broker connection. `publish` returns only once the broker has every message."""

    name: str  # the cursor's name: one cursor per sink
    max_batch: int  # 1 where one failed message must not re-send the ones before it

    async def publish(self, events: Sequence[StoredEvent]) -> None: ...

    async def aclose(self) -> None: ...


class Relay:
    """`await Relay(sink, store).run(stop)` until `stop` is set; `drain()` for one pass."""

    def __init__(
        self,
        sink: Sink,
        store: EventStore,
        *,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        backoff: RetryPolicy = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sink = sink
        self.store = store
        self.batch_size = max(1, min(batch_size, sink.max_batch))
        self.poll_seconds = poll_seconds
        self.backoff = backoff
        self.clock = clock
        self.cursor: int | None = None

    async def step(self, wait_seconds: float) -> int:
        """Deliver one batch after the cursor and acknowledge it; returns its size.

        Raises whatever the sink or the database raised (nothing is acknowledged then).
        """
        if self.cursor is None:
            self.cursor = await self.store.cursor(self.sink.name)
        batch = await self.store.wait_after(self.cursor, self.batch_size, wait_seconds)
        if not batch:
            return 0
        await self.sink.publish(batch)
        last = batch[-1].seq
        await self.store.ack(self.sink.name, last, now=self.clock())
        self.cursor = last
        RELAYED.labels(self.sink.name).inc(len(batch))
        RELAY_CURSOR.labels(self.sink.name).set(last)
        return len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, retrying failures with back-off."""
        failures = 0
        while not stop.is_set():
            try:
                await self.step(self.poll_seconds)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                RELAY_FAILURES.labels(self.sink.name).inc()
                delay = self.backoff.delay(failures)
                # The type only: messages of broker clients can hold URLs with credentials.
                log.warning(
                    "relay %s: delivery after seq %s failed (%s, attempt %d); retrying in %.1f s",
                    self.sink.name,
                    self.cursor,
                    type(exc).__name__,
                    failures,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def drain(self) -> int:
        """Deliver everything committed so far, then return how many events went out."""
        total = 0
        while n := await self.step(0):
            total += n
        return total


async def run_relays(
    sinks: Sequence[Sink],
    store: EventStore,
    stop: asyncio.Event,
    *,
    batch_size: int = 100,
    poll_seconds: float = 1.0,
) -> None:
    """Run one relay per sink until `stop`; closes the sinks."""
    relays = [Relay(s, store, batch_size=batch_size, poll_seconds=poll_seconds) for s in sinks]
    try:
        await asyncio.gather(*(r.run(stop) for r in relays))
    finally:
        for sink in sinks:
            try:
                await sink.aclose()
            except Exception as exc:
                log.warning("closing relay %s failed: %s", sink.name, type(exc).__name__)
