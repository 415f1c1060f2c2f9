"""Parts of `daily_collection_pipeline` that carry logic: task ids, the branch, the
conf guard of the first task, the snapshot date, and the steps runner.

Every path task hangs directly off `branch_on_scope`, which skips by id every task
this run does not need; each per-phase task also depends on EVERY per-phase task
before it, which keeps the chosen ones in the fixed order (docs/airflow.md, "What
the DAG does").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSkipException,
    DownstreamTasksSkipped,
)

from maplecollect.airflow.assets import all_assets, asset_for
from maplecollect.airflow.operators import (
    NOTHING_TO_STOP,
    ExtApiOperator,
    LoopPhaseOperator,
    StopLoopOperator,
    StopPhaseOperator,
    TriggerDailyOperator,
    TriggerPhaseOperator,
)
from maplecollect.airflow.outcome import Target
from maplecollect.airflow.scope import (
    SCOPE_STEPS,
    Action,
    ConfError,
    Mode,
    Plan,
    Step,
    plan_from_params,
    resolve_upstream,
)
from maplecollect.airflow.sensors import DailyChainSensor, PhaseRunSensor
from maplecollect.airflow.settings import WaitSettings
from maplecollect.airflow.waiting import defer, look_or_defer, raise_for_event

log = logging.getLogger(__name__)

# Runs when nothing before it failed and something before it succeeded (the branch
# always has); tasks the branch did not keep are already SKIPPED.
PATH_RULE = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS

DAG_ID = "daily_collection_pipeline"
CHECK_TASK = "check_external_api"
BRANCH_TASK = "branch_on_scope"
DAILY_TRIGGER_TASK = "trigger_daily_collection"
DAILY_WAIT_TASK = "wait_for_daily_chain"
STEPS_TASK = "run_steps"
KST = ZoneInfo("Asia/Seoul")
# Scheduled and backfill runs collect the KST day of their data interval.
_INTERVAL_RUN_TYPES = ("scheduled", "backfill")


def step_task_id(step: Step) -> str:
    """Per-phase task id of a scope step, e.g. `per_phase_stop_loop_item_equipment`."""
    return f"per_phase_{step.action.value}_{step.phase.value.lower()}"


def wait_task_id(step: Step) -> str:
    return f"per_phase_wait_{step.phase.value.lower()}_completion"


def scope_task_ids(step: Step) -> list[str]:
    """The task(s) of one scope step: a trigger has its wait after it."""
    if step.action is Action.TRIGGER:
        return [step_task_id(step), wait_task_id(step)]
    return [step_task_id(step)]


PER_PHASE_TASKS: tuple[str, ...] = tuple(t for s in SCOPE_STEPS for t in scope_task_ids(s))
DAILY_TASKS: tuple[str, ...] = (DAILY_TRIGGER_TASK, DAILY_WAIT_TASK)
PATH_TASKS: tuple[str, ...] = (*DAILY_TASKS, *PER_PHASE_TASKS, STEPS_TASK)


def _plan(context: Mapping[str, Any]) -> Plan:
    # Dates were checked by the first task; later tasks only need the shape.
    return plan_from_params(context["params"], check_date=False)


# -- the snapshot date ---------------------------------------------------------------


def snapshot_date(params: Mapping[str, Any], dag_run: Any) -> str:
    """The date a run asks the service for ("" = the service's default): `conf.date`,
    else for a scheduled or backfill run the KST day its data interval starts on
    (docs/airflow.md, "Backfill"), else the service's default."""
    given = params.get("date")
    if given:
        return str(given)
    start = getattr(dag_run, "data_interval_start", None)
    run_type = getattr(dag_run, "run_type", None)
    by_interval = str(getattr(run_type, "value", run_type)) in _INTERVAL_RUN_TYPES
    if by_interval and isinstance(start, datetime):
        return start.astimezone(KST).date().isoformat()
    return ""


DATE_TEMPLATE = "{{ snapshot_date(params, dag_run) }}"
USER_DEFINED_MACROS = {"snapshot_date": snapshot_date}


def check_conf(context: Mapping[str, Any]) -> None:
    """pre_execute of the first task: refuse a bad conf before any call to the service."""
    dag_run = context.get("dag_run")
    raw = getattr(dag_run, "conf", None) or {}
    try:
        plan = plan_from_params(context["params"], raw_conf=raw, now=datetime.now(UTC))
    except ConfError as exc:
        raise AirflowFailException(f"invalid conf: {exc}") from None
    steps = ", ".join(s.token for s in plan.steps) or "-"
    date = snapshot_date(context["params"], dag_run) or "the service's default"
    log.info("conf accepted: mode=%s steps=[%s] date=%s", plan.mode.value, steps, date)


# -- the branch ------------------------------------------------------------------------


def branch_plan(params: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(tasks to run in order, {task to skip: why}) for this conf. Pure."""
    plan = plan_from_params(params, check_date=False)
    scope = [s.token for s in plan.steps]
    keep = [t for s in plan.steps for t in scope_task_ids(s)]
    why_not = ""
    if plan.mode is Mode.FULL_DAILY:
        keep, why_not = list(DAILY_TASKS), "the conf runs the daily chain (FULL_DAILY)"
    elif plan.mode is Mode.STEPS:
        keep, why_not = [STEPS_TASK], "the conf gives steps"
    why = {
        t: why_not or f"{s.token} not in scope {scope}"
        for s in SCOPE_STEPS
        for t in scope_task_ids(s)
    }
    why.update({t: why_not or f"scope {scope} is not FULL_DAILY" for t in DAILY_TASKS})
    why[STEPS_TASK] = "the conf gives no steps"
    return keep, {task_id: reason for task_id, reason in why.items() if task_id not in keep}


class ScopeBranchOperator(BaseOperator):
    """Keeps exactly the tasks this run needs and skips every other path task at once,
    by id, logging why (BranchPythonOperator never skips a task downstream of a
    followed one, and here each per-phase task is downstream of every earlier one)."""

    def execute(self, context: Any) -> list[str]:
        keep, skip = branch_plan(context["params"])
        self.log.info("running %s", ", ".join(keep))
        for task_id, why in skip.items():
            self.log.info("skipping %s: %s", task_id, why)
        ours = set(skip) & set(self.downstream_task_ids)
        if ours:
            raise DownstreamTasksSkipped(tasks=sorted(ours))  # type: ignore[no-untyped-call]
        return keep


class InScope:
    """pre_execute of a per-phase task cleared by hand after the branch skipped it:
    skip again, with the branch's reason, unless `step` is in the scope."""

    def __init__(self, step: Step) -> None:
        self.step = step

    def __call__(self, context: Mapping[str, Any]) -> None:
        why = branch_plan(context["params"])[1].get(step_task_id(self.step))
        if why is not None:
            raise AirflowSkipException(why)


def upstream_template(step: Step) -> str | None:
    """Jinja for a per-phase trigger's X-Upstream-Run-Id (None for the root phase):
    `upstream_run_ids[PHASE]`, else this run's upstream wait XCom, else `latest`."""
    upstream = step.phase.upstream
    if upstream is None:
        return None
    wait_id = wait_task_id(Step(Action.TRIGGER, upstream))
    return (
        "{{ (params.upstream_run_ids or {}).get('" + step.phase.value + "') "
        "or ti.xcom_pull(task_ids='" + wait_id + "') or 'latest' }}"
    )


def xcom_template(task_id: str) -> str:
    """Jinja for the return value (XCom) of `task_id` in this DAG run."""
    return "{{ ti.xcom_pull(task_ids='" + task_id + "') }}"


# -- steps: one task, deferring between steps ------------------------------------------


class RunStepsOperator(ExtApiOperator):
    """Runs the conf's `steps` in order as ONE task, deferring while a trigger step's run
    or a stopped phase is waited on (docs/airflow.md, `run_steps`); returns (XCom)
    `[{step, action, phase, id}, ...]`. No retries: a retry would restart at step 1.
    """

    def __init__(
        self,
        *,
        phase_timeouts: Mapping[str, float],
        idle_timeout: float = 3600.0,
        poll_interval: float = 30.0,
        progress_interval: float = 300.0,
        unreachable_timeout: float = 900.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.phase_timeouts = dict(phase_timeouts)
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self.unreachable_timeout = unreachable_timeout

    def execute(self, context: Any) -> list[dict[str, Any]]:
        plan = _plan(context)
        if plan.mode is not Mode.STEPS:
            raise AirflowSkipException("the conf gives no steps")
        self.log.info("%d step(s): %s", len(plan.steps), ", ".join(s.token for s in plan.steps))
        return self._run_from(context, plan, 0, [])

    def resume_step(
        self,
        context: Any,
        event: Any = None,
        index: int = 0,
        done: list[dict[str, Any]] | None = None,
        stopped: str | None = None,
    ) -> list[dict[str, Any]]:
        """After step `index` waited in the triggerer: judge it, then run the rest. Where
        to go on comes back in the event's `echo` (`dag.test()` drops the defer's kwargs)."""
        plan = _plan(context)
        raise_for_event(event, sensor=False)
        echo = event.get("echo") if isinstance(event.get("echo"), dict) else {}
        index, done = echo.get("index", index), echo.get("done", done)
        self.log.info("step %d/%d done: %s", index + 1, len(plan.steps), event.get("message"))
        return self._run_from(context, plan, index + 1, list(done or []))

    def _run_from(
        self, context: Any, plan: Plan, start: int, done: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        date = snapshot_date(context["params"], context.get("dag_run")) or None
        for index in range(start, len(plan.steps)):
            step = plan.steps[index]
            label = f"step {index + 1}/{len(plan.steps)} ({step.action} {step.phase})"
            ids = [d["id"] for d in done]
            target_id = self.send(
                step.action,
                step.phase,
                context,
                label=label,
                upstream_run_id=resolve_upstream(plan.steps, index, plan.upstream_run_ids, ids),
                date=date,
            )
            done.append({"step": index + 1, **step.as_dict(), "id": target_id})
            state = {"index": index, "done": done}
            resume: dict[str, Any] = {"method_name": "resume_step", "kwargs": state, "echo": state}
            if step.action is Action.TRIGGER and target_id is not None:
                self.log.info("%s: waiting for run %s in the triggerer", label, target_id)
                timeout = self.phase_timeouts[step.phase.value]
                defer(self, Target.RUN, target_id, timeout=timeout, **resume)
            if step.action in (Action.STOP, Action.STOP_LOOP) and target_id != NOTHING_TO_STOP:
                resume["kwargs"] = {"stopped": target_id, **state}
                idle, _ = look_or_defer(
                    self, Target.PHASE_IDLE, step.phase.value, timeout=self.idle_timeout, **resume
                )
                self.log.info("step %d/%d done: %s", index + 1, len(plan.steps), idle)
        self.log.info("all %d step(s) done", len(plan.steps))
        return done


# -- builders used by the DAG file ------------------------------------------------


def per_phase_chain(settings: WaitSettings) -> list[BaseOperator]:
    """All per-phase tasks in execution order (stops, triggers + waits, loops)."""
    return [task for step in SCOPE_STEPS for task in per_phase_tasks(step, settings)]


def wire_in_order(branch: BaseOperator, tasks: Sequence[BaseOperator]) -> None:
    """Each task after the branch AND after every task before it (see the module doc)."""
    for index, task in enumerate(tasks):
        branch >> task
        for earlier in tasks[:index]:
            earlier >> task


def daily_tasks(settings: WaitSettings) -> list[BaseOperator]:
    trigger = TriggerDailyOperator(task_id=DAILY_TRIGGER_TASK, date=DATE_TEMPLATE)
    wait = DailyChainSensor(
        task_id=DAILY_WAIT_TASK,
        chain_id=xcom_template(DAILY_TRIGGER_TASK),
        timeout=settings.daily_timeout,
        outlets=all_assets(),
        **settings.wait_kwargs(),
    )
    return [trigger, wait]


def steps_task(settings: WaitSettings) -> BaseOperator:
    return RunStepsOperator(
        task_id=STEPS_TASK,
        phase_timeouts={p.value: t for p, t in settings.phase_timeouts.items()},
        idle_timeout=settings.stop_timeout,
        **settings.wait_kwargs(),
    )


def per_phase_tasks(step: Step, settings: WaitSettings) -> list[BaseOperator]:
    """The task(s) of one scope step."""
    common: dict[str, Any] = {"trigger_rule": PATH_RULE, "pre_execute": InScope(step)}
    stop_kwargs: dict[str, Any] = {"idle_timeout": settings.stop_timeout, **settings.wait_kwargs()}
    task_id = step_task_id(step)
    if step.action in (Action.STOP, Action.STOP_LOOP):
        stop = StopPhaseOperator if step.action is Action.STOP else StopLoopOperator
        return [stop(task_id=task_id, phase=step.phase, **stop_kwargs, **common)]
    if step.action is Action.LOOP:
        return [LoopPhaseOperator(task_id=task_id, phase=step.phase, date=DATE_TEMPLATE, **common)]
    trigger = TriggerPhaseOperator(
        task_id=task_id,
        phase=step.phase,
        upstream_run_id=upstream_template(step),
        date=DATE_TEMPLATE,
        **common,
    )
    wait = PhaseRunSensor(
        task_id=wait_task_id(step),
        run_id=xcom_template(task_id),
        timeout=settings.phase_timeouts[step.phase],
        outlets=[asset_for(step.phase)],
        **settings.wait_kwargs(),
        **common,
    )
    return [trigger, wait]
