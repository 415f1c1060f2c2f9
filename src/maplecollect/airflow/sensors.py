"""Sensors: wait for a phase run, a daily chain, or the service's /health.

Run and chain sensors look once, then defer to `PhaseRunTrigger` (docs/airflow.md,
"No worker slot is held while a phase runs"); `deferrable=False` pokes in reschedule
mode instead, as the health sensor always does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

import maplecollect
from maplecollect.airflow.assets import record_events
from maplecollect.airflow.connection import DEFAULT_CONN_ID
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.airflow.outcome import Target
from maplecollect.airflow.waiting import blank_to_none, look, look_or_defer, raise_for_event
from maplecollect.client.errors import ProtocolError, Refused, Unavailable
from maplecollect.contract import Health
from maplecollect.ids import is_valid_id

# Retries cover the known race where a fast trigger's event meets the worker's
# defer-exit and Airflow marks the try failed (apache/airflow#66374, #72716);
# a retry just waits on the same id again.
DEFAULT_SENSOR_RETRIES = 2
DEFAULT_SENSOR_RETRY_DELAY = timedelta(seconds=30)


class _TargetSensor(BaseSensorOperator):
    """Waits on one run or chain; subclasses say which (`target`, `id_field`)."""

    target: ClassVar[Target]
    id_field: ClassVar[str]

    def __init__(
        self,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        deferrable: bool = True,
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
        self.unreachable_timeout = unreachable_timeout
        self.progress_interval = progress_interval
        self.stop_expected = stop_expected

    def _checked_id(self) -> str:
        value = blank_to_none(getattr(self, self.id_field))
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
        message, document = look_or_defer(
            self, self.target, target_id, timeout=self.timeout, stop_expected=self.stop_expected
        )
        self.log.info("%s (already ended, no need to defer)", message)
        self._record_assets(context, document)
        return target_id

    def execute_complete(self, context: Any, event: Any = None) -> str:
        """Resume after the trigger: succeed only on a "success" event; push the id."""
        raise_for_event(event)
        self.log.info("%s", event.get("message"))
        self._record_assets(context, event.get(self.target.value))
        return self._checked_id()

    def poke(self, context: Any) -> bool | PokeReturnValue:
        target_id = self._checked_id()
        try:
            outcome, document = look(self, self.target, target_id, stop_expected=self.stop_expected)
        except Unavailable as exc:
            self.log.warning("poll failed, will poke again: %s", exc)
            return False
        self.log.info("%s", outcome.message)
        if not outcome.done:
            return False
        self._record_assets(context, document)
        return PokeReturnValue(is_done=True, xcom_value=target_id)

    def _record_assets(self, context: Any, document: Any) -> None:
        """Fill the outlets' asset events with the completed run(s) (see `assets`)."""
        if not isinstance(document, dict) or not self.outlets:
            return
        runs = (
            document.get("runs")
            if self.target is Target.CHAIN
            else {document.get("phase"): document}
        )
        if not isinstance(runs, dict):
            return
        record_events(context, self.outlets, runs, self.log)


class PhaseRunSensor(_TargetSensor):
    """Wait for `/api/internal/runs/{run_id}`: COMPLETED succeeds, FAILED / ABANDONED /
    STOPPED (unless `stop_expected`) / unknown fail with the run's errorMessage.

    :param run_id: templated; usually the XCom of the trigger task.
    :param timeout: seconds before the wait fails (the run itself goes on).
    """

    target = Target.RUN
    id_field = "run_id"
    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id


class DailyChainSensor(_TargetSensor):
    """Wait for `/api/internal/chains/{chain_id}`: COMPLETED succeeds, FAILED/STOPPED fail."""

    target = Target.CHAIN
    id_field = "chain_id"
    template_fields: Sequence[str] = ("chain_id",)

    def __init__(self, *, chain_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chain_id = chain_id


class ExtApiHealthSensor(BaseSensorOperator):
    """Wait until `/health` is UP, then prove the token with one cheap authenticated
    call (`/health` needs none). Fails at once, without retry, on an `apiVersion` older
    than `min_api_version`, on something that is not a maplecollect health document,
    and on a refused token (401/403) -- docs/airflow.md, `check_external_api`.
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
                if health.status != Health.UP:
                    self.log.warning(
                        "service is %s (database %s); waiting", health.status, health.database
                    )
                    return False
                if health.api_version < self.min_api_version:
                    raise AirflowFailException(
                        f"the maplecollect service reports apiVersion {health.api_version}, "
                        f"but this Airflow package needs apiVersion >= {self.min_api_version}: "
                        "upgrade the service before running the DAG"
                    )
                api.run_status()  # /health needs no token: this call proves it
        except Unavailable as exc:
            self.log.warning("maplecollect service not reachable yet: %s", exc)
            return False
        except (Refused, ProtocolError) as exc:
            if isinstance(exc, Refused) and exc.status in (401, 403):
                raise AirflowFailException(
                    f"the maplecollect service refused the bearer token of connection "
                    f"{self.conn_id!r} (HTTP {exc.status}): set the connection's password to "
                    "the service's MAPLECOLLECT_API_TOKEN (docs/airflow.md, "
                    "'The external_api connection')"
                ) from None
            raise AirflowFailException(
                f"{exc} -- does connection {self.conn_id!r} point at a maplecollect service?"
            ) from None
        self.log.info(
            "service UP: version %s, apiVersion %s, bearer token accepted",
            health.version,
            health.api_version,
        )
        return PokeReturnValue(
            is_done=True, xcom_value={"version": health.version, "apiVersion": health.api_version}
        )
