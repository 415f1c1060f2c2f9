"""The daily chain: RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT.

Each run carries the chain's id and is fed by the chain's own upstream run.
The chain stops at the first phase that does not complete.

The driver follows each step's run through the database, so an INTERRUPTED
run (resumed automatically, maybe by another replica) is waited for, not a
failure. With auto-resume, a chain whose process went away stays RUNNING and
is adopted by the replica that sweeps it: `adopt_chain` re-attaches a driver,
which picks up at the chain's newest run of each step (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from maplecollect.errors import SlotConflict
from maplecollect.ids import new_id
from maplecollect.phases import Phase
from maplecollect.state.models import ChainRow, ChainStatus, RunRow, RunStatus

if TYPE_CHECKING:
    from maplecollect.control.supervisor import RunHandle, Supervisor

log = logging.getLogger(__name__)


async def start_chain(
    sup: Supervisor, *, date: str | None, airflow_run_id: str | None
) -> tuple[str, RunRow]:
    """Take the chain and its RANKING_FETCH slot in one transaction (SlotConflict if not).

    Refused while another chain runs or a one-shot run holds any phase; loops
    do not refuse it, they yield (docs/control-api.md "The daily chain has priority").
    """
    snapshot = sup.snapshot_date(date, upstream=None, loop=False)
    now = sup.clock()
    chain = ChainRow(
        chain_id=new_id("daily", now),
        status=ChainStatus.RUNNING.value,
        snapshot_date=snapshot,
        airflow_run_id=airflow_run_id,
        owner=sup.owner,
        heartbeat_at=now,
        started_at=now,
        updated_at=now,
    )
    ranking = sup.new_run_row(
        Phase.RANKING_FETCH,
        upstream=None,
        snapshot_date=snapshot,
        airflow_run_id=airflow_run_id,
        chain_id=chain.chain_id,
    )
    await sup.repo.create_chain(chain, ranking)
    sup.spawn(ranking)
    adopt_chain(sup, chain)
    return chain.chain_id, ranking


def adopt_chain(sup: Supervisor, chain: ChainRow) -> None:
    """Drive `chain` from this process (a new chain, or one adopted from a dead owner)."""
    task = asyncio.create_task(_drive(sup, chain), name=f"chain-{chain.chain_id}")
    sup.spawn_chain_task(chain.chain_id, task)


async def _drive(sup: Supervisor, chain: ChainRow) -> None:
    chain_id = chain.chain_id
    status, error = ChainStatus.FAILED, None
    try:
        status, error = await _follow(sup, chain)
    except asyncio.CancelledError:
        if sup.owns_driver(chain_id):
            status, error = ChainStatus.FAILED, "the service stopped while the chain was running"
            await sup.repo.finish_chain(
                chain_id, status, now=sup.clock(), error_message=error, owner=sup.owner
            )
        raise
    except Exception as exc:
        log.exception("chain %s crashed", chain_id)
        status, error = ChainStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
    if not sup.owns_driver(chain_id):
        return  # adopted by another process, or left for the next owner
    await sup.repo.finish_chain(
        chain_id, status, now=sup.clock(), error_message=error, owner=sup.owner
    )
    sup.wake_loops()  # loops waiting for this chain go on now, not at their next poll
    log.info("chain %s ended %s", chain_id, status.value)


def _chain_outcome(phase: Phase, status: RunStatus, run: RunRow | None) -> tuple[ChainStatus, str]:
    reason = run.error_message if run and run.error_message else status.value
    chain_status = ChainStatus.STOPPED if status is RunStatus.STOPPED else ChainStatus.FAILED
    return (
        chain_status,
        f"{phase.value} run {run.run_id if run else '?'} ended {status.value}: {reason}",
    )


class YieldTimeout(SlotConflict):
    """The loop iteration in the chain's way did not end within the bound."""


def _holder(exc: SlotConflict) -> str:
    if isinstance(exc, YieldTimeout):
        return str(exc)
    if exc.run_id and exc.loop_id:
        return f"run {exc.run_id} of loop {exc.loop_id}"
    if exc.run_id:
        return f"run {exc.run_id}"
    return f"loop {exc.loop_id}" if exc.loop_id else "an unknown holder"


