"""The daily chain: RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT.

Each run carries the chain's id and is fed by the chain's own upstream run.
The chain stops at the first phase that does not complete.
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
    handle = sup.spawn(ranking)
    task = asyncio.create_task(_drive(sup, chain, handle), name=f"chain-{chain.chain_id}")
    sup.spawn_chain_task(chain.chain_id, task)
    return chain.chain_id, ranking


async def _drive(sup: Supervisor, chain: ChainRow, ranking: RunHandle) -> None:
    chain_id = chain.chain_id
    status, error = ChainStatus.FAILED, None
    try:
        status, error = await _follow(sup, chain, ranking)
    except asyncio.CancelledError:
        status, error = ChainStatus.FAILED, "the service stopped while the chain was running"
        await sup.repo.finish_chain(chain_id, status, now=sup.clock(), error_message=error)
        raise
    except Exception as exc:
        log.exception("chain %s crashed", chain_id)
        status, error = ChainStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
    await sup.repo.finish_chain(chain_id, status, now=sup.clock(), error_message=error)
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


async def _leaf(sup: Supervisor, phase: Phase, handle: RunHandle) -> RunStatus:
    status = await sup.wait_run(handle.run.run_id)
    sup.wake_loops()  # a loop of this phase waiting for the chain can go on
    log.debug("chain leaf %s ended %s", phase.value, status.value)
    return status


async def _follow(
    sup: Supervisor, chain: ChainRow, ranking: RunHandle
) -> tuple[ChainStatus, str | None]:
    upstream = ranking.run
    for phase in (Phase.RANKING_FETCH, Phase.OCID_LOOKUP):
        if phase is Phase.RANKING_FETCH:
            handle = ranking
        else:
            try:
                handle = await _start(sup, chain, phase, upstream)
            except SlotConflict as exc:
                return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
        status = await sup.wait_run(handle.run.run_id)
        run = await sup.repo.get_run(handle.run.run_id)
        if status is not RunStatus.COMPLETED or run is None:
            return _chain_outcome(phase, status, run)
        upstream = run
    leaves = (Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT)
    handles: list[RunHandle] = []
    for phase in leaves:
        try:
            handles.append(await _start(sup, chain, phase, upstream))
        except SlotConflict as exc:
            for started in handles:  # only the chain's own run: a waiting loop stays
                await sup.stop_run(started.run.run_id, within=sup.preempt_timeout_seconds)
            return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
    statuses = await asyncio.gather(
        *(_leaf(sup, phase, h) for phase, h in zip(leaves, handles, strict=True))
    )
    outcomes: list[tuple[ChainStatus, str]] = []
    for phase, handle, status in zip(leaves, handles, statuses, strict=True):
        if status is not RunStatus.COMPLETED:
            outcomes.append(
                _chain_outcome(phase, status, await sup.repo.get_run(handle.run.run_id))
            )
    if not outcomes:
        return ChainStatus.COMPLETED, None
    final = (
        ChainStatus.FAILED
        if any(s is ChainStatus.FAILED for s, _ in outcomes)
        else ChainStatus.STOPPED
    )
    return final, "; ".join(msg for _, msg in outcomes)
