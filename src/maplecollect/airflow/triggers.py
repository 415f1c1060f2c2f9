"""`PhaseRunTrigger`: waits in the triggerer for a run, a daily chain or an idle phase.

The triggerer imports it by class path from the installed package, never from the
dags folder. JSON-only kwargs; `run()` yields exactly one event and never raises:

    {"status": "success" | "failed" | "error" | "timeout",
     "target": "run" | "chain" | "phase_idle",
     "runId" | "chainId" | "phase": <the id waited on>,
     "message": "<why>",
     "run" | "chain": <the last document polled, or null>}
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from maplecollect.airflow.connection import DEFAULT_CONN_ID
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Outcome, Target, classify_target
from maplecollect.airflow.progress import chain_lines, run_line, state_key
from maplecollect.client import waiting as w
from maplecollect.client.errors import ControlApiError, Unavailable, WaitFailed

FIRST_POLL_GRACE = 3.0
_ID_KEY = {Target.RUN: "runId", Target.CHAIN: "chainId", Target.PHASE_IDLE: "phase"}
_DOC_KEY = {Target.RUN: "run", Target.CHAIN: "chain", Target.PHASE_IDLE: "run"}


class PhaseRunTrigger(BaseTrigger):
    """Poll the control API every `poll_interval` s until the target is done.

    `end_at` is an absolute deadline (Unix seconds; None: none), so a triggerer restart
    does not restart the clock. `max_consecutive_errors` is kept for triggers serialized
    by older versions. `echo` is handed back in the event: where a multi-step task resumes.
    """

    def __init__(
        self,
        *,
        target: str,
        target_id: str,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        end_at: float | None = None,
        max_consecutive_errors: int | None = None,
        unreachable_timeout: float = 900.0,
        progress_interval: float = 300.0,
        stop_expected: bool = False,
        echo: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.target = Target(target)
        self.target_id = target_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.end_at = end_at
        self.max_consecutive_errors = (
            None if max_consecutive_errors is None else int(max_consecutive_errors)
        )
        self.unreachable_timeout = float(unreachable_timeout)
        self.progress_interval = float(progress_interval)
        self.stop_expected = bool(stop_expected)
        self.echo = echo

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = list(inspect.signature(PhaseRunTrigger.__init__).parameters)[1:]
        kwargs = {name: getattr(self, name) for name in names}
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            **kwargs,
            "target": self.target.value,
        }

    def _hook(self) -> ExtApiHook:
        return ExtApiHook(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # never raise out of run(): report it as an event
            event = self._event("error", f"trigger crashed: {type(exc).__name__}: {exc}", None)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    def _event(self, status: str, message: str, document: Any) -> dict[str, Any]:
        event = {
            "status": status,
            "target": self.target.value,
            _ID_KEY[self.target]: self.target_id,
            "message": message,
            _DOC_KEY[self.target]: self._doc_for_event(document),
        }
        if self.echo is not None:
            event["echo"] = self.echo
        return event

    def _doc_for_event(self, document: Any) -> Any:
        if self.target is Target.PHASE_IDLE and isinstance(document, dict):
            slots = document.get("slots")
            return slots.get(self.target_id) if isinstance(slots, dict) else None
        return document

    def classify(self, document: dict[str, Any]) -> Outcome:
        return classify_target(
            self.target, document, target_id=self.target_id, stop_expected=self.stop_expected
        )

    async def _wait(self) -> dict[str, Any]:
        api = await self._hook().aget_conn()
        # The first poll waits a moment: a trigger that fires before the scheduler has
        # seen the task's defer-exit makes Airflow fail the try (apache/airflow#66374).
        await asyncio.sleep(min(self.poll_interval, FIRST_POLL_GRACE))
        watch = self.target.watch(self.target_id)
        progress = _Progress(self, watch)
        # INTERRUPTED is waited through without a bound: the service resumes it.
        patience = w.Patience(
            timeout=None if self.end_at is None else max(0.0, self.end_at - time.time()),
            poll=self.poll_interval,
            unreachable=self.unreachable_timeout,
            max_failed_polls=self.max_consecutive_errors,
        )
        try:
            found = await api.wait(
                watch,
                patience,
                on_poll=progress.poll,
                on_outage=progress.outage,
                on_back=progress.back,
            )
        except WaitFailed as exc:
            last = exc.last.wire() if hasattr(exc.last, "wire") else exc.last
            return self._event("timeout", exc.message, last)
        except Unavailable as exc:
            return self._event("error", f"gave up: {exc}", progress.last)
        except ControlApiError as exc:
            # A refusal (404 unknown id, 401 bad token ...) will not heal by polling.
            return self._event("error", str(exc), progress.last)
        finally:
            await api.aclose()
        document = found.wire()
        outcome = self.classify(document)
        self.log.info("%s: %s", progress.what, outcome.message)
        return self._event(outcome.verdict.value, outcome.message, document)


class _Progress:
    """The wait's log lines: a progress line on every state change (status or pause) and
    every `progress_interval` seconds; one line per failed poll while unreachable."""

    def __init__(self, trigger: PhaseRunTrigger, watch: w.Target[Any]) -> None:
        self.trigger = trigger
        self.watch = watch
        self.log = trigger.log
        self.what = f"{trigger.target.value} {trigger.target_id}"
        self.last: dict[str, Any] | None = None
        self._state: tuple[Any, ...] | None = None
        self._logged_at = float("-inf")

    def poll(self, found: Any) -> None:
        document = self.last = found.wire()
        outcome = self.trigger.classify(document)
        if outcome.done:
            return
        runs = tuple(state_key(run.wire()) for run in self.watch.runs(found))
        state, now = (outcome.status, runs), time.monotonic()
        if state != self._state or now - self._logged_at >= self.trigger.progress_interval:
            for line in self._lines(document, outcome):
                self.log.info("%s: %s", self.what, line)
            self._logged_at, self._state = now, state

    def _lines(self, document: dict[str, Any], outcome: Outcome) -> list[str]:
        target = self.trigger.target
        if target is Target.RUN:
            return [run_line(document)]
        if target is Target.CHAIN:
            return chain_lines(document)
        slot = self.trigger._doc_for_event(document)
        going = isinstance(slot, dict) and not slot.get("terminal", True)
        return [outcome.message, run_line(slot)] if going else [outcome.message]

    def outage(self, exc: Unavailable, down: float, failed: int) -> None:
        self.log.warning(
            "%s: service unreachable for %.0fs (poll %d failed; giving up after %.0fs): %s",
            self.what,
            down,
            failed,
            self.trigger.unreachable_timeout,
            exc,
        )

    def back(self, failed: int) -> None:
        self.log.info("%s: service reachable again after %d failed polls", self.what, failed)
