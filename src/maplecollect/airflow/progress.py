"""One progress line per run for the task log of a deferred wait (docs/airflow.md
"Where the logs are"). Pure; `pause` is read with `.get`, as older services omit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maplecollect.contract import ACTIVE_RUN_STATUSES, RunStatus


def status_text(status: Any) -> str:
    if status == RunStatus.INTERRUPTED:
        return "INTERRUPTED (interrupted, waiting for auto-resume)"
    return str(status)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def duration(seconds: Any) -> str:
    """`1h02m`, `3m03s`, `12s`; `-` when unknown."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def pause_of(run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    pause = run.get("pause")
    return pause if isinstance(pause, Mapping) else None


def pause_text(pause: Mapping[str, Any] | None) -> str:
    if pause is None:
        return ""
    code, reason = pause.get("code"), pause.get("reason")
    what = " ".join(str(x) for x in (code, reason) if x) or "paused"
    when = [f"{key} {pause[key]}" for key in ("since", "until") if pause.get(key)]
    return f", paused: {what}" + (f" ({', '.join(when)})" if when else "")


def run_line(run: Mapping[str, Any]) -> str:
    """`run <id> (<PHASE>) <STATUS>: done / total records, failed, rate, ETA[, paused: ...]`."""
    rate = run.get("ratePerSecond")
    rate_text = f"{rate:.1f}/s" if isinstance(rate, int | float) else "-/s"
    return (
        f"run {run.get('runId')} ({run.get('phase')}) {status_text(run.get('status'))}: "
        f"{_count(run.get('recordsProcessed'))} / {_count(run.get('totalKeys'))} records, "
        f"{_count(run.get('recordsFailed'))} failed, {rate_text}, "
        f"ETA {duration(run.get('etaSeconds'))}{pause_text(pause_of(run))}"
    )


def chain_lines(chain: Mapping[str, Any]) -> list[str]:
    """The runs of a chain that are still going (each as `run_line`), or the chain itself."""
    runs = chain.get("runs")
    going = [
        run
        for run in (runs.values() if isinstance(runs, Mapping) else ())
        if isinstance(run, Mapping) and run.get("status") in ACTIVE_RUN_STATUSES
    ]
    head = f"daily chain {chain.get('chainId')} {status_text(chain.get('status'))}"
    if not going:
        return [head]
    return [f"{head}: {run_line(run)}" for run in going]


def state_key(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """What counts as a state change of a run: its status and its pause (code and reason)."""
    pause = pause_of(document)
    return (
        document.get("status"),
        None if pause is None else (pause.get("code"), pause.get("reason")),
    )
