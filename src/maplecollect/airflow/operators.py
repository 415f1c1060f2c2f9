"""Operators for trigger / daily / loop / stop / stop-loop. They only call the hook.

Every POST carries `X-Airflow-Run-Id`. Refusals fail the task at once, body verbatim
(a retry would get the same answer); an unreachable service fails after the retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from maplecollect.airflow.connection import DEFAULT_CONN_ID
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Target
from maplecollect.airflow.scope import Action
from maplecollect.airflow.waiting import blank_to_none, look_or_defer, raise_for_event
from maplecollect.client.calls import StopRequested
from maplecollect.client.errors import Conflict, Refused
from maplecollect.client.sync import ControlClient
from maplecollect.contract import LoopActive
from maplecollect.phases import Phase

AIRFLOW_RUN_ID_MAX = 250
# What `ExtApiOperator.send` returns for a stop when nothing held the phase.
NOTHING_TO_STOP = ""


def airflow_run_id_of(context: Any) -> str:
    """`<dag_id>/<run_id>/<task_id>` as printable ASCII, at most 250 characters."""
    ti = context["ti"]
    raw = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}"
    return "".join(c if 32 <= ord(c) < 127 else "_" for c in raw)[:AIRFLOW_RUN_ID_MAX]


def stop_description(result: StopRequested) -> str:
    """`stop requested: run X of loop Y`; says so when a loop was between iterations."""
    if result.loop_id and result.run_id:
        return f"stop requested: run {result.run_id} (iteration of loop {result.loop_id})"
    if result.loop_id:
        return f"stop requested: loop {result.loop_id} (between iterations, no run to stop)"
    if result.run_id:
        return f"stop requested: run {result.run_id}"
    return "stop requested (no run holds the phase right now)"


@contextmanager
def refusals_fail_task() -> Iterator[None]:
    """A refusal will not change on retry: fail without retrying, body kept verbatim.

    A loop holding the phase says how to free it in the DAG's own terms."""
    try:
        yield
    except Refused as exc:
        hint = ""
        if isinstance(exc, Conflict) and isinstance(exc.conflict, LoopActive):
            hint = f" -- stop it first with {exc.conflict.phase}_STOP_LOOP"
        raise AirflowFailException(f"{exc}{hint}") from None


