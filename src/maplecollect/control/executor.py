"""What the loop and chain drivers need from whoever executes runs, and their bookkeeping.

The drivers decide which run to start next; executing it is the supervisor's. They
meet at the narrow `RunExecutor`, so neither side imports the other's internals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from maplecollect.config import Settings
from maplecollect.errors import SlotConflict
from maplecollect.ids import new_id
from maplecollect.phases import Phase
from maplecollect.state.models import ChainRow, LoopRow, RunRow, RunStatus
from maplecollect.state.repository import Repository

log = logging.getLogger(__name__)


class RunExecutor(Protocol):
    """Starts, follows and stops runs for the drivers (the Supervisor is one)."""

    # The owner id the drivers' loop and chain rows carry.
    owner: str

    # Shutting down with auto-resume: drivers leave their rows for the next owner.
    @property
    def releasing(self) -> bool: ...

    def now(self) -> datetime: ...

    # Take the run's phase slot (SlotConflict if held) and execute it.
    async def start_run(self, row: RunRow) -> RunRow: ...

    # Execute a run whose slot is already held (the daily chain's first run).
    def execute(self, run: RunRow) -> None: ...

    # The run's terminal status, wherever (and however often) it is executed.
    async def wait_run(self, run_id: str) -> RunStatus: ...

    # Stop the run; True once it ended within `within` seconds.
    async def stop_run(self, run_id: str, *, within: float) -> bool: ...


def run_row(
    phase: Phase,
    *,
    owner: str,
    now: datetime,
    upstream: RunRow | None,
    snapshot_date: str,
    airflow_run_id: str | None,
    chain_id: str | None = None,
    loop_id: str | None = None,
) -> RunRow:
    """A new RUNNING run of `phase` held by `owner` (not yet in the database); its
    counters take their column defaults when it is inserted."""
    return RunRow(
        run_id=new_id(phase.short, now),
        phase=phase.value,
        status=RunStatus.RUNNING.value,
        upstream_run_id=upstream.run_id if upstream else None,
        chain_id=chain_id,
        loop_id=loop_id,
        airflow_run_id=airflow_run_id,
        snapshot_date=snapshot_date,
        started_at=now,
        updated_at=now,
        heartbeat_at=now,
        owner=owner,
    )


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; True if it is set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def holder(exc: SlotConflict) -> str:
    """What holds the slot, for a driver's `lastError` / `errorMessage`."""
    if exc.run_id and exc.loop_id:
        return f"run {exc.run_id} of loop {exc.loop_id}"
    if exc.run_id:
        return f"run {exc.run_id}"
    return f"loop {exc.loop_id}" if exc.loop_id else "an unknown holder"


class Drivers:
    """The driver tasks of one kind (loops or chains) in this process, by row id."""

    kind = "driver"

    def __init__(self, executor: RunExecutor, repo: Repository, settings: Settings) -> None:
        self.executor = executor
        self.repo = repo
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}  # set: the driver re-checks its row now
        self._lost: set[str] = set()

    @property
    def ids(self) -> list[str]:
        """The rows driven here: the heartbeat renews their ownership."""
        return list(self._tasks)

    def _run_row(self, phase: Phase, upstream: RunRow | None, of: ChainRow | LoopRow) -> RunRow:
        """A new run of `phase` for the driven row `of`: its date, Airflow run and id."""
        ids = {"chain_id": of.chain_id} if isinstance(of, ChainRow) else {"loop_id": of.loop_id}
        return run_row(
            phase,
            owner=self.executor.owner,
            now=self.executor.now(),
            upstream=upstream,
            snapshot_date=of.snapshot_date,
            airflow_run_id=of.airflow_run_id,
            **ids,
        )

    def _spawn(self, row_id: str, driver: Coroutine[Any, Any, None]) -> None:
        self._wakeups[row_id] = asyncio.Event()
        task = asyncio.create_task(driver, name=f"{self.kind}-{row_id}")
        self._tasks[row_id] = task
        task.add_done_callback(lambda _t: self._forget(row_id))

    def _forget(self, row_id: str) -> None:
        self._tasks.pop(row_id, None)
        self._wakeups.pop(row_id, None)

    def wake(self, row_id: str) -> None:
        if (wakeup := self._wakeups.get(row_id)) is not None:
            wakeup.set()

    def wake_all(self) -> None:
        for wakeup in self._wakeups.values():
            wakeup.set()

    def owns(self, row_id: str) -> bool:
        """False once another process adopted the row, or while this one releases it."""
        return row_id not in self._lost and not self.executor.releasing

    def lose(self, row_id: str) -> None:
        """Another process adopted the row: its driver here ends silently."""
        task = self._tasks.get(row_id)
        if task is None:
            return
        log.error("%s %s: adopted by another process; its driver here stops", self.kind, row_id)
        self._lost.add(row_id)
        task.cancel()

    def cancel_all(self) -> list[asyncio.Task[None]]:
        """Cancel every driver (shutdown); returns their tasks to wait for."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        return tasks
