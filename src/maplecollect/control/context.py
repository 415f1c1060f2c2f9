"""What a phase runner gets from the supervisor, and what it must implement."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from maplecollect.config import Settings
from maplecollect.control.progress import Progress
from maplecollect.errors import LeaseLost
from maplecollect.nexon.breaker import CircuitBreaker
from maplecollect.phases import Phase
from maplecollect.state.models import ChunkRow, RunRow
from maplecollect.state.repository import Lease, Repository

if TYPE_CHECKING:
    from maplecollect.control.services import Services


@dataclass
class RunContext:
    """One run being executed.

    A runner checks `stop` between batches, then publishes what it has and returns;
    `chunks` are the parts an earlier attempt published (continue after them). Every
    write of the run is fenced by `lease`; `check_lease()` (before publishing a part)
    raises LeaseLost once it moved on (docs/reliability.md).
    """

    run: RunRow
    settings: Settings
    repo: Repository
    services: Services
    progress: Progress
    stop: asyncio.Event
    chunks: list[ChunkRow]
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    """The run's circuit breaker: pass it with every Nexon call of the run."""
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def lease(self) -> Lease:
        return Lease.of(self.run)

    async def check_lease(self, what: str = "publishing a part") -> None:
        if self.lost.is_set():
            raise LeaseLost(self.run.run_id, self.run.lease_epoch, what)
        await self.repo.check_lease(self.lease, what)

    @property
    def phase(self) -> Phase:
        return Phase(self.run.phase)

    @property
    def run_id(self) -> str:
        return self.run.run_id


class PhaseRunner(Protocol):
    """Collects one phase for one run.

    Returns normally when done or when `ctx.stop` is set (after publishing
    what it collected). Raises RunFatalError / StoreError / ConfigError for
    run-level faults; per-key failures are failed records, never exceptions.
    """

    async def run(self, ctx: RunContext) -> None: ...


class RunFinalizer(Protocol):
    """Writes the run's manifest for a final status; returns its path (or None)."""

    async def finalize(
        self, run: RunRow, status: str, *, repo: Repository, services: Services
    ) -> str | None: ...
