"""Waiting knobs of the DAG: poll interval and timeouts, per phase.

Read from the environment of the process that parses the DAG (scheduler, worker,
dag processor), by `wait_settings()`, called from the DAG file, never at import:

    MAPLECOLLECT_AIRFLOW_POLL_INTERVAL      seconds between polls (default 30)
    MAPLECOLLECT_AIRFLOW_TIMEOUT_<PHASE>    e.g. ..._TIMEOUT_ITEM_EQUIPMENT=43200
    MAPLECOLLECT_AIRFLOW_TIMEOUT_DAILY      the whole daily chain (default 22 h)
    MAPLECOLLECT_AIRFLOW_TIMEOUT_STOP       waiting for a stopped phase to go idle
    MAPLECOLLECT_AIRFLOW_HEALTH_TIMEOUT     waiting for /health (default 600)
    MAPLECOLLECT_AIRFLOW_HEALTH_INTERVAL    between /health pokes (default 15)
    MAPLECOLLECT_AIRFLOW_PROGRESS_INTERVAL  between progress lines of a wait (default 300)
    MAPLECOLLECT_AIRFLOW_UNREACHABLE_TIMEOUT  how long a wait rides out an unreachable
                                            service before it fails (default 900)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maplecollect.errors import ConfigError
from maplecollect.phases import ORDER, Phase

_PREFIX = "MAPLECOLLECT_AIRFLOW_"
HOUR = 3600.0

# Sized for a service API key (500 req/s): the phase must fit well inside a day.
DEFAULT_PHASE_TIMEOUTS: Mapping[Phase, float] = {
    Phase.RANKING_FETCH: 2 * HOUR,
    Phase.OCID_LOOKUP: 6 * HOUR,
    Phase.CHARACTER_BASIC: 8 * HOUR,
    Phase.ITEM_EQUIPMENT: 12 * HOUR,
}


@dataclass(frozen=True)
class WaitSettings:
    poll_interval: float = 30.0
    phase_timeouts: Mapping[Phase, float] = field(
        default_factory=lambda: dict(DEFAULT_PHASE_TIMEOUTS)
    )
    daily_timeout: float = 22 * HOUR
    stop_timeout: float = 1 * HOUR
    health_timeout: float = 600.0
    health_interval: float = 15.0
    progress_interval: float = 300.0
    unreachable_timeout: float = 900.0
    max_consecutive_errors: int | None = None

    def phase_timeout(self, phase: Phase) -> float:
        return self.phase_timeouts[phase]

    def wait_kwargs(self) -> dict[str, Any]:
        """What every deferred wait (sensor, stop, steps) takes from the settings."""
        return {
            "poll_interval": self.poll_interval,
            "progress_interval": self.progress_interval,
            "unreachable_timeout": self.unreachable_timeout,
            "max_consecutive_errors": self.max_consecutive_errors,
        }


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(_PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{_PREFIX}{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{_PREFIX}{name} must be > 0, got {raw!r}")
    return value


def wait_settings(env: Mapping[str, str] | None = None) -> WaitSettings:
    """Defaults overridden by MAPLECOLLECT_AIRFLOW_* variables; ConfigError on a bad value."""
    env = os.environ if env is None else env
    return WaitSettings(
        poll_interval=_seconds(env, "POLL_INTERVAL", 30.0),
        phase_timeouts={
            phase: _seconds(env, f"TIMEOUT_{phase}", DEFAULT_PHASE_TIMEOUTS[phase])
            for phase in ORDER
        },
        daily_timeout=_seconds(env, "TIMEOUT_DAILY", 22 * HOUR),
        stop_timeout=_seconds(env, "TIMEOUT_STOP", 1 * HOUR),
        health_timeout=_seconds(env, "HEALTH_TIMEOUT", 600.0),
        health_interval=_seconds(env, "HEALTH_INTERVAL", 15.0),
        progress_interval=_seconds(env, "PROGRESS_INTERVAL", 300.0),
        unreachable_timeout=_seconds(env, "UNREACHABLE_TIMEOUT", 900.0),
    )
