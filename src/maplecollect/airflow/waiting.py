"""Deferring to `PhaseRunTrigger` and judging its event: shared by sensors and operators.

A deferring task carries `conn_id`, `poll_interval`, `progress_interval` and
`unreachable_timeout`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Outcome, Target, Verdict, classify_target
from maplecollect.airflow.triggers import PhaseRunTrigger
from maplecollect.client.errors import ControlApiError

# Airflow's own deferral timeout is a backstop (e.g. no triggerer running); the
# trigger's deadline fires first and says what it was waiting for.
_BACKSTOP = 300.0
# A template whose value is missing renders as "" or "None" (e.g. an XCom never pushed).
_EMPTY = ("", "None", "null")


def blank_to_none(value: Any) -> str | None:
    """A rendered template that means "not given" becomes None."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _EMPTY else text


def fetch(conn_id: str, target: Target, target_id: str) -> dict[str, Any]:
    """The document a wait on `target` polls, as JSON (what trigger events carry too)."""
    with ExtApiHook(conn_id).get_conn() as api:
        document: dict[str, Any] = api.send(target.watch(target_id).call).wire()
    return document


def look(
    task: Any, target: Target, target_id: str, *, stop_expected: bool = False
) -> tuple[Outcome, dict[str, Any]] | None:
    """One look before deferring; None when the service cannot answer (the trigger will).

    A target already done is judged by the task: a trigger that fires at once meets
    Airflow's defer-exit race (apache/airflow#66374: the try is marked failed).
    """
    try:
        document = fetch(task.conn_id, target, target_id)
    except ControlApiError:
        return None
    return classify_target(
        target, document, target_id=target_id, stop_expected=stop_expected
    ), document


def defer(
    task: Any,
    *,
    target: Target,
    target_id: str,
    timeout: float,
    stop_expected: bool = False,
    method_name: str = "execute_complete",
    kwargs: dict[str, Any] | None = None,
    echo: dict[str, Any] | None = None,
) -> None:
    """Release the worker slot until the trigger fires (raises TaskDeferred)."""
    trigger = PhaseRunTrigger(
        target=target.value,
        target_id=target_id,
        conn_id=task.conn_id,
        poll_interval=task.poll_interval,
        end_at=time.time() + timeout,
        unreachable_timeout=task.unreachable_timeout,
        progress_interval=task.progress_interval,
        stop_expected=stop_expected,
        echo=echo,
    )
    task.defer(
        trigger=trigger,
        method_name=method_name,
        kwargs=kwargs,
        timeout=timedelta(seconds=timeout + _BACKSTOP),
    )


def defer_until_idle(
    task: Any,
    phase: str,
    stopped: str | None,
    *,
    method_name: str = "execute_complete",
    kwargs: dict[str, Any] | None = None,
    echo: dict[str, Any] | None = None,
) -> str:
    """After a stop request: wait in the triggerer (up to `task.idle_timeout`) until
    `phase` holds no run; a phase idle at the first look returns its message at once.
    The task's execute_complete should return `stop_complete(...)`."""
    looked = look(task, Target.PHASE_IDLE, phase)
    if looked is not None and looked[0].done:
        return judge(looked[0])
    defer(
        task,
        target=Target.PHASE_IDLE,
        target_id=phase,
        timeout=task.idle_timeout,
        method_name=method_name,
        kwargs={"stopped": stopped, **(kwargs or {})},
        echo=echo,
    )
    raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover


def judge(outcome: Outcome) -> str:
    """The message of an outcome that is done; raises AirflowFailException on a failure."""
    if outcome.verdict is Verdict.FAILED:
        raise AirflowFailException(outcome.message)
    return outcome.message


def stop_complete(task: Any, event: Any, stopped: str | None) -> str | None:
    """execute_complete of a stop that waited for idle: the stopped runId, or raise."""
    raise_for_event(event, sensor=False)
    task.log.info("%s", event.get("message"))
    return stopped


def raise_for_event(event: Any, *, sensor: bool = True) -> dict[str, Any]:
    """Return the event if it reports success; raise otherwise.

    failed  -> AirflowFailException (the run ended badly; a retry cannot change that)
    timeout -> AirflowSensorTimeout for sensors (no retry), AirflowFailException otherwise
    error / anything else -> AirflowException (retried: waiting again is harmless)
    """
    if not isinstance(event, dict):
        raise AirflowException(f"malformed trigger event: {event!r}")
    status = event.get("status")
    message = str(event.get("message") or "")
    if status == "success":
        return event
    if status == "failed":
        raise AirflowFailException(message)
    if status == "timeout":
        raise (AirflowSensorTimeout if sensor else AirflowFailException)(message)
    raise AirflowException(f"waiting failed ({status}): {message}")
