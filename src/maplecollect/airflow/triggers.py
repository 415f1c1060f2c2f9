"""`PhaseRunTrigger`: waits in the triggerer for a run, a daily chain or an idle phase.

It must live in the installed package: the triggerer imports it by class path
(`maplecollect.airflow.triggers.PhaseRunTrigger`), never from the dags folder.
JSON-only kwargs; `run()` yields exactly one event and never raises:

    {"status": "success" | "failed" | "error" | "timeout",
     "target": "run" | "chain" | "phase_idle",
     "runId" | "chainId" | "phase": <the id waited on>,
     "message": "<why>",
     "run" | "chain": <the last document polled, or null>}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from maplecollect.airflow.connection import DEFAULT_CONN_ID
from maplecollect.airflow.errors import ExtApiError, ExtApiUnavailable
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Target, classify_target

_ID_KEY = {Target.RUN: "runId", Target.CHAIN: "chainId", Target.PHASE_IDLE: "phase"}
_DOC_KEY = {Target.RUN: "run", Target.CHAIN: "chain", Target.PHASE_IDLE: "run"}


class PhaseRunTrigger(BaseTrigger):
    """Poll the control API every `poll_interval` s until the target is done.

    :param target: "run" (`/api/internal/runs/{id}`), "chain" (`/chains/{id}`) or
        "phase_idle" (`/run-status` until no run or loop holds the phase `target_id`).
    :param target_id: run id, chain id or phase name.
    :param end_at: absolute deadline (Unix seconds), so a triggerer restart does not
        restart the clock; None waits without a deadline.
    :param max_consecutive_errors: polls that may fail in a row (service unreachable
        after the hook's own retries) before giving up with an "error" event.
    :param stop_expected: a STOPPED run counts as success (the task asked for the stop).
    """

    def __init__(
        self,
        *,
        target: str,
        target_id: str,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        end_at: float | None = None,
        max_consecutive_errors: int = 10,
        stop_expected: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.target = Target(target)
        self.target_id = target_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.end_at = end_at
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.stop_expected = bool(stop_expected)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "target": self.target.value,
                "target_id": self.target_id,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "end_at": self.end_at,
                "max_consecutive_errors": self.max_consecutive_errors,
                "stop_expected": self.stop_expected,
            },
        )

    def _hook(self) -> ExtApiHook:
        return ExtApiHook(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # never raise out of run(): report it as an event
            event = self._event("error", f"trigger crashed: {type(exc).__name__}: {exc}", None)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    def _event(self, status: str, message: str, document: Any) -> dict[str, Any]:
        return {
            "status": status,
            "target": self.target.value,
            _ID_KEY[self.target]: self.target_id,
            "message": message,
            _DOC_KEY[self.target]: self._doc_for_event(document),
        }

    def _doc_for_event(self, document: Any) -> Any:
        if self.target is Target.PHASE_IDLE and isinstance(document, dict):
            slots = document.get("slots")
            return slots.get(self.target_id) if isinstance(slots, dict) else None
        return document

    async def _fetch(self, hook: ExtApiHook) -> dict[str, Any]:
        if self.target is Target.RUN:
            return await hook.aget_run(self.target_id)
        if self.target is Target.CHAIN:
            return await hook.aget_chain(self.target_id)
        return await hook.aget_run_status()

    async def _wait(self) -> dict[str, Any]:
        hook = self._hook()
        errors = 0
        last: dict[str, Any] | None = None
        last_status: str | None = None
        what = f"{self.target.value} {self.target_id}"
        while True:
            try:
                document = await self._fetch(hook)
            except ExtApiUnavailable as exc:
                errors += 1
                self.log.warning(
                    "%s: poll failed (%d/%d): %s", what, errors, self.max_consecutive_errors, exc
                )
                if errors >= self.max_consecutive_errors:
                    return self._event("error", f"gave up after {errors} failed polls: {exc}", last)
            except ExtApiError as exc:
                # A refusal (404 unknown id, 401 bad token ...) will not heal by polling.
                return self._event("error", str(exc), last)
            else:
                errors = 0
                last = document
                outcome = classify_target(
                    self.target,
                    document,
                    target_id=self.target_id,
                    stop_expected=self.stop_expected,
                )
                if outcome.status != last_status:
                    self.log.info("%s: %s", what, outcome.message)
                    last_status = outcome.status
                if outcome.done:
                    return self._event(outcome.verdict.value, outcome.message, document)
            remaining = None if self.end_at is None else self.end_at - time.time()
            if remaining is not None and remaining <= 0:
                message = (
                    f"{what} not finished before the deadline (last status {last_status}); "
                    "it goes on in the service: wait again, or stop it"
                )
                return self._event("timeout", message, last)
            delay = self.poll_interval if remaining is None else min(self.poll_interval, remaining)
            await asyncio.sleep(delay)
