"""`maplecollect relay`: relay the outbox to the configured brokers (docs/downstream.md)."""

from __future__ import annotations

# asyncio is imported in the functions that use it: `maplecollect --help` imports this
# module, and asyncio is a tenth of its start-up (docs/performance.md, "Start-up").
import signal
from typing import Annotated

import typer

from maplecollect.console.errors import CliError, usage_error
from maplecollect.console.render import console

_NONE = (
    "no relay is configured: set MAPLECOLLECT_EVENTS_REDIS_URL, MAPLECOLLECT_EVENTS_NATS_URL "
    "and/or MAPLECOLLECT_EVENTS_WEBHOOK_URL (+ _SECRET)"
)


async def _relay(once: bool) -> int:
    import asyncio

    from maplecollect.console.settings import load_settings
    from maplecollect.events.relay import Relay
    from maplecollect.events.service import start_relays
    from maplecollect.events.sinks import sinks_from_settings
    from maplecollect.state import migrations
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.repository import Repository

    settings = load_settings()
    sinks = sinks_from_settings(settings)
    if not sinks:
        raise usage_error(_NONE)
    url = settings.resolved_database_url
    await asyncio.to_thread(migrations.upgrade, url)
    repo = Repository(create_async_db_engine(url))
    try:
        if once:
            total = 0
            for sink in sinks:
                relay = Relay(sink, repo.events, batch_size=settings.events_batch_size)
                try:
                    total += await relay.drain()
                except Exception as exc:
                    raise CliError(
                        f"relay {sink.name} failed after seq {relay.cursor}: "
                        f"{type(exc).__name__} (nothing after it was acknowledged)"
                    ) from None
                finally:
                    await sink.aclose()
            return total
        running = start_relays(settings, repo, sinks)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, running.stop.set)
        await running.stop.wait()
        await running.close()
        return 0
    finally:
        await repo.dispose()


def relay(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is in the outbox now, then exit.")
    ] = False,
) -> None:
    """Relay outbox events to Redis Streams / NATS JetStream / a webhook until Ctrl-C."""
    import asyncio

    delivered = asyncio.run(_relay(once))
    if once:
        console(stderr=True).print(f"relayed {delivered} events", markup=False)
