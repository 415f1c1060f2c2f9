"""The daily chain: RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT.

Each run is fed by the chain's own upstream run; the chain stops at the first
phase that does not complete. An adopted chain picks up at its newest run of
each step (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from maplecollect.config import Settings
from maplecollect.control.executor import Drivers, RunExecutor, holder
from maplecollect.errors import SlotConflict
from maplecollect.ids import new_id
from maplecollect.phases import Phase
from maplecollect.state.models import ChainRow, ChainStatus, RunRow, RunStatus
from maplecollect.state.repository import Repository

log = logging.getLogger(__name__)


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
    return str(exc) if isinstance(exc, YieldTimeout) else holder(exc)


class Chains(Drivers):
    """The daily-chain drivers of this process. `phase_done` wakes the loops waiting
    for a chain when its leaf run or the chain ends."""

    kind = "chain"

    def __init__(
        self,
        executor: RunExecutor,
        repo: Repository,
        settings: Settings,
        *,
        phase_done: Callable[[], None],
    ) -> None:
        super().__init__(executor, repo, settings)
        self._phase_done = phase_done

    @property
    def preempt_timeout_seconds(self) -> float:
        """How long the chain waits for a stopped loop iteration to end (a silent owner's
        run is swept after the heartbeat timeout)."""
        s = self.settings
        return 2 * s.heartbeat_timeout_seconds + 10 * s.progress_seconds

    async def start(self, *, snapshot_date: str, airflow_run_id: str | None) -> tuple[str, RunRow]:
        """Take the chain and its RANKING_FETCH slot in one transaction (SlotConflict if not)."""
        ex = self.executor
        now = ex.now()
        chain = ChainRow(
            chain_id=new_id("daily", now),
            status=ChainStatus.RUNNING.value,
            snapshot_date=snapshot_date,
            airflow_run_id=airflow_run_id,
            owner=ex.owner,
            heartbeat_at=now,
            started_at=now,
            updated_at=now,
        )
        ranking = self._run_row(Phase.RANKING_FETCH, None, chain)
        await self.repo.create_chain(chain, ranking)
        ex.execute(ranking)
        self.drive(chain)
        return chain.chain_id, ranking

    def drive(self, chain: ChainRow) -> None:
        """Drive `chain` from this process (a new chain, or one adopted from a dead owner)."""
        self._spawn(chain.chain_id, self._drive(chain))

    async def _finish(self, chain_id: str, status: ChainStatus, error: str | None) -> None:
        ex = self.executor
        await self.repo.finish_chain(
            chain_id, status, now=ex.now(), error_message=error, owner=ex.owner
        )

    async def _drive(self, chain: ChainRow) -> None:
        chain_id = chain.chain_id
        status, error = ChainStatus.FAILED, None
        try:
            status, error = await self._follow(chain)
        except asyncio.CancelledError:
            if self.owns(chain_id):
                await self._finish(
                    chain_id, ChainStatus.FAILED, "the service stopped while the chain was running"
                )
            raise
        except Exception as exc:
            log.exception("chain %s crashed", chain_id)
            status, error = ChainStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
        if not self.owns(chain_id):
            return  # adopted by another process, or left for the next owner
        await self._finish(chain_id, status, error)
        self._phase_done()
        log.info("chain %s ended %s", chain_id, status.value)

    async def _start(self, chain: ChainRow, phase: Phase, upstream: RunRow) -> str:
        """Take `phase` for the chain; a loop iteration in the way is stopped (it publishes
        what it has) and waited for. Anything else in the way is the caller's SlotConflict."""
        ex = self.executor
        row = self._run_row(phase, upstream, chain)
        # Two attempts: after the iteration ended nothing but the chain can take the
        # slot (loops and one-shot runs yield to a running chain), so a second
        # conflict is a real one.
        for attempt in (1, 2):
            try:
                return (await ex.start_run(row)).run_id
            except SlotConflict as exc:
                if attempt == 2 or exc.loop_id is None or exc.run_id is None:
                    raise
                log.info(
                    "chain %s needs %s: stopping %s", chain.chain_id, phase.value, _holder(exc)
                )
                within = self.preempt_timeout_seconds
                if not await ex.stop_run(exc.run_id, within=within):
                    raise YieldTimeout(
                        phase.value,
                        run_id=exc.run_id,
                        loop_id=exc.loop_id,
                        message=f"{_holder(exc)} did not stop within {within:g} s",
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _step(self, chain: ChainRow, phase: Phase, upstream: RunRow | None) -> str:
        """The chain's run of `phase`: the one it already has (adopted chain), else a new one."""
        mine = await self.repo.list_runs(chain_id=chain.chain_id, phase=phase, limit=1)
        if mine:
            return mine[0].run_id
        assert upstream is not None, "a chain's RANKING_FETCH run is created with the chain"
        try:
            return await self._start(chain, phase, upstream)
        except SlotConflict:
            # Another driver of this chain (one that has not yet learnt it lost it) was faster.
            mine = await self.repo.list_runs(chain_id=chain.chain_id, phase=phase, limit=1)
            if mine:
                return mine[0].run_id
            raise

    async def _leaf(self, phase: Phase, run_id: str) -> RunStatus:
        status = await self.executor.wait_run(run_id)
        self._phase_done()  # a loop of this phase waiting for the chain can go on
        log.debug("chain leaf %s ended %s", phase.value, status.value)
        return status

    async def _follow(self, chain: ChainRow) -> tuple[ChainStatus, str | None]:
        ex, repo = self.executor, self.repo
        upstream: RunRow | None = None
        for phase in (Phase.RANKING_FETCH, Phase.OCID_LOOKUP):
            try:
                run_id = await self._step(chain, phase, upstream)
            except SlotConflict as exc:
                return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
            status = await ex.wait_run(run_id)
            run = await repo.get_run(run_id)
            if status is not RunStatus.COMPLETED or run is None:
                return _chain_outcome(phase, status, run)
            upstream = run
        leaves = (Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT)
        run_ids: list[str] = []
        for phase in leaves:
            try:
                run_ids.append(await self._step(chain, phase, upstream))
            except SlotConflict as exc:
                for started in run_ids:  # only the chain's own run: a waiting loop stays
                    await ex.stop_run(started, within=self.preempt_timeout_seconds)
                return ChainStatus.FAILED, f"{phase.value} is busy ({_holder(exc)})"
        statuses = await asyncio.gather(
            *(self._leaf(phase, run_id) for phase, run_id in zip(leaves, run_ids, strict=True))
        )
        outcomes: list[tuple[ChainStatus, str]] = []
        for phase, run_id, status in zip(leaves, run_ids, statuses, strict=True):
            if status is not RunStatus.COMPLETED:
                outcomes.append(_chain_outcome(phase, status, await repo.get_run(run_id)))
        if not outcomes:
            return ChainStatus.COMPLETED, None
        final = (
            ChainStatus.FAILED
            if any(s is ChainStatus.FAILED for s, _ in outcomes)
            else ChainStatus.STOPPED
        )
        return final, "; ".join(msg for _, msg in outcomes)
