"""The loop driver: re-run a loopable phase back to back (docs/control-api.md "Loops").

Each iteration is a new run fed by the newest COMPLETED upstream run. A missing
upstream or a busy slot makes the loop wait; the daily chain has priority
(WAITING_FOR_CHAIN, and an iteration it stopped is no failure). An adopted loop
first waits for its iteration left in flight (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging

from maplecollect.control.executor import Drivers, holder, wait_event
from maplecollect.errors import SlotConflict
from maplecollect.ids import new_id
from maplecollect.phases import Phase
from maplecollect.state.models import LoopRow, LoopStatus, RunStatus
from maplecollect.state.repository import UNSET

log = logging.getLogger(__name__)


class Loops(Drivers):
    """The loop drivers of this process; each runs `_drive` for one loop row."""

    kind = "loop"

    async def start(
        self,
        phase: Phase,
        *,
        snapshot_date: str,
        interval_seconds: float,
        airflow_run_id: str | None,
    ) -> LoopRow:
        """Take the phase for a new loop (SlotConflict if held) and drive it."""
        now = self.executor.now()
        row = LoopRow(
            loop_id=new_id(f"loop-{phase.short}", now),
            phase=phase.value,
            status=LoopStatus.RUNNING.value,
            snapshot_date=snapshot_date,
            interval_seconds=interval_seconds,
            airflow_run_id=airflow_run_id,
            owner=self.executor.owner,
            heartbeat_at=now,
            started_at=now,
            updated_at=now,
        )
        loop = await self.repo.create_loop(row)
        self.drive(loop)
        return loop

    def drive(self, loop: LoopRow) -> None:
        """Drive `loop` from this process (a new loop, or one adopted from a dead owner)."""
        self._spawn(loop.loop_id, self._drive(loop))

    async def pull_stops(self) -> None:
        """Loop stops requested through another replica reach this process here."""
        for loop_id, wakeup in list(self._wakeups.items()):
            if await self.repo.loop_stop_requested(loop_id):
                wakeup.set()

    async def _stopping(self, loop_id: str, wakeup: asyncio.Event) -> bool:
        wakeup.clear()
        return await self.repo.loop_stop_requested(loop_id)

    async def _wait(self, loop_id: str, note: str | None) -> None:
        """Wait a little for the upstream or the slot; `note` (if any) becomes `lastError`."""
        if note is not None:
            await self.repo.update_loop(loop_id, now=self.executor.now(), last_error=note)
        await wait_event(self._wakeups[loop_id], self.settings.loop_upstream_wait_seconds)

    async def _drive(self, loop: LoopRow) -> None:
        loop_id = loop.loop_id
        ex, repo, settings = self.executor, self.repo, self.settings
        phase = Phase(loop.phase)
        upstream_phase = phase.upstream
        assert upstream_phase is not None
        wakeup = self._wakeups[loop_id]
        iterations = loop.iteration_count
        failures = loop.consecutive_failures
        final_error: str | None = None
        waiting = LoopStatus(loop.status) is LoopStatus.WAITING_FOR_CHAIN
        try:
            if loop.current_run_id is not None:  # adopted: an iteration left in flight
                left = loop.current_run_id
                left_status = await ex.wait_run(left)
                if left_status in (RunStatus.ABANDONED, RunStatus.INTERRUPTED):
                    return  # the service is shutting down
                if left_status is RunStatus.COMPLETED:
                    iterations += 1
                await repo.update_loop(
                    loop_id,
                    now=ex.now(),
                    iteration_count=iterations,
                    current_run_id=None,
                    last_run_id=left,
                )
            while not await self._stopping(loop_id, wakeup):
                upstream = await repo.newest_completed(upstream_phase)
                if upstream is None:
                    await self._wait(
                        loop_id, f"waiting: no COMPLETED {upstream_phase.value} run yet"
                    )
                    continue
                try:
                    run_id = (await ex.start_run(self._run_row(phase, upstream, loop))).run_id
                except SlotConflict as exc:
                    if exc.chain_id is not None:
                        reason = (
                            f"waiting: the daily chain {exc.chain_id} has {phase.value} first; "
                            "this loop goes on after it"
                        )
                        waiting = (
                            await repo.set_loop_waiting_for_chain(
                                loop_id, True, now=ex.now(), reason=reason
                            )
                            or waiting
                        )
                        await self._wait(loop_id, None)
                    else:
                        await self._wait(
                            loop_id, f"waiting: {phase.value} is held by {holder(exc)}"
                        )
                    continue
                if waiting:  # the chain is done with the phase: RUNNING again (a stop wins)
                    await repo.set_loop_waiting_for_chain(loop_id, False, now=ex.now(), reason=None)
                    waiting = False
                await repo.update_loop(loop_id, now=ex.now(), current_run_id=run_id)
                status = await ex.wait_run(run_id)
                run = await repo.get_run(run_id)
                error = run.error_message if run else None
                if status in (RunStatus.ABANDONED, RunStatus.INTERRUPTED):
                    return  # the service is shutting down; close() ends (or leaves) the loop row
                if status is RunStatus.STOPPED:
                    await repo.update_loop(
                        loop_id, now=ex.now(), current_run_id=None, last_run_id=run_id
                    )
                    if await repo.loop_stop_requested(loop_id):
                        break
                    # Not our stop (stop routes flag the loop first): the daily chain
                    # took the phase. Not a failure, not counted; wait for the chain.
                    log.info(
                        "loop %s: iteration %s yielded %s to the daily chain",
                        loop_id,
                        run_id,
                        phase,
                    )
                    continue
                iterations += 1
                failures = 0 if status is RunStatus.COMPLETED else failures + 1
                await repo.update_loop(
                    loop_id,
                    now=ex.now(),
                    iteration_count=iterations,
                    consecutive_failures=failures,
                    current_run_id=None,
                    last_run_id=run_id,
                    last_error=None if status is RunStatus.COMPLETED else error,
                )
                if status is RunStatus.COMPLETED:
                    await wait_event(wakeup, loop.interval_seconds)
                    continue
                if failures >= settings.loop_max_consecutive_failures:
                    final_error = (
                        f"stopped after {failures} consecutive failed iterations; last: {error}"
                    )
                    log.error("loop %s: %s", loop_id, final_error)
                    break
                backoff = settings.loop_failure_backoff_seconds * 2 ** (failures - 1)
                await wait_event(wakeup, max(backoff, loop.interval_seconds))
        except asyncio.CancelledError:
            if self.owns(loop_id):
                await self._end(loop_id, "the service stopped; loop ended")
            raise  # adopted elsewhere, or left for the next owner (auto-resume)
        except Exception as exc:
            log.exception("loop %s crashed", loop_id)
            final_error = f"internal error: {type(exc).__name__}: {exc}"
        if self.owns(loop_id):
            await self._end(loop_id, final_error)

    async def _end(self, loop_id: str, error: str | None) -> None:
        now = self.executor.now()
        await self.repo.update_loop(
            loop_id,
            now=now,
            status=LoopStatus.STOPPED,
            stopped_at=now,
            current_run_id=None,
            stop_requested=False,
            last_error=UNSET if error is None else error,
        )
