"""The sinks the settings ask for (MAPLECOLLECT_EVENTS_*), built once per relay process."""

from __future__ import annotations

from maplecollect.config import Settings
from maplecollect.events.relay import Sink


def sinks_from_settings(settings: Settings) -> list[Sink]:
    """Redis Streams, NATS JetStream and/or webhook sinks; none when nothing is configured."""
    prefix = settings.events_topic_prefix or ""
    sinks: list[Sink] = []
    if settings.events_redis_url:
        from maplecollect.events.redis_streams import RedisStreamsSink

        sinks.append(RedisStreamsSink(settings.events_redis_url, prefix=prefix))
    if settings.events_nats_url:
        from maplecollect.events.nats_jetstream import NatsJetStreamSink

        sinks.append(
            NatsJetStreamSink(
                settings.events_nats_url, stream=settings.events_nats_stream, prefix=prefix
            )
        )
    if settings.events_webhook_url and settings.events_webhook_secret:
        from maplecollect.events.webhook import WebhookSink

        sinks.append(
            WebhookSink(
                settings.events_webhook_url, settings.events_webhook_secret.get_secret_value()
            )
        )
    return sinks
