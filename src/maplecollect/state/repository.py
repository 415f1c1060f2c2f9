"""All SQL of maplecollect: runs, loops, chains, chunks and the OCID cache.

Each method is one short transaction. Slot rules are enforced by the database
(partial unique indexes + the phase lock row), so they hold across processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, auto
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from maplecollect.errors import (
    ChainActive,
    InvalidTransition,
    LeaseLost,
    RunNotFound,
    SlotConflict,
)
from maplecollect.phases import ORDER, Phase
from maplecollect.state import outbox
from maplecollect.state.coalesce import CoalescedRead
from maplecollect.state.database import create_async_db_engine, engine_timeouts, session_factory
from maplecollect.state.models import (
    ACTIVE_LOOP_STATUSES,
    ACTIVE_RUN_STATUSES,
    LEASED_RUN_STATUSES,
    ChainRow,
    ChainStatus,
    ChunkRow,
    LoopRow,
    LoopStatus,
    OcidCacheRow,
    PhaseLockRow,
    RunRow,
    RunStatus,
)

_ACTIVE_RUN = [s.value for s in ACTIVE_RUN_STATUSES]
_ACTIVE_LOOP = [s.value for s in ACTIVE_LOOP_STATUSES]
_TERMINAL_RUN = [s.value for s in RunStatus if s.terminal]
_LEASED_RUN = [s.value for s in LEASED_RUN_STATUSES]
_INTERRUPTED = RunStatus.INTERRUPTED.value
_T = TypeVar("_T")


class Unset(Enum):
    """A column `update_loop` leaves as it is (None is a value: it clears the column)."""

    UNSET = auto()


UNSET = Unset.UNSET


@dataclass(frozen=True)
class Lease:
    """Who may write a run: one owner at one epoch, the fencing token that every write of
    the run's executor is conditional on (docs/reliability.md "Fencing")."""

    run_id: str
    owner: str
    epoch: int

    @classmethod
    def of(cls, run: RunRow) -> Lease:
        return cls(run.run_id, run.owner, run.lease_epoch)

    def held(self) -> ColumnElement[bool]:
        return and_(
            RunRow.run_id == self.run_id,
            RunRow.owner == self.owner,
            RunRow.lease_epoch == self.epoch,
            RunRow.status.in_(_LEASED_RUN),
        )


@dataclass(frozen=True)
class Claimed:
    """An INTERRUPTED run this process took over; `give_up` ends it FAILED at once."""

    run: RunRow
    give_up: str | None = None


@dataclass
class HeartbeatResult:
    """What a heartbeat could not renew: this process lost those runs/loops/chains."""

    lost_runs: list[str] = field(default_factory=list)
    lost_loops: list[str] = field(default_factory=list)
    lost_chains: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    abandoned: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)


def _status_picks() -> Any:
    """One UNION ALL of the (kind, phase, id) of every row `status_snapshot` shows: with the
    two statements that load them, 3 round trips instead of 13 for the most polled route."""
    picks: list[Any] = [
        select(literal_column("'active'").label("kind"), RunRow.phase, RunRow.run_id).where(
            RunRow.status.in_(_ACTIVE_RUN)
        )
    ]
    for phase in ORDER:
        by_phase = select(RunRow.phase, RunRow.run_id).where(RunRow.phase == phase.value)
        newest_run = by_phase.order_by(RunRow.started_at.desc(), RunRow.run_id.desc())
        last_terminal = by_phase.where(RunRow.status.in_(_TERMINAL_RUN)).order_by(
            RunRow.completed_at.desc(), RunRow.run_id.desc()
        )
        newest_loop = (
            select(LoopRow.phase, LoopRow.loop_id)
            .where(LoopRow.phase == phase.value)
            .order_by(LoopRow.status.in_(_ACTIVE_LOOP).desc(), LoopRow.started_at.desc())
        )
        for kind, stmt in (
            ("newest", newest_run),
            ("terminal", last_terminal),
            ("loop", newest_loop),
        ):
            sub = stmt.limit(1).subquery()
            picks.append(select(literal_column(f"'{kind}'").label("kind"), *list(sub.c)))
    return union_all(*picks)


_STATUS_PICKS = _status_picks()


@dataclass(frozen=True)
class StatusSnapshot:
    """What `/run-status` shows, read in one transaction."""

    active: dict[Phase, RunRow | None]
    newest: dict[Phase, RunRow | None]
    last_terminal: dict[Phase, RunRow | None]
    newest_loop: dict[Phase, LoopRow | None]