async def _start(sup: Supervisor, chain: ChainRow, phase: Phase, upstream: RunRow) -> RunHandle:
    """Take `phase` for the chain; a loop iteration in the way is stopped and waited for.

    The chain has priority over loops: the iteration ends STOPPED at its next
    batch boundary (published, with its manifest) and its loop waits
    (WAITING_FOR_CHAIN) until the chain's run of the phase has ended. Anything
    else in the way (a one-shot run: refused up front, so only a replica on an
    older version could start one) is a SlotConflict for the caller.
    """
    row = sup.new_run_row(
        phase,
        upstream=upstream,
        snapshot_date=chain.snapshot_date,
        airflow_run_id=chain.airflow_run_id,
        chain_id=chain.chain_id,
    )
    # Two attempts: after the iteration ended nothing but the chain can take the
    # slot (loops and one-shot runs yield to a running chain), so a second
    # conflict is a real one.
    for attempt in (1, 2):
        try:
            return sup.spawn(await sup.repo.create_run(row))
        except SlotConflict as exc:
            if attempt == 2 or exc.loop_id is None or exc.run_id is None:
                raise
            log.info("chain %s needs %s: stopping %s", chain.chain_id, phase.value, _holder(exc))
            within = sup.preempt_timeout_seconds
            if not await sup.stop_run(exc.run_id, within=within):
                raise YieldTimeout(
                    phase.value,
                    run_id=exc.run_id,
                    loop_id=exc.loop_id,
                    message=f"{_holder(exc)} did not stop within {within:g} s",
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


async def _step(sup: Supervisor, chain: ChainRow, phase: Phase, upstream: RunRow | None) -> str:
    """The chain's run of `phase`: the one it already has (adopted chain), else a new one."""
    mine = await sup.repo.list_runs(chain_id=chain.chain_id, phase=phase, limit=1)
    if mine:
        return mine[0].run_id
    assert upstream is not None, "a chain's RANKING_FETCH run is created with the chain"
    try:
        return (await _start(sup, chain, phase, upstream)).run.run_id
    except SlotConflict:
        # Another driver of this chain (one that has not yet learnt it lost it) was faster.
        mine = await sup.repo.list_runs(chain_id=chain.chain_id, phase=phase, limit=1)
        if mine:
            return mine[0].run_id
        raise


async def _leaf(sup: Supervisor, phase: Phase, run_id: str) -> RunStatus:
    status = await sup.wait_run(run_id)
    sup.wake_loops()  # a loop of this phase waiting for the chain can go on
    log.debug("chain leaf %s ended %s", phase.value, status.value)
    return status


async def _follow(sup: Supervisor, chain: ChainRow) -> tuple[ChainStatus, str | None]:
    upstream: RunRow | None = None
    for phase in (Phase.RANKING_FETCH, Phase.OCID_LOOKUP):
        try:
            run_id = await _step(sup, chain, phase, upstream)
        except SlotConflict as exc:
            return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
        status = await sup.wait_run(run_id)
        run = await sup.repo.get_run(run_id)
        if status is not RunStatus.COMPLETED or run is None:
            return _chain_outcome(phase, status, run)
        upstream = run
    leaves = (Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT)
    run_ids: list[str] = []
    for phase in leaves:
        try:
            run_ids.append(await _step(sup, chain, phase, upstream))
        except SlotConflict as exc:
            for started in run_ids:  # only the chain's own run: a waiting loop stays
                await sup.stop_run(started, within=sup.preempt_timeout_seconds)
            return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
    statuses = await asyncio.gather(
        *(_leaf(sup, phase, run_id) for phase, run_id in zip(leaves, run_ids, strict=True))
    )
    outcomes: list[tuple[ChainStatus, str]] = []
    for phase, run_id, status in zip(leaves, run_ids, statuses, strict=True):
        if status is not RunStatus.COMPLETED:
            outcomes.append(_chain_outcome(phase, status, await sup.repo.get_run(run_id)))
    if not outcomes:
        return ChainStatus.COMPLETED, None
    final = (
        ChainStatus.FAILED
        if any(s is ChainStatus.FAILED for s, _ in outcomes)
        else ChainStatus.STOPPED
    )
    return final, "; ".join(msg for _, msg in outcomes)
