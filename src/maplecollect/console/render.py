"""Rich rendering of control-API bodies: status table, run history, one run, progress bars.

Everything here takes the public JSON shapes of the control API (camelCase
dicts), so the in-process `run` command and the HTTP clients render alike.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from maplecollect.phases import LOOPABLE, ORDER

STATUS_STYLE = {
    "RUNNING": "cyan",
    "STOPPING": "yellow",
    "COMPLETED": "green",
    "FAILED": "bold red",
    "STOPPED": "yellow",
    "ABANDONED": "magenta",
    "WAITING_FOR_CHAIN": "blue",  # a loop held back by the daily chain
}

Body = Mapping[str, Any]


def console(stderr: bool = False) -> Console:
    """A Rich console; when not a terminal (logs, CI, pipes) it is wide enough for run ids."""
    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and out.width < 160:
        out.width = 160
    return out


def print_json(value: Any) -> None:
    """Machine-readable output of the read commands (`--json`): stable, indented, UTF-8."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def styled(status: str | None) -> Text:
    if not status:
        return Text("-", style="dim")
    return Text(status, style=STATUS_STYLE.get(status, ""))


def fmt_count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.1f}/s"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def fmt_time(value: str | None, *, clock_only: bool = False) -> str:
    """An API timestamp as local `MM-DD HH:MM:SS` (or `HH:MM:SS`)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone().strftime("%H:%M:%S" if clock_only else "%m-%d %H:%M:%S")


def progress_text(run: Body) -> str:
    done = int(run.get("recordsProcessed") or 0)
    failed = int(run.get("recordsFailed") or 0)
    total = run.get("totalKeys")
    text = f"{done + failed:,}/{fmt_count(total)}"
    if failed:
        text += f" ({failed:,} failed)"
    return text


def failures_text(by_code: Mapping[str, int]) -> str:
    """`TRANSPORT 50, OPENAPI00003 2`: failed records by code, most frequent first."""
    ordered = sorted(by_code.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    return ", ".join(f"{code} {int(n):,}" for code, n in ordered)


def elapsed(run: Body) -> float | None:
    try:
        start = datetime.fromisoformat(str(run["startedAt"]))
        end_text = run.get("completedAt") or run.get("updatedAt")
        end = datetime.fromisoformat(str(end_text))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def status_table(body: Body) -> Table:
    """The `status` view: one row per phase with its slot and its loop."""
    table = Table(title="maplecollect phases", title_justify="left", expand=False)
    for name in ("phase", "run", "status", "date", "progress", "rate", "ETA", "updated"):
        table.add_column(name, no_wrap=True)
    table.add_column("loop", min_width=16)
    slots = body.get("slots") or {}
    loops = body.get("loopSummaries") or {}
    for phase in ORDER:
        run = slots.get(phase.value)
        loop = loops.get(phase.value)
        loop_text = Text("-" if phase in LOOPABLE else "", style="dim")
        if loop:
            loop_text = Text.assemble(
                styled(loop.get("status")), f" {loop.get('iterationCount')} done"
            )
            if loop.get("lastError"):
                loop_text.append(f" {loop['lastError'][:60]}", style="red")
        if run is None:
            table.add_row(phase.value, "-", styled(None), "", "", "", "", "", loop_text)
            continue
        eta = run.get("etaSeconds") if not run.get("terminal") else None
        error = run.get("errorMessage")
        status = styled(run.get("status"))
        if error and run.get("status") in ("FAILED", "ABANDONED"):
            status.append(f" {error[:80]}", style="dim")
        table.add_row(
            phase.value,
            str(run.get("runId")),
            status,
            str(run.get("snapshotDate") or "-"),
            progress_text(run),
            fmt_rate(run.get("ratePerSecond")) if not run.get("terminal") else "",
            fmt_seconds(eta) if eta is not None else "",
            fmt_time(run.get("updatedAt"), clock_only=True),
            loop_text,
        )
    return table


def runs_table(runs: Iterable[Body], title: str = "runs (newest first)") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("run", "phase", "status", "date", "records", "failed", "started", "took", "via"):
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("records", "failed") else "left"
        )
    for run in runs:
        via = "loop" if run.get("loopId") else "chain" if run.get("chainId") else ""
        if run.get("airflowRunId"):
            via = (via + " airflow").strip()
        table.add_row(
            str(run.get("runId")),
            str(run.get("phase")),
            styled(run.get("status")),
            str(run.get("snapshotDate") or "-"),
            fmt_count(run.get("recordsProcessed")),
            fmt_count(run.get("recordsFailed")),
            fmt_time(run.get("startedAt")),
            fmt_seconds(elapsed(run)),
            via,
        )
    return table


def run_detail(run: Body) -> Table:
    table = Table(show_header=False, title=f"run {run.get('runId')}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    fields = (
        "phase",
        "status",
        "snapshotDate",
        "upstreamRunId",
        "chainId",
        "loopId",
        "airflowRunId",
        "startedAt",
        "completedAt",
        "totalKeys",
        "recordsProcessed",
        "recordsFailed",
        "chunksProcessed",
        "ratePerSecond",
        "etaSeconds",
        "resumeCount",
        "errorMessage",
        "manifestPath",
    )
    for name in fields:
        value = run.get(name)
        if value is None:
            continue
        shown: Text | str = styled(str(value)) if name == "status" else str(value)
        table.add_row(name, shown)
    by_code = run.get("failuresByCode")
    if by_code:
        table.add_row("failuresByCode", failures_text(by_code))
    chunks = run.get("chunks")
    if isinstance(chunks, list):
        table.add_row("chunks", f"{len(chunks)} published part(s)")
    return table


class RunBars:
    """Rich progress bars, one per run (phase), fed with run JSON bodies.

    Shows records done / total keys, the service's measured rate and ETA, and the
    status. On a terminal it refreshes live; elsewhere the final state is printed.
    """

    def __init__(self, out: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10}"),
            TextColumn("ETA {task.fields[eta]:>6}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=out or console(),
            refresh_per_second=4,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunBars:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def update(self, runs: Iterable[Body]) -> None:
        for run in runs:
            run_id = str(run["runId"])
            done = int(run.get("recordsProcessed") or 0) + int(run.get("recordsFailed") or 0)
            total = run.get("totalKeys")
            terminal = bool(run.get("terminal"))
            status = str(run.get("status"))
            style = STATUS_STYLE.get(status, "")
            fields: dict[str, Any] = {
                "rate": fmt_rate(run.get("ratePerSecond")) if not terminal else "",
                "eta": fmt_seconds(run.get("etaSeconds")) if not terminal else "",
                "status": f"[{style}]{status}[/]" if style else status,
            }
            if terminal and total is None:
                total = done
            task = self._tasks.get(run_id)
            if task is None:
                upstream = run.get("upstreamRunId")
                via = f" from {upstream}" if upstream else ""
                self.progress.console.print(
                    f"{run.get('phase')} run {run_id} ({run.get('snapshotDate')}){via}",
                    markup=False,
                    highlight=False,
                )
                task = self.progress.add_task(
                    str(run.get("phase")), total=total, completed=done, **fields
                )
                self._tasks[run_id] = task
            else:
                self.progress.update(task, total=total, completed=done, **fields)
            if terminal:
                self.progress.stop_task(task)
