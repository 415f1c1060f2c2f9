"""The relays of a long-running process (`serve`, `relay`): start them, stop them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from maplecollect.config import Settings
from maplecollect.events.relay import Sink, run_relays
from maplecollect.events.sinks import sinks_from_settings
from maplecollect.state.repository import Repository

log = logging.getLogger(__name__)


@dataclass
class RunningRelays:
    task: asyncio.Task[None] | None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self, within: float = 15.0) -> None:
        """Stop relaying: the batch in flight finishes (and is acknowledged) first."""
        self.stop.set()
        if self.task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=within)
        except TimeoutError:
            # Still publishing: stop it; that batch is re-delivered after the restart.
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        except Exception:
            log.exception("the event relays failed")


def start_relays(
    settings: Settings, repo: Repository, sinks: list[Sink] | None = None
) -> RunningRelays:
    """One task relaying the outbox to every configured sink; no task without sinks."""
    sinks = sinks_from_settings(settings) if sinks is None else sinks
    running = RunningRelays(task=None)
    if sinks:
        log.info("relaying events to %s", ", ".join(s.name for s in sinks))
        running.task = asyncio.create_task(
            run_relays(
                sinks,
                repo.events,
                running.stop,
                batch_size=settings.events_batch_size,
                poll_seconds=settings.events_poll_seconds,
            ),
            name="event-relays",
        )
    return running
