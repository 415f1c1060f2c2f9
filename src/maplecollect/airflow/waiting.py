"""Deferring to `PhaseRunTrigger` and judging its event: shared by sensors and operators."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from maplecollect.airflow.errors import ExtApiError
from maplecollect.airflow.outcome import Target, Verdict, classify_idle
from maplecollect.airflow.triggers import PhaseRunTrigger

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


def defer_until_done(
    task: Any,
    *,
    target: Target,
    target_id: str,
    conn_id: str,
    poll_interval: float,
    timeout: float,
    max_consecutive_errors: int | None = None,
    unreachable_timeout: float = 900.0,
    progress_interval: float = 300.0,
    stop_expected: bool = False,
    method_name: str = "execute_complete",
    kwargs: dict[str, Any] | None = None,
    echo: dict[str, Any] | None = None,
) -> None:
    """Release the worker slot until the trigger fires (raises TaskDeferred)."""
    trigger = PhaseRunTrigger(
        target=target.value,
        target_id=target_id,
        conn_id=conn_id,
        poll_interval=poll_interval,
        end_at=time.time() + timeout,
        max_consecutive_errors=max_consecutive_errors,
        unreachable_timeout=unreachable_timeout,
        progress_interval=progress_interval,
        stop_expected=stop_expected,
        echo=echo,
    )
    task.defer(
        trigger=trigger,
        method_name=method_name,
        kwargs=kwargs,
        timeout=timedelta(seconds=timeout + _BACKSTOP),
    )


def wait_knobs(task: Any) -> dict[str, Any]:
    """The wait settings a task carries (poll, progress, unreachable bounds)."""
    return {
        "poll_interval": task.poll_interval,
        "progress_interval": getattr(task, "progress_interval", 300.0),
        "unreachable_timeout": getattr(task, "unreachable_timeout", 900.0),
        "max_consecutive_errors": getattr(task, "max_consecutive_errors", None),
    }


def defer_until_idle(
    task: Any,
    phase: str,
    stopped: str | None,
    *,
    method_name: str = "execute_complete",
    kwargs: dict[str, Any] | None = None,
    echo: dict[str, Any] | None = None,
) -> str:
    """After a stop request: wait in the triggerer until `phase` holds no run.

    One look first: a phase already idle (a loop stopped between iterations, a run
    that ended at once) returns its "is idle" message without deferring, because a
    trigger that fires at once meets Airflow's defer-exit race (apache/airflow#66374:
    the try is marked failed). `task` has conn_id, poll_interval, idle_timeout and
    `api()`; its execute_complete should return `stop_complete(...)`.
    """
    idle = idle_message(task, phase)
    if idle is not None:
        return idle
    defer_until_done(
        task,
        target=Target.PHASE_IDLE,
        target_id=phase,
        conn_id=task.conn_id,
        timeout=task.idle_timeout,
        method_name=method_name,
        kwargs={"stopped": stopped, **(kwargs or {})},
        echo=echo,
        **wait_knobs(task),
    )
    raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover


def idle_message(task: Any, phase: str) -> str | None:
    """The success message if `phase` is idle right now; None if not, or unknown."""
    try:
        with task.api() as api:
            document = api.run_status().wire()
    except ExtApiError:
        return None  # unreachable or refused: the trigger waits out the outage
    outcome = classify_idle(document, phase)
    return outcome.message if outcome.verdict is Verdict.SUCCESS else None


def stop_complete(task: Any, event: Any, stopped: str | None) -> str | None:
    """execute_complete of a stop that waited for idle: the stopped runId, or raise."""
    raise_for_event(event, sensor=False)
    task.log.info("%s", event.get("message"))
    return stopped


def raise_for_event(event: Any, *, sensor: bool = True) -> dict[str, Any]:
    """Return the event if it reports success; raise otherwise.

    failed  -> AirflowFailException (the run ended badly; a retry cannot change that)
    timeout -> AirflowSensorTimeout for sensors (no retry), AirflowFailException otherwise
    error / anything else -> AirflowException (retried if the task has retries:
              waiting again on the same id is harmless)
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
