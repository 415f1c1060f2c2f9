"""The supervisor: phase slots, runs, loops, chains, stop and resume.

Every decision that must hold across processes is made in the database; this
object runs the tasks of the runs it owns under a fenced lease (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from maplecollect.config import Settings
from maplecollect.control.chains import Chains
from maplecollect.control.context import PhaseRunner, RunContext, RunFinalizer
from maplecollect.control.executor import run_row, wait_event
from maplecollect.control.loops import Loops
from maplecollect.control.outcome_policy import OutcomePolicy
from maplecollect.control.owner import is_dead_local_owner, new_owner_id
from maplecollect.control.progress import Progress
from maplecollect.control.services import Services
from maplecollect.dates import LATEST, default_snapshot_date, parse_snapshot_date
from maplecollect.echo import echo
from maplecollect.errors import (
    ClosedError,
    ConfigError,
    InvalidRequest,
    LeaseLost,
    MaplecollectError,
    MissingUpstream,
    NexonApiError,
    RunFatalError,
    RunNotFound,
    StoreError,
    UpstreamEmpty,
    UpstreamNotAllowed,
    UpstreamNotCompleted,
    UpstreamNotFound,
    UpstreamPhaseMismatch,
)
from maplecollect.ids import is_valid_id
from maplecollect.metrics import RECORDS, RUNS_FINISHED
from maplecollect.nexon.pause import PauseState
from maplecollect.phases import Phase
from maplecollect.state.models import LoopRow, RunRow, RunStatus
from maplecollect.state.repository import Lease, Repository

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _with_records(upstream: RunRow) -> RunRow:
    """An upstream must have published records: an empty one would feed an empty run."""
    if upstream.records_processed == 0:
        raise UpstreamEmpty(upstream.run_id, upstream.phase)
    return upstream


@dataclass
class RunHandle:
    run: RunRow
    progress: Progress
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[RunStatus | None] | None = None
    shutdown: bool = False
    reported: tuple[int, int] = (0, 0)  # records/failed already counted in metrics
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # Ends the progress ticker by event, never by cancellation: a ticker
    # cancelled inside a DB transaction could leave SQLite's write lock held.
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    final_status: RunStatus | None = None
    # The pause last written to the run row (None: not paused), so it is written on change only.
    pause: PauseState | None = None
    # Set when this process learns that another one took the run over.
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    # A stop asked for by a user (not by shutdown): wins over INTERRUPTED.
    stop_asked: bool = False
    # Auto-resume gave up: end the run FAILED with this reason, collect nothing.
    give_up: str | None = None

    @property
    def lease(self) -> Lease:
        return Lease.of(self.run)

    def ask_stop(self) -> None:
        """A stop asked for by a user (any replica): the run ends STOPPED."""
        self.stop_asked = True
        self.stop.set()


@dataclass(frozen=True)
class StopResult:
    """Outcome of a stop request: `run_id` is the stopped run or, if idle, the last one."""

    requested: bool
    run_id: str | None
    loop_id: str | None = None


class Supervisor:
    """Runs phases for this process. Use as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        runners: Mapping[Phase, PhaseRunner],
        *,
        services: Services | None = None,
        finalizer: RunFinalizer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.owner = new_owner_id()
        self._runners = dict(runners)
        self._services = services or Services(settings)
        self._finalizer = finalizer
        self._clock = clock
        self._policy = OutcomePolicy.from_settings(settings)
        self._runs: dict[str, RunHandle] = {}
        # The drivers see this object only as their RunExecutor (control/executor.py).
        self._loops = Loops(self, repo, settings)
        self._chains = Chains(self, repo, settings, phase_done=self._loops.wake_all)
        self._background: asyncio.Task[None] | None = None
        self._closed = False
        self._closing = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Sweep runs of dead owners (INTERRUPTED and resumed here, or ABANDONED
        without auto-resume) and start heart-beating."""
        self._check_open()
        await self.sweep()
        self._background = asyncio.create_task(self._heartbeat_loop(), name="supervisor-heartbeat")

    def now(self) -> datetime:
        return self._clock()

    @property
    def releasing(self) -> bool:
        """Closing with auto-resume: loops and chains are left for another owner."""
        return self._closed and self.settings.auto_resume

    async def close(self) -> None:
        """Stop this process's work: runs publish what they collected and end INTERRUPTED
        (auto-resume) or ABANDONED; loops and chains are left for the next owner or end."""
        if self._closed:
            return
        self._closed = True
        drivers = [*self._loops.cancel_all(), *self._chains.cancel_all()]
        for handle in list(self._runs.values()):
            handle.shutdown = True
            handle.stop.set()
        pending: list[asyncio.Task[Any]] = [h.task for h in self._runs.values() if h.task]
        pending += drivers
        if pending:
            _done, still = await asyncio.wait(pending, timeout=30)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)
        if self._background is not None:
            self._closing.set()
            await asyncio.gather(self._background, return_exceptions=True)
        await self._services.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("supervisor is closed")

    def _backoff(self, attempts: int) -> float:
        base = self.settings.auto_resume_backoff_seconds
        return float(min(base * 2**attempts, self.settings.auto_resume_max_backoff_seconds))

    async def sweep(self) -> None:
        """Take the lease from owners that are gone; with auto-resume, resume their
        runs and re-attach their loops and chains here."""
        owners = await self.repo.active_owners()
        dead = [o for o in owners if is_dead_local_owner(o, me=self.owner)]
        stale = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        now = self._clock()
        swept = await self.repo.sweep_dead(
            now=now,
            stale_after=stale,
            dead_owners=dead,
            auto_resume=self.settings.auto_resume,
            backoff=self._backoff,
        )
        for run_id in swept.abandoned:
            log.warning("run %s abandoned: its owner stopped heart-beating", run_id)
        for run_id in swept.interrupted:
            log.warning("run %s interrupted: its owner stopped heart-beating", run_id)
        if self.settings.auto_resume and not self._closed:
            await self._adopt(now=now, stale=stale, dead=dead)
            claimed = await self.repo.claim_interrupted(
                owner=self.owner,
                now=self._clock(),
                max_attempts=self.settings.auto_resume_max_attempts,
            )
            for claim in claimed:
                run = claim.run
                if claim.give_up:
                    log.error("run %s: giving up auto-resume: %s", run.run_id, claim.give_up)
                else:
                    log.warning(
                        "run %s resumed automatically (epoch %d, attempt %d)",
                        run.run_id,
                        run.lease_epoch,
                        run.auto_resume_attempts,
                    )
                self._spawn(run, give_up=claim.give_up)

    async def _adopt(self, *, now: datetime, stale: timedelta, dead: list[str]) -> None:
        """Re-attach the drivers of chains and loops whose process died."""
        chains, loops = await self.repo.adopt_drivers(
            owner=self.owner, now=now, stale_after=stale, dead_owners=dead
        )
        for chain in chains:
            log.warning("chain %s adopted: its owner stopped heart-beating", chain.chain_id)
            self._chains.drive(chain)
        for loop in loops:
            log.warning("loop %s adopted: its owner stopped heart-beating", loop.loop_id)
            self._loops.drive(loop)

    async def _heartbeat_loop(self) -> None:
        while not await wait_event(self._closing, self.settings.heartbeat_seconds):
            try:
                lost = await self.repo.heartbeat(
                    now=self._clock(),
                    owner=self.owner,
                    leases=[h.lease for h in self._runs.values() if not h.lost.is_set()],
                    loop_ids=self._loops.ids,
                    chain_ids=self._chains.ids,
                )
                for run_id in lost.lost_runs:
                    self._lose(run_id, "heartbeat")
                for loop_id in lost.lost_loops:
                    self._loops.lose(loop_id)
                for chain_id in lost.lost_chains:
                    self._chains.lose(chain_id)
                await self._loops.pull_stops()
                await self.sweep()
            except Exception:  # the DB may be briefly down; keep beating
                log.exception("heartbeat failed")

    def _lose(self, run_id: str, where: str) -> None:
        """Another process holds the run now: stop this attempt, publish nothing more."""
        handle = self._runs.get(run_id)
        if handle is None or handle.lost.is_set():
            return
        log.error(
            "run %s: lost the lease (owner %s, epoch %d) - found at %s; another process "
            "took the run over, so this process stops it without publishing anything more",
            run_id,
            self.owner,
            handle.run.lease_epoch,
            where,
        )
        handle.lost.set()
        handle.stop.set()
        # The runner returns within a batch once stopped; cancel it if it does not.
        task = handle.task
        if task is not None:
            asyncio.get_running_loop().call_later(
                5.0, lambda: None if task.done() else task.cancel()
            )

    # -- upstream resolution -------------------------------------------------

    async def _resolve_upstream(self, phase: Phase, upstream: str | None) -> RunRow | None:
        """Check the upstream run named for `phase` (or `latest`); None for the root phase."""
        expected = phase.upstream
        if expected is None:
            if upstream:
                raise UpstreamNotAllowed(phase.value)
            return None
        if not upstream:
            raise MissingUpstream(phase.value, expected.value)
        if upstream == LATEST:
            run = await self.repo.newest_completed(expected)
            if run is None:
                raise UpstreamNotFound(LATEST, expected.value)
            return _with_records(run)
        if not is_valid_id(upstream):
            raise InvalidRequest(
                "INVALID_RUN_ID",
                "X-Upstream-Run-Id is not a valid run id",
                upstreamRunId=echo(upstream),
            )
        run = await self.repo.get_run(upstream)
        if run is None:
            raise UpstreamNotFound(upstream, expected.value)
        if run.phase != expected.value:
            raise UpstreamPhaseMismatch(upstream, expected.value, run.phase)
        if run.status != RunStatus.COMPLETED.value:
            raise UpstreamNotCompleted(upstream, run.status)
        return _with_records(run)

    def _snapshot_date(self, requested: str | None, *, upstream: RunRow | None, loop: bool) -> str:
        """Requested date, else the upstream's, else `latest` for loops / yesterday KST."""
        now = self._clock()
        if requested is not None:
            return parse_snapshot_date(requested, now=now)
        if loop:
            return LATEST
        if upstream is not None and upstream.snapshot_date != LATEST:
            return upstream.snapshot_date
        return default_snapshot_date(now)

    # -- one-shot runs -------------------------------------------------------

    async def trigger_phase(
        self,
        phase: Phase,
        *,
        upstream: str | None = None,
        date: str | None = None,
        airflow_run_id: str | None = None,
    ) -> RunRow:
        """Take the phase slot and start the run (UpstreamError, InvalidRequest, SlotConflict)."""
        self._check_open()
        upstream_run = await self._resolve_upstream(phase, upstream)
        snapshot = self._snapshot_date(date, upstream=upstream_run, loop=False)
        row = run_row(
            phase,
            owner=self.owner,
            now=self._clock(),
            upstream=upstream_run,
            snapshot_date=snapshot,
            airflow_run_id=airflow_run_id,
        )
        return await self.start_run(row)

    async def start_run(self, row: RunRow) -> RunRow:
        """Take the run's phase slot (SlotConflict if held) and execute it here."""
        run = await self.repo.create_run(row, clock=self._clock)
        self._spawn(run)
        return run

    async def resume(self, run_id: str) -> RunRow:
        """Continue an ABANDONED or FAILED run after its last published chunk, same runId."""
        self._check_open()
        run = await self.repo.resume_run(run_id, owner=self.owner, now=self._clock())
        self._spawn(run)
        return run

    def execute(self, run: RunRow) -> None:
        """Execute a run whose phase slot is already held (the daily chain's first run)."""
        self._spawn(run)

    def _spawn(self, run: RunRow, *, give_up: str | None = None) -> None:
        handle = RunHandle(
            run=run,
            progress=Progress(
                total_keys=run.total_keys,
                records=run.records_processed,
                failed=run.records_failed,
                chunks=run.chunks_processed,
            ),
            reported=(run.records_processed, run.records_failed),
            pause=_row_pause(run),
            give_up=give_up,
        )
        if run.stop_requested:  # stopped while INTERRUPTED: end it STOPPED
            handle.ask_stop()
        self._runs[run.run_id] = handle
        handle.task = asyncio.create_task(self._execute(handle), name=f"run-{run.run_id}")

    async def wait_run(self, run_id: str) -> RunStatus:
        """Wait for a run to end, through interruptions and takeovers (then the database
        is polled); returns its terminal status."""
        handle = self._runs.get(run_id)
        if handle is not None:
            await handle.done.wait()
            if handle.final_status is not None and handle.final_status.terminal:
                return handle.final_status
            if self._closed:
                return handle.final_status or RunStatus.INTERRUPTED
        while True:
            run = await self.repo.get_run(run_id)
            if run is None:
                raise RunNotFound(run_id)
            status = RunStatus(run.status)
            if status.terminal:
                return status
            local = self._runs.get(run_id)
            if local is not None:  # resumed here meanwhile
                return await self.wait_run(run_id)
            await asyncio.sleep(self.settings.progress_seconds)

    async def _execute(self, handle: RunHandle) -> RunStatus | None:
        run = handle.run
        status: RunStatus | None = RunStatus.FAILED
        error: str | None = None
        ticker = asyncio.create_task(self._progress_loop(handle), name=f"progress-{run.run_id}")
        # Every run is bounded, so whoever waits for it (chain, loop, CLI) is too.
        deadline = asyncio.timeout(self.settings.run_max_seconds)
        try:
            runner = self._runners.get(Phase(run.phase))
            if handle.give_up is not None:
                raise RunFatalError(handle.give_up)
            if runner is None:
                raise ConfigError(f"no runner is configured for {run.phase}")
            chunks = await self.repo.list_chunks(run.run_id)
            ctx = RunContext(
                run=run,
                settings=self.settings,
                repo=self.repo,
                services=self._services,
                progress=handle.progress,
                stop=handle.stop,
                chunks=chunks,
                breaker=self._policy.new_breaker(),
                lost=handle.lost,
            )
            async with deadline:
                await runner.run(ctx)
            if handle.lost.is_set():
                raise LeaseLost(run.run_id, run.lease_epoch, "finishing")
            if handle.shutdown and not handle.stop_asked:
                status, error = self._shutdown_status(run)
            elif handle.stop.is_set():
                status, error = RunStatus.STOPPED, "stopped on request"
            else:  # ran to its end: the outcome policy decides (docs/collection.md)
                error = self._policy.judge(Phase(run.phase), handle.progress)
                status = RunStatus.COMPLETED if error is None else RunStatus.FAILED
        except TimeoutError as exc:
            status = RunStatus.FAILED
            if deadline.expired():
                error = (
                    "RUN_TIMEOUT: still running after MAPLECOLLECT_RUN_MAX_SECONDS="
                    f"{self.settings.run_max_seconds:g}"
                )
            else:
                log.exception("run %s crashed", run.run_id)
                error = f"internal error: {type(exc).__name__}: {exc}"
        except LeaseLost:
            self._lose(run.run_id, "a fenced write")
            status = None
        except asyncio.CancelledError:
            status, error = self._shutdown_status(run)
        except (NexonApiError, StoreError, ConfigError) as exc:  # RunFatalError is a NexonApiError
            status, error = RunStatus.FAILED, str(exc)
        except MaplecollectError as exc:
            status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            log.exception("run %s crashed", run.run_id)
            status, error = RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
        finally:
            handle.ended.set()
            await asyncio.gather(ticker, return_exceptions=True)
        if status is None or handle.lost.is_set():
            self._abandon_attempt(handle)
            return None
        await self._finish(handle, status, error)
        return status

    def _forget_run(self, handle: RunHandle) -> None:
        # Only this attempt: the run may already run here again under a newer epoch.
        if self._runs.get(handle.run.run_id) is handle:
            del self._runs[handle.run.run_id]

    def _abandon_attempt(self, handle: RunHandle) -> None:
        """End a fenced-out attempt locally: no manifest, no status, no row."""
        handle.lost.set()
        handle.final_status = None
        handle.done.set()
        self._forget_run(handle)
        log.error(
            "run %s: this process (%s, epoch %d) exited the run after losing its lease",
            handle.run.run_id,
            self.owner,
            handle.run.lease_epoch,
        )

    def _shutdown_status(self, run: RunRow) -> tuple[RunStatus, str]:
        if self.settings.auto_resume:
            return RunStatus.INTERRUPTED, (
                "the service stopped while this run was in progress; it resumes "
                "automatically when a service is up again"
            )
        return RunStatus.ABANDONED, (
            "the service stopped while this run was in progress; resume it with "
            f"POST /api/internal/resume/run/{run.run_id}"
        )

    async def _finish(self, handle: RunHandle, status: RunStatus, error: str | None) -> None:
        run = handle.run
        manifest_path: str | None = None
        try:
            await self._write_pause(handle, None)  # an ended run waits for nothing
        except Exception:
            log.exception("clearing the pause of run %s failed", run.run_id)
        try:
            await self._write_progress(handle)
            if (
                self._finalizer is not None
                and status.terminal
                and status is not RunStatus.ABANDONED
            ):
                manifest_path = await self._finalizer.finalize(
                    run, status.value, repo=self.repo, services=self._services
                )
        except LeaseLost:
            self._lose(run.run_id, "finalising")
            self._abandon_attempt(handle)
            return
        except Exception as exc:  # the manifest failed: the run cannot be COMPLETED
            log.exception("finalising run %s failed", run.run_id)
            if status is RunStatus.COMPLETED:
                status = RunStatus.FAILED
            error = error or f"writing the manifest failed: {type(exc).__name__}: {exc}"
        for attempt in range(5):
            try:
                await self.repo.finish_run(
                    handle.lease,
                    status,
                    now=self._clock(),
                    error_message=error,
                    manifest_path=manifest_path,
                )
                break
            except LeaseLost:
                self._lose(run.run_id, f"recording {status.value}")
                self._abandon_attempt(handle)
                return
            except Exception:
                log.exception(
                    "recording the end of run %s failed (attempt %d)", run.run_id, attempt
                )
                await asyncio.sleep(min(2**attempt, 10))
        RUNS_FINISHED.labels(run.phase, status.value).inc()
        handle.final_status = status
        handle.done.set()
        self._forget_run(handle)
        log.info("run %s ended %s", run.run_id, status.value)

    async def _write_progress(self, handle: RunHandle) -> bool:
        p = handle.progress
        p.sample()
        done_ok, done_failed = handle.reported
        phase = handle.run.phase
        if p.records > done_ok:
            RECORDS.labels(phase, "ok").inc(p.records - done_ok)
        if p.failed > done_failed:
            RECORDS.labels(phase, "failed").inc(p.failed - done_failed)
        handle.reported = (max(p.records, done_ok), max(p.failed, done_failed))
        return await self.repo.record_progress(
            handle.lease,
            now=self._clock(),
            records_processed=p.records,
            records_failed=p.failed,
            chunks_processed=p.chunks,
            total_keys=p.total_keys,
            rate_per_second=round(p.rate, 2) if p.rate is not None else None,
            eta_seconds=round(p.eta_seconds, 1) if p.eta_seconds is not None else None,
            failures_by_code=p.failures_by_code,
        )

    async def _write_pause(self, handle: RunHandle, pause: PauseState | None) -> None:
        """Put the Nexon client's pause on the run row when it changed (docs/control-api.md)."""
        if pause == handle.pause:
            return
        await self.repo.record_pause(
            handle.lease,
            code=pause.code if pause else None,
            reason=pause.reason if pause else None,
            since=pause.since if pause else None,
            until=pause.until if pause else None,
        )
        handle.pause = pause

    async def _progress_loop(self, handle: RunHandle) -> None:
        """Progress and heartbeat at a bounded rate; picks up stops from any replica
        and notices at once when the lease moved on."""
        while not await wait_event(handle.ended, self.settings.progress_seconds):
            try:
                if await self._write_progress(handle):
                    handle.ask_stop()
                await self._write_pause(handle, self._services.nexon_pause())
            except LeaseLost:
                self._lose(handle.run.run_id, "progress")
                return
            except Exception:
                log.exception("progress write for %s failed", handle.run.run_id)

    # -- stop ------------------------------------------------------------------

    async def stop_phase(self, phase: Phase) -> StopResult:
        """Stop the phase's run, and its loop if one is running."""
        loop = await self.stop_loop(phase)
        active = await self.repo.active_run(phase)
        if active is not None and await self._request_stop(active.run_id):
            return StopResult(True, active.run_id, loop.loop_id if loop else None)
        if loop is not None:
            return StopResult(True, loop.current_run_id or loop.last_run_id, loop.loop_id)
        last = await self.repo.list_runs(phase=phase, limit=1)
        return StopResult(False, last[0].run_id if last else None)

    async def stop_run(self, run_id: str, *, within: float) -> bool:
        """Stop one run (owned here or elsewhere); True once it ended within `within` s."""
        await self._request_stop(run_id)
        try:  # run by another replica, its progress loop reads the stop flag
            async with asyncio.timeout(within):
                await self.wait_run(run_id)
        except TimeoutError:
            return False
        except RunNotFound:
            pass  # deleted: it has ended
        return True

    async def _request_stop(self, run_id: str) -> bool:
        """Flag the run's stop in the database, and at once if it runs here."""
        if not await self.repo.request_run_stop(run_id, now=self._clock()):
            return False
        if (handle := self._runs.get(run_id)) is not None:
            handle.ask_stop()
        return True

    # -- loops -------------------------------------------------------------------

    async def start_loop(
        self,
        phase: Phase,
        *,
        date: str | None = None,
        interval_seconds: float | None = None,
        airflow_run_id: str | None = None,
    ) -> LoopRow:
        """Take the phase for a loop. Raises InvalidRequest (not loopable) or SlotConflict."""
        self._check_open()
        if not phase.loopable:
            raise InvalidRequest("INVALID_PHASE", f"{phase.value} cannot loop")
        return await self._loops.start(
            phase,
            snapshot_date=self._snapshot_date(date, upstream=None, loop=True),
            interval_seconds=0.0 if interval_seconds is None else float(interval_seconds),
            airflow_run_id=airflow_run_id,
        )

    async def stop_loop(self, phase: Phase) -> LoopRow | None:
        """Stop the phase's loop and its running iteration; None if it was not looping."""
        self._check_open()
        loop = await self.repo.request_loop_stop(phase, now=self._clock())
        if loop is None:
            return None
        self._loops.wake(loop.loop_id)
        if loop.current_run_id:
            await self._request_stop(loop.current_run_id)
        return loop

    # -- daily chain -----------------------------------------------------------

    async def trigger_daily(
        self, *, date: str | None = None, airflow_run_id: str | None = None
    ) -> tuple[str, RunRow]:
        """Start the daily chain (SlotConflict if refused); returns its id and first run."""
        self._check_open()
        snapshot = self._snapshot_date(date, upstream=None, loop=False)
        return await self._chains.start(snapshot_date=snapshot, airflow_run_id=airflow_run_id)

    def local_runs(self) -> dict[str, RunHandle]:
        return dict(self._runs)


def _row_pause(run: RunRow) -> PauseState | None:
    if run.pause_code is None or run.pause_since is None:
        return None
    return PauseState(run.pause_code, run.pause_reason or "", run.pause_since, run.pause_until)
