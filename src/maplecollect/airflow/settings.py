"""Waiting knobs of the DAG, from the MAPLECOLLECT_AIRFLOW_* variables of the process
that parses the DAG (docs/airflow.md, "Settings"); read by the DAG file, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    poll_interval: float = field(default=30.0, metadata={"env": "POLL_INTERVAL"})
    phase_timeouts: Mapping[Phase, float] = field(
        default_factory=lambda: dict(DEFAULT_PHASE_TIMEOUTS)
    )
    daily_timeout: float = field(default=22 * HOUR, metadata={"env": "TIMEOUT_DAILY"})
    stop_timeout: float = field(default=1 * HOUR, metadata={"env": "TIMEOUT_STOP"})
    health_timeout: float = field(default=600.0, metadata={"env": "HEALTH_TIMEOUT"})
    health_interval: float = field(default=15.0, metadata={"env": "HEALTH_INTERVAL"})
    progress_interval: float = field(default=300.0, metadata={"env": "PROGRESS_INTERVAL"})
    unreachable_timeout: float = field(default=900.0, metadata={"env": "UNREACHABLE_TIMEOUT"})

    def wait_kwargs(self) -> dict[str, Any]:
        """What every deferred wait (sensor, stop, steps) takes from the settings."""
        return {
            "poll_interval": self.poll_interval,
            "progress_interval": self.progress_interval,
            "unreachable_timeout": self.unreachable_timeout,
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
    knobs = {
        f.name: _seconds(env, f.metadata["env"], f.default)  # type: ignore[arg-type]
        for f in fields(WaitSettings)
        if "env" in f.metadata
    }
    timeouts = {p: _seconds(env, f"TIMEOUT_{p}", DEFAULT_PHASE_TIMEOUTS[p]) for p in ORDER}
    return WaitSettings(phase_timeouts=timeouts, **knobs)
