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


def defer(
    task: Any,
    target: Target,
    target_id: str,
    *,
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


def look(
    task: Any, target: Target, target_id: str, *, stop_expected: bool = False
) -> tuple[Outcome, dict[str, Any]]:
    """Fetch and classify the target once; AirflowFailException when it ended badly."""
    with ExtApiHook(task.conn_id).get_conn() as api:
        document: dict[str, Any] = api.send(target.watch(target_id).call).wire()
    outcome = classify_target(target, document, target_id=target_id, stop_expected=stop_expected)
    if outcome.verdict is Verdict.FAILED:
        raise AirflowFailException(outcome.message)
    return outcome, document


def look_or_defer(
    task: Any,
    target: Target,
    target_id: str,
    *,
    timeout: float,
    stop_expected: bool = False,
    **resume: Any,
) -> tuple[str, dict[str, Any]]:
    """One look, then defer (raises TaskDeferred) unless the target is already done.

    A target already done is judged here -- (message, document), or AirflowFailException
    -- because a trigger that fires at once meets Airflow's defer-exit race
    (apache/airflow#66374: the try is marked failed). A look the service does not
    answer defers: the trigger rides out the outage.
    """
    try:
        outcome, document = look(task, target, target_id, stop_expected=stop_expected)
    except ControlApiError:
        outcome, document = None, {}
    if outcome is not None and outcome.done:
        return outcome.message, document
    task.log.info("waiting for %s %s in the triggerer", target.value, target_id)
    defer(task, target, target_id, timeout=timeout, stop_expected=stop_expected, **resume)
    raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover


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
