"""What the status page and the scrape-time gauges read: phases, loops, days, limiter, quota.

Reads only. `overview()` is the JSON the page polls; `update_gauges()` sets the service
gauges of `maplecollect.metrics` from the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from maplecollect import metrics as service_metrics
from maplecollect.config import Settings
from maplecollect.contract.models import LoopPublic, RunPublic
from maplecollect.dates import KST, default_snapshot_date
from maplecollect.nexon import metrics as nexon_metrics
from maplecollect.phases import ORDER
from maplecollect.state.models import ChainRow, ChainStatus, RunRow
from maplecollect.state.repository import Repository, StatusSnapshot
from maplecollect.statuspage.samples import gauge_by_key, pause_of

DAYS = 8  # yesterday's snapshot (today's chain) and the 7 before it


def dump_run(row: RunRow | None) -> dict[str, Any] | None:
    return RunPublic.model_validate(row).wire() if row is not None else None


@dataclass(frozen=True, slots=True)
class Day:
    snapshot_date: str
    chain: ChainRow | None
    runs: dict[str, RunRow]


async def recent_days(repo: Repository, now: datetime, days: int = DAYS) -> list[Day]:
    """The newest chain of each of the last `days` snapshot dates, with its runs by phase."""
    newest = date.fromisoformat(default_snapshot_date(now))
    dates = [(newest - timedelta(days=i)).isoformat() for i in range(days)]
    # The read session of the repository (on SQLite it never takes the write lock).
    async with repo._read() as session:
        chains = await session.scalars(
            select(ChainRow)
            .where(ChainRow.snapshot_date.in_(dates))
            .order_by(ChainRow.started_at.desc())
        )
        chosen: dict[str, ChainRow] = {}
        for chain in chains:
            chosen.setdefault(chain.snapshot_date, chain)
        runs = await session.scalars(
            select(RunRow)
            .where(RunRow.chain_id.in_([c.chain_id for c in chosen.values()]))
            .order_by(RunRow.started_at.desc())
        )
        by_chain: dict[str | None, dict[str, RunRow]] = {}
        for run in runs:
            by_chain.setdefault(run.chain_id, {}).setdefault(run.phase, run)
    return [
        Day(d, chosen.get(d), by_chain.get(chosen[d].chain_id, {}) if d in chosen else {})
        for d in dates
    ]


_COLOURS = {"COMPLETED": "green", "FAILED": "red", "ABANDONED": "red", "STOPPED": "grey"}


def cell_colour(run: RunRow | None) -> str:
    """green COMPLETED, red FAILED/ABANDONED, blue still going, grey nothing/stopped."""
    return "grey" if run is None else _COLOURS.get(run.status, "blue")


def _cell(phase: str, run: RunRow | None) -> dict[str, Any]:
    return {
        "phase": phase,
        "runId": run.run_id if run else None,
        "status": run.status if run else None,
        "colour": cell_colour(run),
    }


def days_json(days: list[Day]) -> list[dict[str, Any]]:
    return [
        {
            "snapshotDate": day.snapshot_date,
            "chainId": day.chain.chain_id if day.chain else None,
            "chainStatus": day.chain.status if day.chain else None,
            "cells": [_cell(phase.value, day.runs.get(phase.value)) for phase in ORDER],
        }
        for day in days
    ]


def limiter_json(settings: Settings) -> dict[str, Any]:
    """The limiter's effective rate and the day's quota use of each key in this process."""
    rates = gauge_by_key(nexon_metrics.EFFECTIVE_RATE)
    used = gauge_by_key(nexon_metrics.QUOTA_USED)
    limits = gauge_by_key(nexon_metrics.QUOTA_LIMIT)
    keys = sorted(set(rates) | set(used) | {settings.nexon_key_name})
    out = []
    for key in keys:
        rate = rates.get(key)
        quota_used = int(used.get(key, 0))
        quota_limit = int(limits.get(key, settings.daily_quota))
        share = 100.0 * quota_used / quota_limit if quota_limit else 0.0
        shown_rate = "idle" if rate is None else f"{rate:,.1f}"
        out.append(
            {
                "key": key,
                "effectiveRate": rate,
                "quotaUsed": quota_used,
                "quotaLimit": quota_limit,
                "text": (
                    f"key {key}: limiter {shown_rate} / {settings.rate_limit:,g} req/s · "
                    f"quota today {quota_used:,} / {quota_limit:,} ({share:.1f} %)"
                ),
            }
        )
    return {"rateLimit": settings.rate_limit, "keys": out}


def kst_time(value: str | None) -> str:
    """`HH:MM:SS KST` (with the date when it is not today's) for an ISO time."""
    if not value:
        return ""
    try:
        t = datetime.fromisoformat(value).astimezone(KST)
    except ValueError:
        return value[:40]
    today = datetime.now(UTC).astimezone(KST).date()
    return f"{t:%H:%M:%S} KST" if t.date() == today else f"{t:%Y-%m-%d %H:%M} KST"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def failures_list(run: dict[str, Any]) -> list[dict[str, Any]]:
    """`failuresByCode` (contract of helper outcome), largest first; [] when absent."""
    by_code = run.get("failuresByCode")
    if not isinstance(by_code, dict):
        return []
    items = [(str(k), int(v)) for k, v in by_code.items() if isinstance(v, int | float) and v]
    return [{"code": k, "count": v} for k, v in sorted(items, key=lambda kv: (-kv[1], kv[0]))]


def pause_text(run: dict[str, Any] | None) -> str:
    """`paused: OPENAPI00009 data not ready, next try 03:15:00 KST` or ''."""
    pause = pause_of(run) if run else None
    if pause is None:
        return ""
    text = f"paused: {pause.get('code')} {pause.get('reason') or ''}".strip()
    if pause.get("until"):
        text += f", next try {kst_time(str(pause['until']))}"
    if pause.get("since"):
        text += f" (since {kst_time(str(pause['since']))})"
    return text


def phase_view(
    run: dict[str, Any] | None, loop: dict[str, Any] | None, active: bool
) -> dict[str, Any]:
    """Display strings of one phase card: the template and app.js show exactly these."""
    view: dict[str, Any] = {
        "status": "IDLE",
        "runId": None,
        "progress": 0.0,  # None (an indeterminate bar) only for a run of unknown size
        "count": "no run yet",
        "rate": "-",
        "eta": "-",
        "failures": [],
        "pause": "",
        "error": "",
        "loop": "",
        "loopActive": False,
        "canResume": False,
        "when": "",
    }
    if run is not None:
        total = run.get("totalKeys")
        done = int(run.get("recordsProcessed") or 0)
        failed = int(run.get("recordsFailed") or 0)
        view.update(
            status=run["status"],
            runId=run["runId"],
            progress=(min(1.0, done / total) if total else (1.0 if run["terminal"] else None)),
            count=f"{done:,} / {total:,}" if total is not None else f"{done:,} / -",
            rate=f"{run['ratePerSecond']:.1f}/s" if run.get("ratePerSecond") is not None else "-",
            eta=duration(run.get("etaSeconds")) if active else "",
            failures=failures_list(run)
            or ([{"code": "failed", "count": failed}] if failed else []),
            pause=pause_text(run) if active else "",
            error=(run.get("errorMessage") or "")[:300] if not active else "",
            canResume=run["status"] in ("FAILED", "ABANDONED"),
            when=(
                f"started {kst_time(run['startedAt'])}"
                if active
                else f"ended {kst_time(run.get('completedAt') or run['updatedAt'])}"
            ),
        )
    if loop is not None:
        view["loop"] = f"loop {loop['status']} · {loop['iterationCount']} iteration(s)"
        view["loopStatus"] = loop["status"]
        view["loopActive"] = loop["status"] != "STOPPED"
    return view


def phases_json(snap: StatusSnapshot) -> list[dict[str, Any]]:
    out = []
    for phase in ORDER:
        run = dump_run(snap.active[phase] or snap.newest[phase])
        loop = snap.newest_loop[phase]
        loop_json = LoopPublic.model_validate(loop).wire() if loop else None
        active = snap.active[phase] is not None
        out.append(
            {
                "phase": phase.value,
                "loopable": phase.loopable,
                "run": run,
                "active": active,
                "lastTerminal": dump_run(snap.last_terminal[phase]),
                "loop": loop_json,
                "view": phase_view(run, loop_json, active),
            }
        )
    return out


async def overview(repo: Repository, settings: Settings, now: datetime | None = None) -> Any:
    """The body of GET /api/internal/overview (what the page polls)."""
    now = now or datetime.now(UTC)
    snap = await repo.status_snapshot()
    days = await recent_days(repo, now)
    return {
        "now": now.isoformat(),
        "phases": phases_json(snap),
        "days": days_json(days),
        "limiter": limiter_json(settings),
    }


def _set_run_gauges(snap: StatusSnapshot, now: datetime) -> None:
    for phase in ORDER:
        label = phase.value
        run = snap.active[phase]
        pause = pause_of(dump_run(run) or {})
        if run is None:
            progress = rate = eta = age = 0.0
        else:
            total = run.total_keys or 0
            progress = min(1.0, run.records_processed / total) if total else 0.0
            rate = run.rate_per_second or 0.0
            eta = run.eta_seconds or 0.0
            age = max(0.0, (now - run.heartbeat_at).total_seconds())
        service_metrics.RUN_PROGRESS.labels(label).set(progress)
        service_metrics.RUN_RATE.labels(label).set(rate)
        service_metrics.RUN_ETA.labels(label).set(eta)
        service_metrics.RUN_HEARTBEAT_AGE.labels(label).set(age)
        service_metrics.RUN_PAUSED.labels(label).set(1 if pause else 0)
        since = 0.0
        if pause and isinstance(pause.get("since"), str):
            try:
                since = datetime.fromisoformat(pause["since"]).timestamp()
            except ValueError:
                since = 0.0
        service_metrics.RUN_PAUSED_SINCE.labels(label).set(since)
        loop = snap.newest_loop[phase]
        service_metrics.LOOP_ITERATIONS.labels(label).set(loop.iteration_count if loop else 0)


async def update_gauges(repo: Repository, settings: Settings, now: datetime | None = None) -> None:
    """Set the scrape-time gauges from the database (called by GET /metrics)."""
    now = now or datetime.now(UTC)
    snap = await repo.status_snapshot()
    _set_run_gauges(snap, now)
    days = await recent_days(repo, now, days=1)
    chain = days[0].chain if days else None
    done = chain is not None and chain.status == ChainStatus.COMPLETED.value
    past_deadline = now.astimezone(KST).hour >= settings.daily_deadline_hour
    service_metrics.DAILY_OVERDUE.set(1 if past_deadline and not done else 0)
    async with repo._read() as session:
        newest = await session.scalar(
            select(ChainRow.completed_at)
            .where(ChainRow.status == ChainStatus.COMPLETED.value)
            .order_by(ChainRow.completed_at.desc())
            .limit(1)
        )
    service_metrics.DAILY_COMPLETED_AT.set(newest.timestamp() if newest else 0.0)
