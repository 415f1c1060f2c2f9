"""The loop driver: re-run a loopable phase back to back (docs/control-api.md).

Each iteration is a new run carrying the loop's id, fed by the newest
COMPLETED upstream run read at the start of that iteration. A missing upstream
or a busy slot makes the loop wait, not die; failed iterations back off; N
consecutive failures stop the loop with `lastError`.

The daily chain has priority (docs/control-api.md "The daily chain has
priority"): while a running chain has the loop's phase still to do, the loop
is WAITING_FOR_CHAIN and starts no iteration; an iteration the chain stopped to
take the phase is not a failure and does not end the loop.

Iterations are followed through the database, so an INTERRUPTED iteration
(resumed automatically) is waited for. With auto-resume, a loop whose process
went away stays active and is adopted by the replica that sweeps it, which runs
this driver again: it first waits for the iteration left in flight
(`currentRunId`), then goes on (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from maplecollect.errors import SlotConflict
from maplecollect.phases import Phase
from maplecollect.state.models import LoopRow, LoopStatus, RunStatus

if TYPE_CHECKING:
    from maplecollect.control.supervisor import Supervisor

log = logging.getLogger(__name__)


async def _sleep_or_wake(wakeup: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wakeup.wait(), timeout=seconds)


async def run_loop(sup: Supervisor, loop: LoopRow) -> None:
    loop_id = loop.loop_id
    phase = Phase(loop.phase)
    upstream_phase = phase.upstream
    assert upstream_phase is not None
    wakeup = sup.loop_wakeup(loop_id)
    settings = sup.settings
    iterations = loop.iteration_count
    failures = loop.consecutive_failures
    final_error: str | None = None
    waiting = LoopStatus(loop.status) is LoopStatus.WAITING_FOR_CHAIN
    try:
        if loop.current_run_id is not None:  # adopted: an iteration left in flight
            left = loop.current_run_id
            left_status = await sup.wait_run(left)
            if left_status in (RunStatus.ABANDONED, RunStatus.INTERRUPTED):
                return  # the service is shutting down
            if left_status is RunStatus.COMPLETED:
                iterations += 1
            await sup.repo.update_loop(
                loop_id,
                iteration_count=iterations,
                current_run_id=None,
                last_run_id=left,
                updated_at=sup.clock(),
            )
        while not await _stopping(sup, loop_id, wakeup):
            upstream = await sup.repo.newest_completed(upstream_phase)
            if upstream is None:
                await sup.repo.update_loop(
                    loop_id,
                    last_error=f"waiting: no COMPLETED {upstream_phase.value} run yet",
                    updated_at=sup.clock(),
                )
                await _sleep_or_wake(wakeup, settings.loop_upstream_wait_seconds)
                continue
            try:
                handle = await sup.start_loop_iteration(loop, upstream)
            except SlotConflict as exc:
                if exc.chain_id is not None:
                    reason = (
                        f"waiting: the daily chain {exc.chain_id} has {phase.value} first; "
                        "this loop goes on after it"
                    )
                    waiting = (
                        await sup.repo.set_loop_waiting_for_chain(
                            loop_id, True, now=sup.clock(), reason=reason
                        )
                        or waiting
                    )
                else:
                    await sup.repo.update_loop(
                        loop_id,
                        last_error=f"waiting: {phase.value} is held by {_holder(exc)}",
                        updated_at=sup.clock(),
                    )
                await _sleep_or_wake(wakeup, settings.loop_upstream_wait_seconds)
                continue
            if waiting:  # the chain is done with the phase: RUNNING again (a stop wins)
                await sup.repo.set_loop_waiting_for_chain(
                    loop_id, False, now=sup.clock(), reason=None
                )
                waiting = False
            run_id = handle.run.run_id
            await sup.repo.update_loop(loop_id, current_run_id=run_id, updated_at=sup.clock())
            status = await sup.wait_run(run_id)
            run = await sup.repo.get_run(run_id)
            error = run.error_message if run else None
            if status in (RunStatus.ABANDONED, RunStatus.INTERRUPTED):
                return  # the service is shutting down; close() ends (or leaves) the loop row
            if status is RunStatus.STOPPED:
                await sup.repo.update_loop(
                    loop_id, current_run_id=None, last_run_id=run_id, updated_at=sup.clock()
                )
                if await sup.repo.loop_stop_requested(loop_id):
                    break
                # Not our stop (stop routes flag the loop first): the daily chain
                # took the phase. Not a failure, not counted; wait for the chain.
                log.info(
                    "loop %s: iteration %s yielded %s to the daily chain", loop_id, run_id, phase
                )
                continue
            iterations += 1
            if status is RunStatus.COMPLETED:
                failures = 0
                await sup.repo.update_loop(
                    loop_id,
                    iteration_count=iterations,
                    consecutive_failures=0,
                    current_run_id=None,
                    last_run_id=run_id,
                    last_error=None,
                    updated_at=sup.clock(),
                )
                await _sleep_or_wake(wakeup, loop.interval_seconds)
                continue
            failures += 1
            await sup.repo.update_loop(
                loop_id,
                iteration_count=iterations,
                consecutive_failures=failures,
                current_run_id=None,
                last_run_id=run_id,
                last_error=error,
                updated_at=sup.clock(),
            )
            if failures >= settings.loop_max_consecutive_failures:
                final_error = (
                    f"stopped after {failures} consecutive failed iterations; last: {error}"
                )
                log.error("loop %s: %s", loop_id, final_error)
                break
            backoff = settings.loop_failure_backoff_seconds * 2 ** (failures - 1)
            await _sleep_or_wake(wakeup, max(backoff, loop.interval_seconds))
    except asyncio.CancelledError:
        if sup.owns_driver(loop_id):
            await _end_loop(sup, loop_id, "the service stopped; loop ended")
        else:  # adopted elsewhere, or left for the next owner (auto-resume)
            sup.forget_loop(loop_id)
        raise
    except Exception as exc:
        log.exception("loop %s crashed", loop_id)
        final_error = f"internal error: {type(exc).__name__}: {exc}"
    if sup.owns_driver(loop_id):
        await _end_loop(sup, loop_id, final_error)
    else:
        sup.forget_loop(loop_id)


def _holder(exc: SlotConflict) -> str:
    if exc.run_id is not None:
        return f"run {exc.run_id}"
    return f"loop {exc.loop_id}"


async def _stopping(sup: Supervisor, loop_id: str, wakeup: asyncio.Event) -> bool:
    wakeup.clear()
    return await sup.repo.loop_stop_requested(loop_id)


async def _end_loop(sup: Supervisor, loop_id: str, error: str | None) -> None:
    now = sup.clock()
    values: dict[str, object] = {
        "status": LoopStatus.STOPPED.value,
        "stopped_at": now,
        "updated_at": now,
        "current_run_id": None,
        "stop_requested": False,
    }
    if error is not None:
        values["last_error"] = error
    try:
        await sup.repo.update_loop(loop_id, **values)
    finally:
        sup.forget_loop(loop_id)
