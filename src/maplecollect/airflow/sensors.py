"""Sensors: wait for a phase run, a daily chain, or the service's /health.

Run and chain sensors look once at the run (a run that already ended is judged at
once) and otherwise defer to `PhaseRunTrigger` (no worker slot while a phase runs
for hours, docs/airflow.md). `deferrable=False` polls in reschedule
mode instead, with the same `classify` verdicts. The health sensor pokes in
reschedule mode (it also frees the slot between pokes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

import maplecollect
from maplecollect.airflow.assets import endpoint, record_events
from maplecollect.airflow.connection import DEFAULT_CONN_ID
from maplecollect.airflow.errors import (
    ApiVersionTooOld,
    ExtApiError,
    ExtApiProtocolError,
    ExtApiRefused,
    ExtApiUnavailable,
)
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Target, Verdict, classify_target
from maplecollect.airflow.waiting import (
    blank_to_none,
    defer_until_done,
    raise_for_event,
    wait_knobs,
)
from maplecollect.contract import Health
from maplecollect.ids import is_valid_id
from maplecollect.phases import Phase

# Retries cover the known race where a fast trigger's event meets the worker's
# defer-exit and Airflow marks the try failed (apache/airflow#66374, #72716);
# a retry just waits on the same id again.
DEFAULT_SENSOR_RETRIES = 2
DEFAULT_SENSOR_RETRY_DELAY = timedelta(seconds=30)


class _TargetSensor(BaseSensorOperator):
    """Waits on one run or chain; subclasses say which (`target`, `_target_id`)."""

    target: ClassVar[Target]

    def __init__(
        self,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        deferrable: bool = True,
        max_consecutive_errors: int | None = None,
        unreachable_timeout: float = 900.0,
        progress_interval: float = 300.0,
        stop_expected: bool = False,
        retries: int = DEFAULT_SENSOR_RETRIES,
        retry_delay: timedelta = DEFAULT_SENSOR_RETRY_DELAY,
        **kwargs: Any,
    ) -> None:
        if not deferrable:
            kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(retries=retries, retry_delay=retry_delay, **kwargs)
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.max_consecutive_errors = max_consecutive_errors
        self.unreachable_timeout = unreachable_timeout
        self.progress_interval = progress_interval
        self.stop_expected = stop_expected

    def _target_id(self) -> str:
        raise NotImplementedError

    def _checked_id(self) -> str:
        value = blank_to_none(self._target_id())
        if value is None or not is_valid_id(value):
            raise AirflowFailException(
                f"{self.task_id}: no valid {self.target.value} id to wait on (got {value!r}); "
                "did the trigger task push one?"
            )
        return value

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        target_id = self._checked_id()
        done = self._already_done(context, target_id)
        if done is not None:
            return done
        self.log.info("waiting for %s %s in the triggerer", self.target.value, target_id)
        defer_until_done(
            self,
            target=self.target,
            target_id=target_id,
            conn_id=self.conn_id,
            timeout=self.timeout,
            stop_expected=self.stop_expected,
            **wait_knobs(self),
        )
        return None  # pragma: no cover - defer() raises

    def _already_done(self, context: Any, target_id: str) -> str | None:
        """One look before deferring: a run (or chain) that already ended is judged here.

        A fast phase is often over by the time its wait starts; deferring would cost a
        triggerer round trip and a second worker start, and an instantly firing trigger
        meets Airflow's defer-exit race (apache/airflow#66374: the try is marked failed
        and retried 30 s later). Unreachable or refused: defer, the trigger handles it.
        """
        try:
            document = self._fetch(target_id)
        except ExtApiError:
            return None
        outcome = classify_target(
            self.target, document, target_id=target_id, stop_expected=self.stop_expected
        )
        if outcome.verdict is Verdict.WAITING:
            return None
        self.log.info("%s (already ended, no need to defer)", outcome.message)
        if outcome.verdict is Verdict.FAILED:
            raise AirflowFailException(outcome.message)
        self._record_assets(context, document)
        return target_id

    def _fetch(self, target_id: str) -> dict[str, Any]:
        """The run or chain as JSON (what trigger events carry too)."""
        with ExtApiHook(self.conn_id).get_conn() as api:
            if self.target is Target.RUN:
                return api.run(target_id).wire()
            return api.chain(target_id).wire()

    def execute_complete(self, context: Any, event: Any = None) -> str:
        """Resume after the trigger: succeed only on a "success" event; push the id."""
        raise_for_event(event)
        self.log.info("%s", event.get("message"))
        self._record_assets(context, event.get(self.target.value))
        return self._checked_id()

    def _record_assets(self, context: Any, document: Any) -> None:
        """Fill the outlets' asset events with the completed run(s) (see `assets`)."""
        if not isinstance(document, dict) or not self.outlets:
            return
        runs: dict[str, Any]
        if self.target is Target.CHAIN:
            chain_runs = document.get("runs")
            runs = chain_runs if isinstance(chain_runs, dict) else {}
        else:
            runs = {str(document.get("phase")): document}
        for phase in record_events(context, self.outlets, runs):
            run = runs[phase]
            self.log.info(
                "asset event maplecollect://%s: run %s, snapshot %s, %s records, manifest %s",
                endpoint(Phase(phase)),
                run.get("runId"),
                run.get("snapshotDate"),
                run.get("recordsProcessed"),
                run.get("manifestPath"),
            )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        target_id = self._checked_id()
        try:
            document = self._fetch(target_id)
        except ExtApiUnavailable as exc:
            self.log.warning("poll failed, will poke again: %s", exc)
            return False
        outcome = classify_target(
            self.target, document, target_id=target_id, stop_expected=self.stop_expected
        )
        self.log.info("%s", outcome.message)
        if outcome.verdict is Verdict.FAILED:
            raise AirflowFailException(outcome.message)
        if outcome.verdict is Verdict.SUCCESS:
            self._record_assets(context, document)
            return PokeReturnValue(is_done=True, xcom_value=target_id)
        return False


