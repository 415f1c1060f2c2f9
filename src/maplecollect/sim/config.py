"""Every knob of the simulator, as small frozen value objects validated on construction.

`SimConfig` fixes the world and the starting runtime controls; invalid values raise
`maplecollect.errors.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from maplecollect.errors import ConfigError
from maplecollect.sim.catalog import ALL_CLASSES, ALL_WORLDS, JOBS_BY_CLASS, WORLD_WEIGHTS
from maplecollect.sim.clock import as_kst

DEFAULT_API_KEY = "test-key"
DEFAULT_RATE_LIMIT = 500.0  # a Nexon service key: 500 requests/s per application


def _check_fraction(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")


def check_rate(key: str, rate: float | None) -> None:
    """A key is not empty; its limit is None (unlimited) or a positive number per second."""
    if not key:
        raise ConfigError("an API key must not be empty")
    if rate is not None and (not math.isfinite(rate) or rate <= 0):
        raise ConfigError(f"rate limit of key {key!r} must be > 0 or None, got {rate!r}")


@dataclass(frozen=True, slots=True)
class Latency:
    """Added response latency: none (p50 0), fixed (no p99 or p99 == p50) or lognormal."""

    p50_ms: float = 0.0
    p99_ms: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.p50_ms) or self.p50_ms < 0:
            raise ConfigError(f"latency p50 must be >= 0 ms, got {self.p50_ms!r}")
        if self.p99_ms is not None:
            if not math.isfinite(self.p99_ms) or self.p99_ms < self.p50_ms:
                raise ConfigError(f"latency p99 ({self.p99_ms!r}) must be >= p50 ({self.p50_ms!r})")
            if self.p50_ms == 0 and self.p99_ms > 0:
                raise ConfigError("a lognormal latency needs p50 > 0")

    @property
    def kind(self) -> Literal["none", "fixed", "lognormal"]:
        if self.p50_ms == 0:
            return "none"
        if self.p99_ms is None or self.p99_ms == self.p50_ms:
            return "fixed"
        return "lognormal"


_RATE_FIELDS = ("error_rate", "gateway_rate", "reset_rate", "hang_rate", "ok_error_rate")


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-request probabilities of each injected fault, at most one per request.

    The kinds are in docs/simulator.md ("Request pipeline"); `ok_error_rate` is a 200 whose
    body is an error, which the real service has shown.
    """

    error_rate: float = 0.0
    gateway_rate: float = 0.0
    reset_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 300.0
    ok_error_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            _check_fraction(name, getattr(self, name))
        if self.total_rate > 1.0 + 1e-9:
            raise ConfigError(f"fault rates add up to {self.total_rate:.3f} > 1")
        if not math.isfinite(self.hang_seconds) or self.hang_seconds < 0:
            raise ConfigError(f"hang_seconds must be >= 0, got {self.hang_seconds!r}")

    @property
    def total_rate(self) -> float:
        return float(sum(getattr(self, name) for name in _RATE_FIELDS))


MaintenanceKind = Literal["game", "api"]


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """[start, end) on the simulator clock; "game" → 400 OPENAPI00010, "api" → 503 OPENAPI00011."""

    kind: MaintenanceKind
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.kind not in ("game", "api"):
            raise ConfigError(f"maintenance kind must be 'game' or 'api', got {self.kind!r}")
        object.__setattr__(self, "start", as_kst(self.start))
        object.__setattr__(self, "end", as_kst(self.end))
        if self.end <= self.start:
            raise ConfigError("a maintenance window must end after it starts")

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class SimConfig:
    """The whole simulator configuration. Same world fields → byte-identical bodies."""

    # The world.
    seed: int = 42
    characters: int = 2000
    worlds: tuple[str, ...] = ALL_WORLDS
    classes: tuple[str, ...] = ALL_CLASSES
    renamed_fraction: float = 0.02
    empty_fraction: float = 0.02
    # item-equipment body size: the highest-level character gets the max, the lowest the min.
    item_max_bytes: int = 200_000
    item_min_bytes: int = 40_000
    item_variants: int = 32  # pre-serialised variants per equipment slot
    # Body templates kept in memory (LRU): ranking pages by count, item-equipment by bytes.
    ranking_cache_pages: int = 1024
    item_cache_bytes: int = 64 * 1024 * 1024
    # With no `date`, character endpoints answer the latest data with "date": null, as
    # the real API does; False puts the latest available date there instead.
    null_date_for_latest: bool = True

    # Runtime controls (starting values).
    api_keys: Mapping[str, float | None] = field(
        default_factory=lambda: {DEFAULT_API_KEY: DEFAULT_RATE_LIMIT}
    )
    forbidden_keys: frozenset[str] = frozenset()
    latency: Latency = Latency()
    faults: Faults = Faults()
    fault_seed: int | None = None  # default: derived from `seed`
    maintenance: tuple[MaintenanceWindow, ...] = ()
    game_maintenance: bool = False
    api_maintenance: bool = False
    now: datetime | None = None  # pins the clock (KST if naive); None = real time

    def __post_init__(self) -> None:
        if self.characters < 1:
            raise ConfigError(f"characters must be >= 1, got {self.characters}")
        if not self.worlds:
            raise ConfigError("at least one world is needed")
        unknown_worlds = [w for w in self.worlds if w not in WORLD_WEIGHTS]
        if unknown_worlds:
            raise ConfigError(f"unknown worlds: {unknown_worlds}; known: {list(ALL_WORLDS)}")
        if len(set(self.worlds)) != len(self.worlds):
            raise ConfigError("worlds must not repeat")
        if not self.classes:
            raise ConfigError("at least one class is needed")
        unknown_classes = [c for c in self.classes if c not in JOBS_BY_CLASS]
        if unknown_classes:
            raise ConfigError(f"unknown classes: {unknown_classes}")
        _check_fraction("renamed_fraction", self.renamed_fraction)
        _check_fraction("empty_fraction", self.empty_fraction)
        if self.renamed_fraction + self.empty_fraction > 1.0:
            raise ConfigError("renamed_fraction + empty_fraction must be <= 1")
        if self.item_min_bytes < 1000 or self.item_max_bytes < self.item_min_bytes:
            raise ConfigError("need 1000 <= item_min_bytes <= item_max_bytes")
        if self.item_variants < 1:
            raise ConfigError("item_variants must be >= 1")
        if self.ranking_cache_pages < 1 or self.item_cache_bytes < 0:
            raise ConfigError("ranking_cache_pages must be >= 1 and item_cache_bytes >= 0")
        if not self.api_keys:
            raise ConfigError("at least one API key is needed")
        for key, rate in self.api_keys.items():
            check_rate(key, rate)
        if self.now is not None:
            object.__setattr__(self, "now", as_kst(self.now))
