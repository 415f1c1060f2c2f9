"""Parts of `daily_collection_pipeline` that carry logic: task ids, the branch choice,
the conf guard of the first task, the in-scope guards, and the step runner.

Shapes (see docs/airflow.md):

    check_external_api >> branch_on_scope >> trigger_daily_collection >> wait_for_daily_chain
                                          >> per_phase_stop_ranking_fetch >> ... (one chain)
                                          >> step_01 >> step_01_wait >> step_02 >> ... (one chain)

Every per-phase / step task is a direct downstream of `branch_on_scope` and of
the task before it in its chain. The branch follows the first task of the chosen
path, which (Airflow's branch rule) keeps that whole chain, and skips every task
of the other paths at once. Chain tasks use `none_failed_min_one_success`: they
run when nothing before them failed (skipped is fine), so an out-of-scope task
never blocks an in-scope one. A task of the chosen path that is not in the scope
(or a step slot past the end of `steps`) skips itself in `pre_execute`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from maplecollect.airflow.operators import (
    ExtApiOperator,
    LoopPhaseOperator,
    StopLoopOperator,
    StopPhaseOperator,
    TriggerPhaseOperator,
    airflow_run_id_of,
    refusals_fail_task,
)
from maplecollect.airflow.scope import (
    MAX_STEPS,
    SCOPE_STEPS,
    Action,
    ConfError,
    Mode,
    Plan,
    Step,
    plan_from_params,
    resolve_upstream,
    upstream_source,
)
from maplecollect.airflow.sensors import PhaseRunSensor
from maplecollect.airflow.settings import WaitSettings
from maplecollect.airflow.waiting import defer_until_idle, stop_complete

log = logging.getLogger(__name__)

# Runs when its path was chosen and nothing before it failed; SKIPPED (by the
# scheduler, no worker) when every upstream was skipped, i.e. the path was not chosen.
PATH_RULE = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS

DAG_ID = "daily_collection_pipeline"
CHECK_TASK = "check_external_api"
BRANCH_TASK = "branch_on_scope"
DAILY_TRIGGER_TASK = "trigger_daily_collection"
DAILY_WAIT_TASK = "wait_for_daily_chain"


def step_task_id(step: Step) -> str:
    """Per-phase task id of a scope step, e.g. `per_phase_stop_loop_item_equipment`."""
    return f"per_phase_{step.action.value}_{step.phase.value.lower()}"


def wait_task_id(step: Step) -> str:
    return f"per_phase_wait_{step.phase.value.lower()}_completion"


def slot_task_id(index: int) -> str:
    return f"step_{index + 1:02d}"


def slot_wait_task_id(index: int) -> str:
    return f"{slot_task_id(index)}_wait"


def _plan(context: Mapping[str, Any]) -> Plan:
    # Dates were checked by the first task; later tasks only need the shape.
    return plan_from_params(context["params"], check_date=False)


def check_conf(context: Mapping[str, Any]) -> None:
    """pre_execute of the first task: refuse a bad conf before any call to the service."""
    dag_run = context.get("dag_run")
    raw = getattr(dag_run, "conf", None) or {}
    try:
        plan = plan_from_params(context["params"], raw_conf=raw, now=datetime.now(UTC))
    except ConfError as exc:
        raise AirflowFailException(f"invalid conf: {exc}") from None
    steps = ", ".join(s.token for s in plan.steps) or "-"
    log.info("conf accepted: mode=%s steps=[%s] date=%s", plan.mode.value, steps, plan.date)


def choose_branch(params: Mapping[str, Any]) -> str:
    """The task id `branch_on_scope` follows: the first task of the chosen path."""
    mode = plan_from_params(params, check_date=False).mode
    if mode is Mode.FULL_DAILY:
        return DAILY_TRIGGER_TASK
    if mode is Mode.SCOPE:
        return step_task_id(SCOPE_STEPS[0])
    return slot_task_id(0)


class InScope:
    """pre_execute guard of a per-phase task: skip unless `step` is in the scope."""

    def __init__(self, step: Step) -> None:
        self.step = step

    def __call__(self, context: Mapping[str, Any]) -> None:
        plan = _plan(context)
        if plan.mode is not Mode.SCOPE or self.step not in plan.steps:
            raise AirflowSkipException(f"{self.step.token} is not in this run's scope")


class InSteps:
    """pre_execute guard of a step slot: skip past the end of `steps` (or, for a
    wait slot, when the step is not a trigger)."""

    def __init__(self, index: int, *, wait: bool) -> None:
        self.index = index
        self.wait = wait

    def __call__(self, context: Mapping[str, Any]) -> None:
        plan = _plan(context)
        if plan.mode is not Mode.STEPS or self.index >= len(plan.steps):
            raise AirflowSkipException(f"no step {self.index + 1} in this run")
        if self.wait and plan.steps[self.index].action is not Action.TRIGGER:
            raise AirflowSkipException(
                f"step {self.index + 1} is not a trigger; nothing to wait for"
            )


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


DATE_TEMPLATE = "{{ params.date or '' }}"


def xcom_template(task_id: str) -> str:
    """Jinja for the return value (XCom) of `task_id` in this DAG run."""
    return "{{ ti.xcom_pull(task_ids='" + task_id + "') }}"


class StepOperator(ExtApiOperator):
    """Runs `steps[index]` of the conf: trigger (returns the runId for its wait slot),
    loop, stop or stop_loop (stops wait, deferred, until the phase is idle)."""

    def __init__(
        self,
        *,
        index: int,
        poll_interval: float = 30.0,
        idle_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        if not 0 <= index < MAX_STEPS:
            raise ValueError(f"step index {index} outside 0..{MAX_STEPS - 1}")
        super().__init__(**kwargs)
        self.index = index
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout

    def execute(self, context: Any) -> str | None:
        plan = _plan(context)
        step = plan.steps[self.index]
        hook, run_id = self.hook, airflow_run_id_of(context)
        self.log.info("step %d: %s %s", self.index + 1, step.action, step.phase)
        with refusals_fail_task():
            if step.action is Action.TRIGGER:
                source = upstream_source(plan.steps, self.index)
                in_run = (
                    context["ti"].xcom_pull(task_ids=slot_wait_task_id(source))
                    if source is not None
                    else None
                )
                upstream = resolve_upstream(step.phase, plan.upstream_run_ids, in_run)
                result = hook.trigger_phase(
                    step.phase, upstream_run_id=upstream, date=plan.date, airflow_run_id=run_id
                )
                self.log.info(
                    "run %s (%s)", result.run_id, "followed" if result.followed else "started"
                )
                return result.run_id
            if step.action is Action.LOOP:
                loop = hook.loop_phase(
                    step.phase, date=plan.date, interval_seconds=None, airflow_run_id=run_id
                )
                return loop.loop_id
            stop = (
                hook.stop_phase(step.phase, airflow_run_id=run_id)
                if step.action is Action.STOP
                else hook.stop_loop(step.phase, airflow_run_id=run_id)
            )
        if not stop.requested:
            self.log.info("%s: nothing to stop", step.phase)
            return None
        defer_until_idle(self, step.phase.value, stop.run_id)
        return None  # pragma: no cover - defer() raises

    def execute_complete(
        self, context: Any, event: Any = None, stopped: str | None = None
    ) -> str | None:
        return stop_complete(self, event, stopped)


class StepWaitSensor(PhaseRunSensor):
    """Wait slot of `steps[index]`: waits on the step's run with that phase's timeout."""

    def __init__(self, *, index: int, phase_timeouts: Mapping[str, float], **kwargs: Any) -> None:
        super().__init__(run_id=xcom_template(slot_task_id(index)), **kwargs)
        self.index = index
        self.phase_timeouts = dict(phase_timeouts)

    def execute(self, context: Any) -> Any:
        phase = _plan(context).steps[self.index].phase
        self.timeout = self.phase_timeouts[phase.value]
        return super().execute(context)


# -- builders used by the DAG file ------------------------------------------------


def per_phase_chain(settings: WaitSettings) -> list[BaseOperator]:
    """All per-phase tasks in execution order (stops, triggers + waits, loops)."""
    return [task for step in SCOPE_STEPS for task in per_phase_tasks(step, settings)]


def steps_chain(settings: WaitSettings) -> list[BaseOperator]:
    """All step slots in order: step_01, step_01_wait, step_02, ..."""
    return [task for index in range(MAX_STEPS) for task in step_slot_tasks(index, settings)]


def per_phase_tasks(step: Step, settings: WaitSettings) -> list[BaseOperator]:
    """The task(s) of one scope step, guarded to skip when the step is out of scope."""
    common: dict[str, Any] = {"trigger_rule": PATH_RULE, "pre_execute": InScope(step)}
    stop_kwargs: dict[str, Any] = {
        "poll_interval": settings.poll_interval,
        "idle_timeout": settings.stop_timeout,
    }
    task_id = step_task_id(step)
    if step.action is Action.STOP:
        return [StopPhaseOperator(task_id=task_id, phase=step.phase, **stop_kwargs, **common)]
    if step.action is Action.STOP_LOOP:
        return [StopLoopOperator(task_id=task_id, phase=step.phase, **stop_kwargs, **common)]
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
        poll_interval=settings.poll_interval,
        timeout=settings.phase_timeout(step.phase),
        max_consecutive_errors=settings.max_consecutive_errors,
        **common,
    )
    return [trigger, wait]


def step_slot_tasks(index: int, settings: WaitSettings) -> list[BaseOperator]:
    """Slot `index` of the steps path: the action, then a wait used by trigger steps."""
    action = StepOperator(
        task_id=slot_task_id(index),
        index=index,
        poll_interval=settings.poll_interval,
        idle_timeout=settings.stop_timeout,
        trigger_rule=PATH_RULE,
        pre_execute=InSteps(index, wait=False),
    )
    wait = StepWaitSensor(
        task_id=slot_wait_task_id(index),
        index=index,
        phase_timeouts={p.value: t for p, t in settings.phase_timeouts.items()},
        poll_interval=settings.poll_interval,
        max_consecutive_errors=settings.max_consecutive_errors,
        trigger_rule=PATH_RULE,
        pre_execute=InSteps(index, wait=True),
    )
    return [action, wait]