class PhaseRunSensor(_TargetSensor):
    """Wait for `/api/internal/runs/{run_id}`: COMPLETED succeeds, FAILED / ABANDONED /
    STOPPED (unless `stop_expected`) / unknown fail with the run's errorMessage.

    :param run_id: templated; usually the XCom of the trigger task.
    :param timeout: seconds before the wait fails (the run itself goes on).
    """

    target = Target.RUN
    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def _target_id(self) -> str:
        return self.run_id


class DailyChainSensor(_TargetSensor):
    """Wait for `/api/internal/chains/{chain_id}`: COMPLETED succeeds, FAILED/STOPPED fail."""

    target = Target.CHAIN
    template_fields: Sequence[str] = ("chain_id",)

    def __init__(self, *, chain_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chain_id = chain_id

    def _target_id(self) -> str:
        return self.chain_id


class ExtApiHealthSensor(BaseSensorOperator):
    """Wait until `/health` is UP, in reschedule mode (the slot is free between pokes).

    `/health` needs no token, so the sensor then makes one cheap authenticated call
    (`GET /api/internal/run-status`): a wrong token fails here, at once, with the fix,
    not at the first trigger. Fails at once, without retry, when the service's
    `apiVersion` is older than `min_api_version` (a stale deployment must not fail
    later with 404s), when /health answers something that is not a maplecollect
    health document, or when the token is refused (401/403).
    """

    def __init__(
        self,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        min_api_version: int = maplecollect.API_VERSION,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", 15.0)
        kwargs.setdefault("timeout", 600.0)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.min_api_version = min_api_version

    def poke(self, context: Any) -> bool | PokeReturnValue:
        try:
            with ExtApiHook(self.conn_id).get_conn() as api:
                health = api.health()
        except ExtApiUnavailable as exc:
            self.log.warning("maplecollect service not reachable yet: %s", exc)
            return False
        except (ExtApiRefused, ExtApiProtocolError) as exc:
            raise AirflowFailException(
                f"{exc} -- does connection {self.conn_id!r} point at a maplecollect service?"
            ) from None
        if health.status != Health.UP:
            self.log.warning("service is %s (database %s); waiting", health.status, health.database)
            return False
        if health.api_version < self.min_api_version:
            raise AirflowFailException(
                str(ApiVersionTooOld(health.api_version, self.min_api_version))
            )
        try:
            self._check_token()
        except ExtApiUnavailable as exc:
            self.log.warning("maplecollect service not reachable yet: %s", exc)
            return False
        self.log.info(
            "service UP: version %s, apiVersion %s, bearer token accepted",
            health.version,
            health.api_version,
        )
        return PokeReturnValue(
            is_done=True, xcom_value={"version": health.version, "apiVersion": health.api_version}
        )

    def _check_token(self) -> None:
        try:
            with ExtApiHook(self.conn_id).get_conn() as api:
                api.run_status()
        except ExtApiRefused as exc:
            if exc.status in (401, 403):
                raise AirflowFailException(
                    f"the maplecollect service refused the bearer token of connection "
                    f"{self.conn_id!r} (HTTP {exc.status}): set the connection's password to "
                    "the service's MAPLECOLLECT_API_TOKEN (docs/airflow.md, "
                    "'The external_api connection')"
                ) from None
            raise AirflowFailException(str(exc)) from None
