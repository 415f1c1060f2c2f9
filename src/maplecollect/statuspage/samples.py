"""Throughput of each run over time, for the run page's chart: a bounded ring per run.

Sampled every MAPLECOLLECT_PROGRESS_SECONDS from the active runs and this process's
Nexon client counters; kept in this process only (docs/operations.md, "The status page").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Metric

from maplecollect import metrics as service_metrics
from maplecollect.contract.models import RunPublic
from maplecollect.nexon import metrics as nexon_metrics
from maplecollect.state.models import RunRow
from maplecollect.state.repository import Repository

log = logging.getLogger(__name__)


def counter_total(metric: Any) -> float:
    """Sum of a labelled counter's `_total` samples in this process."""
    families: list[Metric] = list(metric.collect())
    return sum(s.value for fam in families for s in fam.samples if s.name.endswith("_total"))


def gauge_by_key(metric: Any) -> dict[str, float]:
    """A gauge labelled by `key` as {key name: value}."""
    out: dict[str, float] = {}
    for fam in metric.collect():
        for s in fam.samples:
            out[s.labels.get("key", "")] = float(s.value)
    return out


def pause_of(run: dict[str, Any]) -> dict[str, Any] | None:
    """The run JSON's `pause` object (contract of helper visibility), read defensively."""
    pause = run.get("pause")
    return pause if isinstance(pause, dict) and pause.get("code") else None


@dataclass(slots=True)
class Series:
    """One run's samples: [t, records, failed, requests/s, 429s, limit, paused]."""

    stride: int = 1
    samples: list[list[float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    _skipped: int = 0
    _pending_429: float = 0.0
    _pending_paused: float = 0.0
    was_paused: bool = False
    resumes_seen: int = -1

    def add(self, sample: list[float], max_samples: int) -> None:
        # 429s and pauses of the samples skipped at a coarse stride go into the kept one.
        self._pending_429 += sample[4]
        self._pending_paused = max(self._pending_paused, sample[6])
        self._skipped += 1
        if self._skipped < self.stride:
            return
        self._skipped = 0
        sample[4], sample[6] = self._pending_429, self._pending_paused
        self._pending_429 = self._pending_paused = 0.0
        self.samples.append(sample)
        if len(self.samples) >= max_samples:
            # Keep the whole run at half the resolution (429s are summed, not lost).
            merged: list[list[float]] = []
            for i in range(0, len(self.samples) - 1, 2):
                a, b = self.samples[i], self.samples[i + 1]
                merged.append([*b[:4], a[4] + b[4], b[5], max(a[6], b[6])])
            self.samples = merged
            self.stride *= 2

    def event(self, t: float, kind: str, text: str, max_events: int = 100) -> None:
        if len(self.events) < max_events:
            self.events.append({"t": t, "kind": kind, "text": text})


class ThroughputSampler:
    """Samples active runs in the background; `series(run_id)` for the run page."""

    def __init__(
        self,
        repo: Repository,
        interval: float,
        *,
        max_runs: int = 64,
        max_samples: int = 600,
    ) -> None:
        self.repo = repo
        self.interval = interval
        self.max_runs = max_runs
        self.max_samples = max_samples
        self._series: OrderedDict[str, Series] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last: tuple[float, float, float] | None = None  # (t, requests, 429s)

    async def __aenter__(self) -> ThroughputSampler:
        self._task = asyncio.create_task(self._run(), name="statuspage-sampler")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def series(self, run_id: str) -> Series | None:
        return self._series.get(run_id)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.sample_once()
            except Exception:  # the DB may be briefly down; the chart just has a gap
                log.warning("status sample failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def sample_once(self) -> None:
        snap = await self.repo.status_snapshot()
        now = time.time()
        service_metrics.SERVICE_HEARTBEAT.set(now)
        requests = counter_total(nexon_metrics.REQUESTS)
        limited = counter_total(nexon_metrics.RATE_LIMITED)
        rps, new_429 = 0.0, 0.0
        if self._last is not None:
            t0, r0, l0 = self._last
            if now > t0:
                rps = max(0.0, requests - r0) / (now - t0)
            new_429 = max(0.0, limited - l0)
        self._last = (now, requests, limited)
        rates = gauge_by_key(nexon_metrics.EFFECTIVE_RATE)
        limit = min(rates.values()) if rates else 0.0
        for run in snap.active.values():
            if run is not None:
                self._sample_run(run, now, [rps, new_429, limit])

    def _sample_run(self, row: RunRow, now: float, key_side: list[float]) -> None:
        series = self._series.get(row.run_id)
        if series is None:
            series = self._series[row.run_id] = Series()
            while len(self._series) > self.max_runs:
                self._series.popitem(last=False)
        self._series.move_to_end(row.run_id)
        pause = pause_of(RunPublic.model_validate(row).wire())
        if pause and not series.was_paused:
            series.event(now, "paused", f"{pause.get('code')} {pause.get('reason') or ''}".strip())
        elif series.was_paused and not pause:
            series.event(now, "unpaused", "pause over")
        series.was_paused = pause is not None
        if series.resumes_seen >= 0 and row.resume_count > series.resumes_seen:
            series.event(now, "resumed", f"resumed (resume #{row.resume_count})")
        series.resumes_seen = row.resume_count
        rps, new_429, limit = key_side
        sample = [
            round(now, 3),
            float(row.records_processed),
            float(row.records_failed),
            round(rps, 2),
            new_429,
            round(limit, 2),
            1.0 if pause else 0.0,
        ]
        series.add(sample, self.max_samples)
