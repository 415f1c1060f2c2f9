"""Runtime controls: the knobs that can change while the simulator serves.

A `POST /_sim/config` patch is validated as a whole and applied all at once, or refused
with `ConfigError` and nothing changed.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET

from maplecollect.errors import ConfigError
from maplecollect.sim.apierrors import API_MAINTENANCE, GAME_MAINTENANCE, ApiError
from maplecollect.sim.clock import Clock, as_kst
from maplecollect.sim.config import (
    Faults,
    Latency,
    MaintenanceKind,
    MaintenanceWindow,
    SimConfig,
    check_rate,
)


class FaultsPatch(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    error_rate: float | msgspec.UnsetType = UNSET
    gateway_rate: float | msgspec.UnsetType = UNSET
    reset_rate: float | msgspec.UnsetType = UNSET
    hang_rate: float | msgspec.UnsetType = UNSET
    hang_seconds: float | msgspec.UnsetType = UNSET
    ok_error_rate: float | msgspec.UnsetType = UNSET


class LatencyPatch(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    p50_ms: float = 0.0
    p99_ms: float | None = None


class WindowPatch(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    kind: MaintenanceKind
    start: str  # ISO 8601, KST when naive (parsed like `--now`)
    end: str


class ControlPatch(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The body of `POST /_sim/config`; every field is optional."""

    now: str | msgspec.UnsetType | None = msgspec.UNSET
    faults: FaultsPatch | msgspec.UnsetType = UNSET
    latency: LatencyPatch | msgspec.UnsetType = UNSET
    api_keys: dict[str, float | None] | msgspec.UnsetType = UNSET
    remove_api_keys: list[str] | msgspec.UnsetType = UNSET
    forbidden_keys: list[str] | msgspec.UnsetType = UNSET
    maintenance_windows: list[WindowPatch] | msgspec.UnsetType = UNSET
    game_maintenance: bool | msgspec.UnsetType = UNSET
    api_maintenance: bool | msgspec.UnsetType = UNSET


def parse_moment(text: str, field: str) -> datetime:
    """ISO 8601 date-time (`2026-11-27T09:30`, `...+09:00`); naive means KST."""
    try:
        return as_kst(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(f"{field}: {text!r} is not an ISO 8601 date-time") from None


def decode_patch(body: bytes) -> ControlPatch:
    """Parse a patch; a malformed one raises `ConfigError` with msgspec's explanation."""
    try:
        return msgspec.json.decode(body, type=ControlPatch)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid control patch: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"control patch is not JSON: {exc}") from exc


class Controls:
    """The mutable knobs read on every request (plain attributes: reads are cheap)."""

    def __init__(self, config: SimConfig) -> None:
        self.clock = Clock(config.now)
        self.api_keys: dict[str, float | None] = dict(config.api_keys)
        self.forbidden_keys: frozenset[str] = frozenset(config.forbidden_keys)
        self.latency: Latency = config.latency
        self.faults: Faults = config.faults
        self.maintenance: tuple[MaintenanceWindow, ...] = tuple(config.maintenance)
        self.game_maintenance = config.game_maintenance
        self.api_maintenance = config.api_maintenance

    def set_rate_limit(self, key: str, rate: float | None) -> None:
        """Add a key, or change its limit (None = unlimited)."""
        check_rate(key, rate)
        self.api_keys[key] = rate

    def maintenance_error(self) -> ApiError | None:
        """The maintenance answer due now, if any (API maintenance wins over game)."""
        if self.api_maintenance:
            return API_MAINTENANCE
        if self.game_maintenance:
            return GAME_MAINTENANCE
        if not self.maintenance:
            return None
        now = self.clock.now()
        kinds = {w.kind for w in self.maintenance if w.covers(now)}
        if "api" in kinds:
            return API_MAINTENANCE
        if "game" in kinds:
            return GAME_MAINTENANCE
        return None

    def apply(self, patch: ControlPatch) -> None:
        """Validate the whole patch first, then apply it; raises `ConfigError`."""
        faults, latency, windows = self.faults, self.latency, self.maintenance
        if patch.faults is not UNSET:
            given = msgspec.structs.asdict(patch.faults)
            faults = replace(faults, **{k: v for k, v in given.items() if v is not UNSET})
        if patch.latency is not UNSET:
            latency = Latency(patch.latency.p50_ms, patch.latency.p99_ms)
        api_keys = dict(self.api_keys)
        if patch.api_keys is not UNSET:
            for key, rate in patch.api_keys.items():
                check_rate(key, rate)
                api_keys[key] = rate
        if patch.remove_api_keys is not UNSET:
            for key in patch.remove_api_keys:
                api_keys.pop(key, None)
        if patch.maintenance_windows is not UNSET:
            windows = tuple(
                MaintenanceWindow(
                    w.kind,
                    parse_moment(w.start, "maintenanceWindows.start"),
                    parse_moment(w.end, "maintenanceWindows.end"),
                )
                for w in patch.maintenance_windows
            )
        now = parse_moment(patch.now, "now") if isinstance(patch.now, str) else patch.now

        self.faults = faults
        self.latency = latency
        self.api_keys = api_keys
        self.maintenance = windows
        if patch.forbidden_keys is not UNSET:
            self.forbidden_keys = frozenset(patch.forbidden_keys)
        if now is not UNSET:
            self.clock.pin(now)
        if patch.game_maintenance is not UNSET:
            self.game_maintenance = patch.game_maintenance
        if patch.api_maintenance is not UNSET:
            self.api_maintenance = patch.api_maintenance

    def snapshot(self) -> dict[str, Any]:
        """The current knobs, in the same shape `POST /_sim/config` accepts."""
        pinned = self.clock.pinned
        return {
            "now": pinned.isoformat() if pinned else None,
            "clockNow": self.clock.now().isoformat(),
            "faults": msgspec.to_builtins(FaultsPatch(**asdict(self.faults))),
            "latency": {"p50Ms": self.latency.p50_ms, "p99Ms": self.latency.p99_ms},
            "apiKeys": dict(self.api_keys),
            "forbiddenKeys": sorted(self.forbidden_keys),
            "maintenanceWindows": [
                {"kind": w.kind, "start": w.start.isoformat(), "end": w.end.isoformat()}
                for w in self.maintenance
            ],
            "gameMaintenance": self.game_maintenance,
            "apiMaintenance": self.api_maintenance,
        }
