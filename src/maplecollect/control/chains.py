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
from maplecollect.phases import ORDER, Phase
from maplecollect.state.models import ChainRow, ChainStatus, RunRow, RunStatus

if TYPE_CHECKING:
    from maplecollect.control.supervisor import RunHandle, Supervisor

log = logging.getLogger(__name__)


async def start_chain(
    sup: Supervisor, *, date: str | None, airflow_run_id: str | None
) -> tuple[str, RunRow]:
    for phase in ORDER:
        loop = await sup.repo.active_loop(phase)
        if loop is not None:
            raise SlotConflict(phase.value, loop_id=loop.loop_id)
        run = await sup.repo.active_run(phase)
        if run is not None:
            raise SlotConflict(phase.value, run_id=run.run_id)
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
    try:
        await sup.repo.create_chain(chain)
    except SlotConflict as exc:
        # Another chain is between two phases: report its current run if any.
        raise SlotConflict(Phase.RANKING_FETCH.value, run_id=exc.run_id) from exc
    row = sup.new_run_row(
        Phase.RANKING_FETCH,
        upstream=None,
        snapshot_date=snapshot,
        airflow_run_id=airflow_run_id,
        chain_id=chain.chain_id,
    )
    try:
        ranking = await sup.repo.create_run(row)
    except SlotConflict:
        await sup.repo.finish_chain(
            chain.chain_id,
            ChainStatus.FAILED,
            now=sup.clock(),
            error_message="RANKING_FETCH was taken before the chain could start",
        )
        raise
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
    log.info("chain %s ended %s", chain_id, status.value)


def _chain_outcome(phase: Phase, status: RunStatus, run: RunRow | None) -> tuple[ChainStatus, str]:
    reason = run.error_message if run and run.error_message else status.value
    chain_status = ChainStatus.STOPPED if status is RunStatus.STOPPED else ChainStatus.FAILED
    return (
        chain_status,
        f"{phase.value} run {run.run_id if run else '?'} ended {status.value}: {reason}",
    )


async def _start(sup: Supervisor, chain: ChainRow, phase: Phase, upstream: RunRow) -> RunHandle:
    row = sup.new_run_row(
        phase,
        upstream=upstream,
        snapshot_date=chain.snapshot_date,
        airflow_run_id=chain.airflow_run_id,
        chain_id=chain.chain_id,
    )
    return sup.spawn(await sup.repo.create_run(row))


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
                return (
                    ChainStatus.FAILED,
                    f"{phase.value} is busy (run {exc.run_id or exc.loop_id})",
                )
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
            for started in handles:
                await sup.stop_phase(Phase(started.run.phase))
                await sup.wait_run(started.run.run_id)
            return ChainStatus.FAILED, f"{phase.value} is busy (run {exc.run_id or exc.loop_id})"
    statuses = await asyncio.gather(*(sup.wait_run(h.run.run_id) for h in handles))
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