def _held_by(run: RunRow) -> SlotConflict:
    return SlotConflict(run.phase, run_id=run.run_id, loop_id=run.loop_id, chain_id=run.chain_id)


def _resume(run_id: str) -> str:
    return f"POST /api/internal/resume/run/{run_id}"


def _abandon(run: RunRow, *, now: datetime, message: str) -> None:
    """ABANDONED: resumed by hand only (`message` says how)."""
    run.status = RunStatus.ABANDONED.value
    run.stop_requested = False
    run.completed_at = now
    run.updated_at = now
    run.error_message = message


class Repository:
    """`engine` takes every write; on SQLite, reads go through a second engine
    whose transactions never take the write lock (WAL readers run alongside).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = session_factory(engine)
        self._read_engine: AsyncEngine | None = None
        self._read = self._session
        if engine.dialect.name == "sqlite":
            url = engine.url.render_as_string(hide_password=False)
            self._read_engine = create_async_db_engine(
                url, writer=False, timeouts=engine_timeouts(engine)
            )
            self._read = session_factory(self._read_engine)
        self._status_reads = CoalescedRead(self._read_status_snapshot)
        # The outbox (docs/downstream.md): written inside add_chunk / finish_run.
        self.events = outbox.EventStore(self._session, self._read)

    async def dispose(self) -> None:
        if self._read_engine is not None:
            await self._read_engine.dispose()
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # -- slots -------------------------------------------------------------

    @staticmethod
    async def _lock_phase(session: AsyncSession, phase: Phase) -> None:
        # A row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers.
        await session.execute(
            update(PhaseLockRow)
            .where(PhaseLockRow.phase == phase.value)
            .values(touched_at=func.now())
        )

    @staticmethod
    async def _active_run(
        session: AsyncSession, phase: Phase, *, exclude: str | None = None
    ) -> RunRow | None:
        stmt = select(RunRow).where(RunRow.phase == phase.value, RunRow.status.in_(_ACTIVE_RUN))
        if exclude is not None:
            stmt = stmt.where(RunRow.run_id != exclude)
        res = await session.execute(stmt)
        return res.scalars().first()

    @staticmethod
    async def _active_loop(session: AsyncSession, phase: Phase) -> LoopRow | None:
        res = await session.execute(
            select(LoopRow).where(LoopRow.phase == phase.value, LoopRow.status.in_(_ACTIVE_LOOP))
        )
        return res.scalars().first()

    @staticmethod
    async def _running_chain(session: AsyncSession) -> ChainRow | None:
        res = await session.execute(
            select(ChainRow).where(ChainRow.status == ChainStatus.RUNNING.value)
        )
        return res.scalars().first()

    @classmethod
    async def _yield_to_chain(
        cls, session: AsyncSession, phase: Phase, *, chain_id: str | None
    ) -> None:
        """Raise if the running daily chain (other than `chain_id`) has `phase` still to do:
        SlotConflict naming its run when that holds the slot, else ChainActive."""
        chain = await cls._running_chain(session)
        if chain is None or chain.chain_id == chain_id:
            return
        done = await session.execute(
            select(RunRow.run_id)
            .where(
                RunRow.chain_id == chain.chain_id,
                RunRow.phase == phase.value,
                RunRow.status.in_(_TERMINAL_RUN),
            )
            .limit(1)
        )
        if done.first() is not None:
            return
        active = await cls._active_run(session, phase)
        if active is not None:
            raise _held_by(active)
        raise ChainActive(phase.value, chain_id=chain.chain_id)

    @classmethod
    async def _free_for(
        cls, session: AsyncSession, phase: Phase, run: RunRow, *, chain_first: bool
    ) -> None:
        """Raise SlotConflict (carrying what holds the slot) unless `run` may take `phase`.

        A run of the daily chain (`chain_first`) ignores loops; anything else yields to
        a running chain and to any loop but its own.
        """
        if not chain_first:
            await cls._yield_to_chain(session, phase, chain_id=run.chain_id)
            loop = await cls._active_loop(session, phase)
            if loop is not None and loop.loop_id != run.loop_id:
                raise SlotConflict(phase.value, loop_id=loop.loop_id)
        active = await cls._active_run(session, phase, exclude=run.run_id)
        if active is not None:
            raise _held_by(active)

    async def _take_slot(
        self,
        phases: Sequence[Phase],
        take: Callable[[AsyncSession], Awaitable[_T]],
        race: Callable[[], Awaitable[SlotConflict]] | None = None,
    ) -> _T:
        """The one slot-taking transaction: lock the phases' rows (in ORDER: no deadlock),
        then `take` checks the slot rules and writes. If a unique index still refuses the
        commit, `race` says what holds the slot (default: the first phase's active run)."""
        try:
            async with self._session.begin() as session:
                for phase in sorted(phases, key=ORDER.index):
                    await self._lock_phase(session, phase)
                return await take(session)
        except IntegrityError as exc:
            if race is not None:
                raise await race() from exc
            active = await self.active_run(phases[0])
            raise SlotConflict(phases[0].value, run_id=active.run_id if active else None) from exc

    async def create_run(
        self, row: RunRow, *, clock: Callable[[], datetime] | None = None
    ) -> RunRow:
        """Take the phase slot by inserting an active run (SlotConflict if held: `_free_for`).

        `clock` stamps the run when it takes the slot, inside the transaction: a run that
        queued behind its predecessor's end never starts before that end.
        """
        phase = Phase(row.phase)

        async def take(session: AsyncSession) -> RunRow:
            await self._free_for(session, phase, row, chain_first=row.chain_id is not None)
            if clock is not None:
                row.started_at = row.updated_at = row.heartbeat_at = clock()
            session.add(row)
            return row

        return await self._take_slot([phase], take)

    async def resume_run(self, run_id: str, *, owner: str, now: datetime) -> RunRow:
        """Put a FAILED/ABANDONED/INTERRUPTED run back into its slot, same runId, under a
        new lease epoch (fencing out any earlier executor)."""
        found = await self.get_run(run_id)
        if found is None:
            raise RunNotFound(run_id)
        phase = Phase(found.phase)  # a run's phase never changes

        async def take(session: AsyncSession) -> RunRow:
            run = await session.get(RunRow, run_id, with_for_update=True)
            if run is None:
                raise RunNotFound(run_id)
            if not RunStatus(run.status).resumable:
                raise InvalidTransition(run_id, run.status)
            await self._free_for(session, phase, run, chain_first=False)
            self._take_over(run, owner=owner, now=now)
            run.auto_resume_attempts = 0
            run.stop_requested = False
            return run

        return await self._take_slot([phase], take)

    @staticmethod
    def _take_over(run: RunRow, *, owner: str, now: datetime) -> None:
        run.status = RunStatus.STOPPING.value if run.stop_requested else RunStatus.RUNNING.value
        run.owner = owner
        run.lease_epoch += 1
        run.heartbeat_at = now
        run.updated_at = now
        run.completed_at = None
        run.error_message = None
        run.resume_after = None
        run.resume_count += 1

    async def claim_interrupted(
        self, *, owner: str, now: datetime, max_attempts: int
    ) -> list[Claimed]:
        """Take over every INTERRUPTED run that is due (auto-resume), one run per
        transaction so two replicas never both win; past `max_attempts`, with `give_up`."""
        async with self._read() as session:
            res = await session.execute(
                select(RunRow.run_id, RunRow.lease_epoch).where(
                    RunRow.status == _INTERRUPTED,
                    or_(RunRow.resume_after.is_(None), RunRow.resume_after <= now),
                )
            )
            due = [(row[0], row[1]) for row in res.all()]
        claimed: list[Claimed] = []
        for run_id, epoch in due:
            async with self._session.begin() as session:
                run = await session.get(RunRow, run_id, with_for_update=True)
                if run is None or run.status != _INTERRUPTED or run.lease_epoch != epoch:
                    continue  # another replica was faster
                reason = run.error_message
                give_up = None
                if run.auto_resume_attempts >= max_attempts:
                    give_up = (
                        f"interrupted {run.auto_resume_attempts + 1} times without publishing "
                        f"a part; last: {reason or 'unknown'}; resume it with {_resume(run_id)}"
                    )
                self._take_over(run, owner=owner, now=now)
                run.auto_resume_attempts += 1
                claimed.append(Claimed(run, give_up))
        return claimed

    # -- runs ----------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRow | None:
        async with self._read() as session:
            return await session.get(RunRow, run_id)

    async def active_run(self, phase: Phase) -> RunRow | None:
        async with self._read() as session:
            return await self._active_run(session, phase)

    async def newest_completed(self, phase: Phase) -> RunRow | None:
        async with self._read() as session:
            res = await session.execute(
                select(RunRow)
                .where(RunRow.phase == phase.value, RunRow.status == RunStatus.COMPLETED.value)
                .order_by(RunRow.completed_at.desc(), RunRow.run_id.desc())
                .limit(1)
            )
            return res.scalars().first()

    async def list_runs(
        self,
        *,
        phase: Phase | None = None,
        status: RunStatus | None = None,
        chain_id: str | None = None,
        loop_id: str | None = None,
        limit: int = 50,
        older_than: datetime | None = None,
    ) -> list[RunRow]:
        given = {"phase": phase, "status": status, "chain_id": chain_id, "loop_id": loop_id}
        stmt = select(RunRow).filter_by(**{k: v for k, v in given.items() if v is not None})
        if older_than is not None:
            stmt = stmt.where(RunRow.started_at < older_than)
        stmt = stmt.order_by(RunRow.started_at.desc(), RunRow.run_id.desc()).limit(limit)
        async with self._read() as session:
            return list((await session.execute(stmt)).scalars())

    async def record_progress(
        self,
        lease: Lease,
        *,
        now: datetime,
        records_processed: int,
        records_failed: int,
        chunks_processed: int,
        total_keys: int | None,
        rate_per_second: float | None,
        eta_seconds: float | None,
        failures_by_code: Mapping[str, int] | None = None,
    ) -> bool:
        """Write progress and heartbeat under `lease`; return whether a stop was requested.

        Raises LeaseLost when the run is no longer this executor's.
        """
        # Written whenever given, so a resumed run's recount replaces the older counts.
        by_code = {} if failures_by_code is None else {"failures_by_code": dict(failures_by_code)}
        async with self._session.begin() as session:
            res = await session.execute(
                update(RunRow)
                .where(lease.held())
                .values(
                    records_processed=records_processed,
                    records_failed=records_failed,
                    chunks_processed=chunks_processed,
                    total_keys=total_keys,
                    rate_per_second=rate_per_second,
                    eta_seconds=eta_seconds,
                    updated_at=now,
                    heartbeat_at=now,
                    **by_code,
                )
                .returning(RunRow.stop_requested)
            )
            row = res.first()
            if row is None:
                raise LeaseLost(lease.run_id, lease.epoch, "writing progress")
            return bool(row[0])

    async def check_lease(self, lease: Lease, what: str) -> None:
        """Raise LeaseLost unless `lease` is still held (before publishing a file)."""
        async with self._session.begin() as session:
            res = await session.execute(select(RunRow.run_id).where(lease.held()))
            if res.first() is None:
                raise LeaseLost(lease.run_id, lease.epoch, what)

    async def record_pause(
        self,
        lease: Lease,
        *,
        code: str | None,
        reason: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> None:
        """Set (or, with None, clear) why a run waits, while `lease` is held (a fenced-out
        executor changes nothing; its next progress write reports the loss)."""
        async with self._session.begin() as session:
            await session.execute(
                update(RunRow)
                .where(lease.held())
                .values(pause_code=code, pause_reason=reason, pause_since=since, pause_until=until)
            )

    async def finish_run(
        self,
        lease: Lease,
        status: RunStatus,
        *,
        now: datetime,
        error_message: str | None = None,
        manifest_path: str | None = None,
    ) -> RunRow:
        """End a run (or leave it INTERRUPTED, due at once) under `lease`; raises LeaseLost."""
        async with self._session.begin() as session:
            res = await session.execute(select(RunRow).where(lease.held()).with_for_update())
            run = res.scalars().first()
            if run is None:
                if await session.get(RunRow, lease.run_id) is None:
                    raise RunNotFound(lease.run_id)
                raise LeaseLost(lease.run_id, lease.epoch, f"recording {status.value}")
            interrupted = status is RunStatus.INTERRUPTED
            previous = run.status
            run.status = status.value
            run.updated_at = now
            run.completed_at = now if status.terminal else None
            # A stop asked for before the shutdown survives it: the new owner ends
            # the run STOPPED.
            run.stop_requested = interrupted and run.stop_requested
            run.error_message = error_message
            run.resume_after = now if interrupted else None
            if manifest_path is not None:
                run.manifest_path = manifest_path
            if status is not RunStatus.COMPLETED:
                run.eta_seconds = None
            await outbox.announce_finish(session, run, previous_status=previous, now=now)
        self.events.bell.ring()
        return run

    async def request_run_stop(self, run_id: str, *, now: datetime) -> bool:
        """Ask the run to stop. An INTERRUPTED run keeps waiting for a new owner,
        due at once, who ends it STOPPED (with its manifest) instead of collecting.
        """
        async with self._session.begin() as session:
            res = await session.execute(
                update(RunRow)
                .where(RunRow.run_id == run_id, RunRow.status.in_(_LEASED_RUN))
                .values(stop_requested=True, status=RunStatus.STOPPING.value, updated_at=now)
            )
            if getattr(res, "rowcount", 0):
                return True
            res = await session.execute(
                update(RunRow)
                .where(RunRow.run_id == run_id, RunRow.status == _INTERRUPTED)
                .values(stop_requested=True, resume_after=now, updated_at=now)
            )
            return bool(getattr(res, "rowcount", 0))

    async def heartbeat(
        self,
        *,
        now: datetime,
        owner: str,
        leases: Sequence[Lease] = (),
        loop_ids: Sequence[str] = (),
        chain_ids: Sequence[str] = (),
    ) -> HeartbeatResult:
        """Renew what this process holds; report what it no longer holds."""
        lost = HeartbeatResult()
        async with self._session.begin() as session:
            if leases:
                res = await session.execute(
                    update(RunRow)
                    .where(or_(*(lease.held() for lease in leases)))
                    .values(heartbeat_at=now)
                    .returning(RunRow.run_id)
                )
                renewed = set(res.scalars())
                lost.lost_runs = [lease.run_id for lease in leases if lease.run_id not in renewed]
            drivers: list[tuple[Any, Sequence[str], list[str]]] = [
                (LoopRow.loop_id, loop_ids, lost.lost_loops),
                (ChainRow.chain_id, chain_ids, lost.lost_chains),
            ]
            for key, ids, lost_ids in drivers:  # a loop/chain row is held by its owner alone
                if ids:
                    res = await session.execute(
                        update(key.class_)
                        .where(key.in_(ids), key.class_.owner == owner)
                        .values(heartbeat_at=now)
                        .returning(key)
                    )
                    renewed = set(res.scalars())
                    lost_ids.extend(row_id for row_id in ids if row_id not in renewed)
        return lost

    async def sweep_dead(
        self,
        *,
        now: datetime,
        stale_after: timedelta,
        dead_owners: Sequence[str] = (),
        auto_resume: bool = False,
        backoff: Callable[[int], float] = lambda _attempts: 0.0,
    ) -> SweepResult:
        """Runs whose owner stopped heart-beating lose their lease: INTERRUPTED (due after
        `backoff(attempts)` s) with `auto_resume`, else ABANDONED, and their loops and
        chains end."""
        cutoff = now - stale_after
        dead = list(dead_owners)
        stale_runs = or_(RunRow.heartbeat_at < cutoff, RunRow.owner.in_(dead))
        result = SweepResult()
        async with self._session.begin() as session:
            res = await session.execute(
                select(RunRow).where(RunRow.status.in_(_LEASED_RUN), stale_runs).with_for_update()
            )
            for run in res.scalars():
                last = run.heartbeat_at.isoformat()
                gone = f"owner {run.owner} stopped heart-beating (last at {last})"
                if auto_resume:
                    delay = backoff(run.auto_resume_attempts)
                    run.status = _INTERRUPTED
                    run.updated_at = now
                    run.resume_after = now + timedelta(seconds=delay)
                    run.error_message = f"{gone}; resuming automatically in {delay:g} s"
                    result.interrupted.append(run.run_id)
                    continue
                _abandon(run, now=now, message=f"{gone}; resume it with {_resume(run.run_id)}")
                result.abandoned.append(run.run_id)
            if auto_resume:
                return result
            # Auto-resume was switched off: nobody will resume INTERRUPTED runs.
            res = await session.execute(
                select(RunRow).where(RunRow.status == _INTERRUPTED).with_for_update()
            )
            for run in res.scalars():
                off = f"{run.error_message or 'interrupted'}; MAPLECOLLECT_AUTO_RESUME is off"
                _abandon(run, now=now, message=f"{off}: resume it with {_resume(run.run_id)}")
                result.abandoned.append(run.run_id)
            res_l = await session.execute(
                select(LoopRow).where(
                    LoopRow.status.in_(_ACTIVE_LOOP),
                    or_(LoopRow.heartbeat_at < cutoff, LoopRow.owner.in_(dead)),
                )
            )
            for loop in res_l.scalars():
                loop.status = LoopStatus.STOPPED.value
                loop.stopped_at = now
                loop.updated_at = now
                loop.current_run_id = None
                loop.stop_requested = False
                loop.last_error = f"owner {loop.owner} stopped heart-beating; loop ended"
            res_c = await session.execute(
                select(ChainRow).where(
                    ChainRow.status == ChainStatus.RUNNING.value,
                    or_(ChainRow.heartbeat_at < cutoff, ChainRow.owner.in_(dead)),
                )
            )
            for chain in res_c.scalars():
                chain.status = ChainStatus.FAILED.value
                chain.completed_at = now
                chain.updated_at = now
                chain.error_message = f"owner {chain.owner} stopped heart-beating; chain ended"
        return result

    async def adopt_drivers(
        self, *, owner: str, now: datetime, stale_after: timedelta, dead_owners: Sequence[str]
    ) -> tuple[list[ChainRow], list[LoopRow]]:
        """Take over the RUNNING chains and active loops whose owner is gone (auto-resume)."""
        cutoff, dead = now - stale_after, list(dead_owners)
        adopted: list[list[Any]] = []
        async with self._session.begin() as session:
            for model, active in (
                (ChainRow, ChainRow.status == ChainStatus.RUNNING.value),
                (LoopRow, LoopRow.status.in_(_ACTIVE_LOOP)),
            ):
                stale = or_(model.heartbeat_at < cutoff, model.owner.in_(dead))
                res = await session.execute(
                    select(model).where(active, model.owner != owner, stale).with_for_update()
                )
                adopted.append(list(res.scalars()))
                for row in adopted[-1]:
                    row.owner, row.heartbeat_at, row.updated_at = owner, now, now
        return adopted[0], adopted[1]

    async def active_owners(self) -> list[str]:
        async with self._read() as session:
            stmts = [
                select(RunRow.owner).where(RunRow.status.in_(_LEASED_RUN)),
                select(LoopRow.owner).where(LoopRow.status.in_(_ACTIVE_LOOP)),
                select(ChainRow.owner).where(ChainRow.status == ChainStatus.RUNNING.value),
            ]
            owners: set[str] = set()
            for stmt in stmts:
                owners.update((await session.execute(stmt)).scalars())
            return sorted(owners)

    # -- loops ---------------------------------------------------------------

    async def create_loop(self, row: LoopRow) -> LoopRow:
        """Take the phase for a loop (SlotConflict: the loop or one-shot run in the way);
        a run of the daily chain does not refuse it."""
        phase = Phase(row.phase)

        async def take(session: AsyncSession) -> LoopRow:
            loop = await self._active_loop(session, phase)
            if loop is not None:
                raise SlotConflict(phase.value, loop_id=loop.loop_id)
            active = await self._active_run(session, phase)
            if active is not None and active.chain_id is None:
                raise SlotConflict(phase.value, run_id=active.run_id)
            session.add(row)
            return row

        async def race() -> SlotConflict:
            loop = await self.active_loop(phase)
            return SlotConflict(phase.value, loop_id=loop.loop_id if loop else None)

        return await self._take_slot([phase], take, race)

    async def get_loop(self, loop_id: str) -> LoopRow | None:
        async with self._read() as session:
            return await session.get(LoopRow, loop_id)

    async def active_loop(self, phase: Phase) -> LoopRow | None:
        async with self._read() as session:
            return await self._active_loop(session, phase)

    async def update_loop(
        self,
        loop_id: str,
        *,
        now: datetime,
        status: LoopStatus | Unset = UNSET,
        iteration_count: int | Unset = UNSET,
        consecutive_failures: int | Unset = UNSET,
        current_run_id: str | Unset | None = UNSET,
        last_run_id: str | Unset | None = UNSET,
        last_error: str | Unset | None = UNSET,
        stopped_at: datetime | Unset | None = UNSET,
        stop_requested: bool | Unset = UNSET,
    ) -> None:
        """Set the given columns of a loop (and `updated_at`); UNSET leaves one as it is.
        Explicit keywords, so a misspelt column is a TypeError, never dropped."""
        # The keywords are the columns: read back by name rather than listed twice.
        given = {k: v for k, v in locals().items() if k not in ("self", "loop_id", "now")}
        values = {name: value for name, value in given.items() if value is not UNSET}
        async with self._session.begin() as session:
            res = await session.execute(
                update(LoopRow).where(LoopRow.loop_id == loop_id).values(updated_at=now, **values)
            )
            if not getattr(res, "rowcount", 0):
                raise RunNotFound(loop_id)

    async def set_loop_waiting_for_chain(
        self, loop_id: str, waiting: bool, *, now: datetime, reason: str | None
    ) -> bool:
        """RUNNING → WAITING_FOR_CHAIN (waiting) or back, never undoing a stop; `reason`
        becomes `lastError`. Returns whether the row changed."""
        before, after = (
            (LoopStatus.RUNNING, LoopStatus.WAITING_FOR_CHAIN)
            if waiting
            else (LoopStatus.WAITING_FOR_CHAIN, LoopStatus.RUNNING)
        )
        async with self._session.begin() as session:
            res = await session.execute(
                update(LoopRow)
                .where(LoopRow.loop_id == loop_id, LoopRow.status == before.value)
                .values(status=after.value, last_error=reason, updated_at=now)
            )
            return bool(getattr(res, "rowcount", 0))

    async def request_loop_stop(self, phase: Phase, *, now: datetime) -> LoopRow | None:
        async with self._session.begin() as session:
            loop = await self._active_loop(session, phase)
            if loop is None:
                return None
            loop.stop_requested = True
            loop.status = LoopStatus.STOPPING.value
            loop.updated_at = now
            return loop

    async def loop_stop_requested(self, loop_id: str) -> bool:
        async with self._read() as session:
            res = await session.execute(
                select(LoopRow.stop_requested).where(LoopRow.loop_id == loop_id)
            )
            return bool(res.scalar())

    # -- chains --------------------------------------------------------------

    async def create_chain(self, chain: ChainRow, first: RunRow) -> ChainRow:
        """Start a daily chain and its first run in one transaction. SlotConflict while
        another chain runs or a run that is not a loop iteration holds any phase."""

        async def take(session: AsyncSession) -> ChainRow:
            running = await self._running_chain(session)
            if running is not None:
                raise await self._chain_conflict(session, running)
            for phase in ORDER:
                active = await self._active_run(session, phase)
                if active is not None and active.loop_id is None:
                    raise SlotConflict(phase.value, run_id=active.run_id)
            session.add(chain)
            session.add(first)
            return chain

        async def race() -> SlotConflict:
            async with self._read() as session:
                running = await self._running_chain(session)
                if running is None:
                    return SlotConflict(Phase(first.phase).value)
                return await self._chain_conflict(session, running)

        return await self._take_slot(ORDER, take, race)

    @staticmethod
    async def _chain_conflict(session: AsyncSession, chain: ChainRow) -> SlotConflict:
        res = await session.execute(
            select(RunRow).where(RunRow.chain_id == chain.chain_id, RunRow.status.in_(_ACTIVE_RUN))
        )
        held = sorted(res.scalars(), key=lambda r: ORDER.index(Phase(r.phase)))
        run = held[0] if held else None
        return SlotConflict(
            run.phase if run else None,
            run_id=run.run_id if run else None,
            chain_id=chain.chain_id,
        )

    async def get_chain(self, chain_id: str) -> ChainRow | None:
        async with self._read() as session:
            return await session.get(ChainRow, chain_id)

    async def finish_chain(
        self,
        chain_id: str,
        status: ChainStatus,
        *,
        now: datetime,
        error_message: str | None,
        owner: str | None = None,
    ) -> bool:
        """End a chain; with `owner`, only while that owner still holds it."""
        cond = [ChainRow.chain_id == chain_id]
        if owner is not None:
            cond.append(ChainRow.owner == owner)
        async with self._session.begin() as session:
            res = await session.execute(
                update(ChainRow)
                .where(*cond)
                .values(
                    status=status.value,
                    completed_at=now,
                    updated_at=now,
                    error_message=error_message,
                )
            )
            return bool(getattr(res, "rowcount", 0))

    # -- chunks --------------------------------------------------------------

    async def add_chunk(self, row: ChunkRow, lease: Lease | None = None) -> None:
        """Promote a published part (the run's resume point; idempotent) with its event.

        With `lease`, only while it is held; the part also resets the auto-resume count.
        """
        async with self._session.begin() as session:
            if lease is not None:
                res = await session.execute(
                    update(RunRow)
                    .where(lease.held())
                    .values(auto_resume_attempts=0)
                    .returning(RunRow.run_id)
                )
                if res.first() is None:
                    raise LeaseLost(lease.run_id, lease.epoch, f"promoting part {row.part}")
            await session.merge(row)
            await outbox.announce_chunk(session, row, now=row.created_at)
        self.events.bell.ring()

    async def list_chunks(self, run_id: str, endpoint: str | None = None) -> list[ChunkRow]:
        stmt = select(ChunkRow).where(ChunkRow.run_id == run_id)
        if endpoint is not None:
            stmt = stmt.where(ChunkRow.endpoint == endpoint)
        async with self._read() as session:
            return list(
                (await session.execute(stmt.order_by(ChunkRow.endpoint, ChunkRow.part))).scalars()
            )

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Retention: forget terminal runs and their chunk rows."""
        if not run_ids:
            return 0
        async with self._session.begin() as session:
            await session.execute(delete(ChunkRow).where(ChunkRow.run_id.in_(list(run_ids))))
            res = await session.execute(
                delete(RunRow).where(
                    RunRow.run_id.in_(list(run_ids)), RunRow.status.in_(_TERMINAL_RUN)
                )
            )
            return int(getattr(res, "rowcount", 0))

    # -- OCID cache ----------------------------------------------------------

    async def cached_ocids(self, names: Sequence[str]) -> dict[str, OcidCacheRow]:
        out: dict[str, OcidCacheRow] = {}
        async with self._read() as session:
            # Bounded IN lists: SQLite caps bound parameters per statement.
            for start in range(0, len(names), 500):
                batch = list(names[start : start + 500])
                res = await session.execute(
                    select(OcidCacheRow).where(OcidCacheRow.character_name.in_(batch))
                )
                out.update((row.character_name, row) for row in res.scalars())
        return out

    async def cache_ocids(
        self, rows: Sequence[tuple[str, str | None, str]], *, now: datetime
    ) -> None:
        """Upsert (name, world, ocid) rows: mappings are replaced, never cleared first."""
        if not rows:
            return
        values = [
            {"character_name": n, "world_name": w, "ocid": o, "fetched_at": now} for n, w, o in rows
        ]
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(OcidCacheRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[OcidCacheRow.character_name],
            set_={
                "world_name": stmt.excluded.world_name,
                "ocid": stmt.excluded.ocid,
                "fetched_at": stmt.excluded.fetched_at,
            },
        )
        async with self._session.begin() as session:
            # Last one wins inside a batch: a name may repeat across worlds.
            deduped = list({v["character_name"]: v for v in values}.values())
            for start in range(0, len(deduped), 500):
                await session.execute(stmt, deduped[start : start + 500])

    # -- status ----------------------------------------------------------------

    async def status_snapshot(self) -> StatusSnapshot:
        """What `/run-status` shows; concurrent pollers share reads (never a stale one)."""
        return await self._status_reads()

    async def _read_status_snapshot(self) -> StatusSnapshot:
        kinds = ("active", "newest", "terminal", "loop")
        snap: dict[str, dict[Phase, Any]] = {kind: dict.fromkeys(ORDER) for kind in kinds}
        rows: dict[tuple[bool, str], RunRow | LoopRow] = {}  # by (is a loop, id)
        async with self._read() as session:
            picked = [tuple(row) for row in (await session.execute(_STATUS_PICKS)).all()]
            for loops, key in ((False, RunRow.run_id), (True, LoopRow.loop_id)):
                ids = {row_id for kind, _, row_id in picked if (kind == "loop") is loops}
                if ids:
                    found = await session.execute(select(key.class_).where(key.in_(ids)))
                    rows.update(((loops, getattr(r, key.key)), r) for r in found.scalars())
        for kind, phase, row_id in picked:
            snap[kind][Phase(phase)] = rows.get((kind == "loop", row_id))
        return StatusSnapshot(
            active=snap["active"],
            newest=snap["newest"],
            last_terminal=snap["terminal"],
            newest_loop=snap["loop"],
        )
