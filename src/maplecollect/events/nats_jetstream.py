"""NATS JetStream sink: one acknowledged publish per event, deduplicated by the server."""

from __future__ import annotations

from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from maplecollect.state.outbox import StoredEvent

TOPIC_ROOT = "external-api"


class NatsJetStreamSink:
    """Subjects `<prefix><topic>`, captured by stream `stream` (created if missing).

    `Nats-Msg-Id: <eventId>` lets JetStream drop re-deliveries inside its duplicate window.
    """

    name = "nats-jetstream"
    max_batch = 1000

    def __init__(self, url: str, *, stream: str = "EXTERNAL_API", prefix: str = "") -> None:
        self.url = url
        self.stream = stream
        self.prefix = prefix
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    def subject(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self.aclose()
        # Connect lazily: a broker that is down at start-up is retried by the relay.
        self._nc = await nats.connect(
            self.url, connect_timeout=5, max_reconnect_attempts=3, allow_reconnect=True
        )
        js = self._nc.jetstream(timeout=10)
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=[self.subject(f"{TOPIC_ROOT}.>")])
        self._js = js
        return js

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        js = await self._jetstream()
        for event in events:
            await js.publish(
                self.subject(event.topic),
                event.value_bytes(),
                stream=self.stream,
                headers={
                    "Nats-Msg-Id": event.event_id,
                    "Maplecollect-Key": event.key,
                    "Maplecollect-Seq": str(event.seq),
                },
            )

    async def aclose(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()