class ExtApiOperator(BaseOperator):
    """Base: holds the connection id and hands out the client."""

    def __init__(self, *, conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def api(self) -> ControlClient:
        """A client of the task's connection (`with self.api() as api: ...`)."""
        return ExtApiHook(self.conn_id).get_conn()

    def send(
        self,
        action: Action,
        phase: Phase,
        context: Any,
        *,
        label: str | None = None,
        upstream_run_id: str | None = None,
        date: str | None = None,
        interval_seconds: float | None = None,
    ) -> str | None:
        """Send one phase action, logging under `label` (default: the phase). Returns the
        run id (trigger), the loop id (loop), or the stopped run id (stop; None when a
        loop was between iterations, NOTHING_TO_STOP when nothing held the phase)."""
        label = label or phase
        airflow_run_id = airflow_run_id_of(context)
        with refusals_fail_task(), self.api() as api:
            if action is Action.TRIGGER:
                run = api.trigger_phase(
                    phase, upstream_run_id=upstream_run_id, date=date, airflow_run_id=airflow_run_id
                )
                self.log.info(
                    "%s: %s run %s (upstream %s, date %s)",
                    label,
                    "following running" if run.followed else "started",
                    run.run_id,
                    run.upstream_run_id or upstream_run_id,
                    run.snapshot_date,
                )
                return run.run_id
            if action is Action.LOOP:
                loop = api.start_loop(
                    phase,
                    date=date,
                    interval_seconds=interval_seconds,
                    airflow_run_id=airflow_run_id,
                )
                verb = "already active" if loop.already_active else "started"
                self.log.info("%s: loop %s %s", label, loop.loop_id, verb)
                return loop.loop_id
            stop = (api.stop_phase if action is Action.STOP else api.stop_loop)(
                phase, airflow_run_id=airflow_run_id
            )
        if not stop.requested:
            self.log.info("%s: nothing to stop", label)
            return NOTHING_TO_STOP
        self.log.info("%s: %s", label, stop_description(stop))
        return stop.run_id


class TriggerPhaseOperator(ExtApiOperator):
    """Start one phase run; returns (XCom) the runId to wait on, or the occupying run's
    on a 409 ALREADY_RUNNING. Templated: `upstream_run_id` (a run id or ``latest``,
    the default for non-root phases) and `date` (empty: the service's default).
    """

    template_fields: Sequence[str] = ("upstream_run_id", "date")

    def __init__(
        self,
        *,
        phase: Phase | str,
        upstream_run_id: str | None = None,
        date: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.phase = Phase(phase)
        self.upstream_run_id = upstream_run_id
        self.date = date

    def execute(self, context: Any) -> str | None:
        return self.send(
            Action.TRIGGER,
            self.phase,
            context,
            upstream_run_id=blank_to_none(self.upstream_run_id),
            date=blank_to_none(self.date),
        )


class TriggerDailyOperator(ExtApiOperator):
    """Start the daily chain (all four phases in the service); returns the chainId."""

    template_fields: Sequence[str] = ("date",)

    def __init__(self, *, date: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.date = date

    def execute(self, context: Any) -> str:
        date = blank_to_none(self.date)
        with refusals_fail_task(), self.api() as api:
            result = api.trigger_daily(date=date, airflow_run_id=airflow_run_id_of(context))
            verb = "already running, following" if result.followed else "started"
            self.log.info("daily chain %s: %s", verb, result.chain_id)
            # Following another day's chain would "succeed" without collecting this
            # day (e.g. two backfill days at once): refuse instead.
            held = api.chain(result.chain_id).snapshot_date if result.followed and date else None
        if held not in (None, date):
            raise AirflowFailException(
                f"the daily chain {result.chain_id} of {held} holds the phases, not one "
                f"of {date}: run days one after another (backfill: --max-active-runs 1)"
            )
        return result.chain_id


class LoopPhaseOperator(ExtApiOperator):
    """Start a loop of a loopable phase; LOOP_ALREADY_ACTIVE is a success. Returns the loopId."""

    template_fields: Sequence[str] = ("date",)

    def __init__(
        self,
        *,
        phase: Phase | str,
        date: str | None = None,
        interval_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.phase = Phase(phase)
        self.date = date
        self.interval_seconds = interval_seconds

    def execute(self, context: Any) -> str | None:
        return self.send(
            Action.LOOP,
            self.phase,
            context,
            date=blank_to_none(self.date),
            interval_seconds=self.interval_seconds,
        )


class _StopOperator(ExtApiOperator):
    """Ask for a stop, then (by default) wait in the triggerer until the phase is idle,
    so a trigger or loop that follows in the same DAG run finds the slot free.
    Returns the stopped runId, or None when nothing was running."""

    action: Action

    def __init__(
        self,
        *,
        phase: Phase | str,
        wait_for_idle: bool = True,
        poll_interval: float = 30.0,
        idle_timeout: float = 3600.0,
        progress_interval: float = 300.0,
        unreachable_timeout: float = 900.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.phase = Phase(phase)
        self.wait_for_idle = wait_for_idle
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self.progress_interval = progress_interval
        self.unreachable_timeout = unreachable_timeout

    def execute(self, context: Any) -> str | None:
        stopped = self.send(self.action, self.phase, context)
        if stopped == NOTHING_TO_STOP:
            return None
        if self.wait_for_idle:
            idle, _ = look_or_defer(
                self,
                Target.PHASE_IDLE,
                self.phase.value,
                timeout=self.idle_timeout,
                kwargs={"stopped": stopped},
            )
            self.log.info("%s", idle)
        return stopped

    def execute_complete(
        self, context: Any, event: Any = None, stopped: str | None = None
    ) -> str | None:
        """After the wait for idle: the stopped runId, or raise."""
        raise_for_event(event, sensor=False)
        self.log.info("%s", event.get("message"))
        return stopped


class StopPhaseOperator(_StopOperator):
    """Stop a phase's run (and its loop, per the service). NOT_RUNNING is a success."""

    action = Action.STOP


class StopLoopOperator(_StopOperator):
    """Stop a phase's loop and its running iteration. NOT_LOOPING is a success."""

    action = Action.STOP_LOOP
