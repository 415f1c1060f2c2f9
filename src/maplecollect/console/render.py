"""Rich rendering of control-API bodies: status table, run history, one run, progress bars.

Everything here takes the public JSON shapes of the control API (camelCase
dicts), so the in-process `run` command and the HTTP clients render alike.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from maplecollect.dates import KST  # Nexon's clock: pauses end on Seoul time
from maplecollect.phases import LOOPABLE, ORDER

if TYPE_CHECKING:
    from rich.progress import TaskID

STATUS_STYLE = {
    "RUNNING": "cyan",
    "STOPPING": "yellow",
    "INTERRUPTED": "yellow",
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


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def fmt_time(value: str | None, *, clock_only: bool = False) -> str:
    """An API timestamp as local `MM-DD HH:MM:SS` (or `HH:MM:SS`)."""
    moment = _moment(value)
    if moment is None:
        return value or "-"
    return moment.astimezone().strftime("%H:%M:%S" if clock_only else "%m-%d %H:%M:%S")


def pause_text(run: Body, now: datetime | None = None) -> str | None:
    """`paused: OPENAPI00009 data not ready, next try 03:15:00 KST`, or None if not paused."""
    pause = run.get("pause")
    if not pause or run.get("terminal"):
        return None
    text = f"paused: {pause.get('code') or ''} {pause.get('reason') or ''}".rstrip()
    until = _moment(pause.get("until"))
    if until is not None:
        if until > (now or datetime.now(UTC)):
            text += f", next try {until.astimezone(KST):%H:%M:%S} KST"
        else:
            text += ", trying again now"
    return text


def activity(run: Body) -> str | None:
    """What a live run waits for, in words (a pause, an auto-resume), or None."""
    if run.get("status") == "INTERRUPTED":
        return "interrupted, waiting for auto-resume"
    return pause_text(run)


def status_text(run: Body) -> Text:
    """The run's status, styled, and what it waits for."""
    text = styled(run.get("status"))
    if waiting := activity(run):
        text.append(f" {waiting}", style="yellow")
    return text


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
    start = _moment(run.get("startedAt"))
    end = _moment(run.get("completedAt") or run.get("updatedAt"))
    return (end - start).total_seconds() if start and end else None


def counts_table(title: str, columns: Iterable[str]) -> Table:
    """A run table: counts right-aligned, nothing wrapped."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        right = name in ("runs", "records", "failed")
        table.add_column(name, no_wrap=True, justify="right" if right else "left")
    return table


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
        waiting = activity(run)
        live = not run.get("terminal") and waiting is None
        eta = run.get("etaSeconds") if live else None
        error = run.get("errorMessage")
        status = status_text(run)
        if error and run.get("status") in ("FAILED", "ABANDONED"):
            status.append(f" {error[:80]}", style="dim")
        table.add_row(
            phase.value,
            str(run.get("runId")),
            status,
            str(run.get("snapshotDate") or "-"),
            progress_text(run),
            fmt_rate(run.get("ratePerSecond")) if live else "",
            fmt_seconds(eta) if eta is not None else "",
            fmt_time(run.get("updatedAt"), clock_only=True),
            loop_text,
        )
    return table


def runs_table(runs: Iterable[Body], title: str = "runs (newest first)") -> Table:
    columns = ("run", "phase", "status", "date", "records", "failed", "started", "took", "via")
    table = counts_table(title, columns)
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
        if name == "status" and (waiting := activity(run)):
            since = _moment((run.get("pause") or {}).get("since"))
            if since is not None and run.get("pause"):
                waiting += f" (since {since.astimezone(KST):%m-%d %H:%M:%S} KST)"
            table.add_row("waiting", Text(waiting, style="yellow"))
    by_code = run.get("failuresByCode")
    if by_code:
        table.add_row("failuresByCode", failures_text(by_code))
    chunks = run.get("chunks")
    if isinstance(chunks, list):
        table.add_row("chunks", f"{len(chunks)} published part(s)")
    return table


def summary_table(title: str, runs: Iterable[Body]) -> Table:
    """Per-phase outcome of a chain or run: status, records, failed, how long it took."""
    table = counts_table(title, ("phase", "run", "status", "records", "failed", "took"))
    for run in runs:
        table.add_row(
            str(run.get("phase")),
            str(run.get("runId")),
            styled(run.get("status")),
            fmt_count(run.get("recordsProcessed")),
            fmt_count(run.get("recordsFailed")),
            fmt_seconds(elapsed(run)),
        )
    return table


def print_summary(out: Console, title: str, runs: Iterable[Body]) -> None:
    """The summary table, then each run's manifest path (where its data is)."""
    listed = list(runs)
    out.print(summary_table(title, listed))
    for run in listed:
        if run.get("manifestPath"):
            out.print(f"  {run['phase']:<16} {run['manifestPath']}", markup=False)


def _timing(run: Body, terminal: bool, waiting: str | None) -> str:
    """`ETA 1m02s` while it runs, `took 1m30s` once it ended: never an elapsed time as ETA."""
    if terminal:
        took = elapsed(run)
        return f"took {fmt_seconds(took)}" if took is not None else ""
    eta = run.get("etaSeconds")
    return f"ETA {fmt_seconds(eta)}" if eta is not None and waiting is None else ""


class RunBars:
    """Rich progress bars, one per run (phase), fed with run JSON bodies; live on a
    terminal, the final state elsewhere."""

    def __init__(self, out: Console | None = None) -> None:
        # Imported here: rich.progress (and the live display under it) is a fifth of what
        # `maplecollect --help` would import otherwise (docs/performance.md, "Start-up").
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TextColumn("{task.fields[rate]:>10}"),
            TextColumn("{task.fields[timing]:<12}"),
            TextColumn("{task.fields[status]}"),
            console=out or console(),
            refresh_per_second=4,
        )
        self._tasks: dict[str, TaskID] = {}
        self._waits: dict[str, tuple[Any, ...]] = {}

    def _say_wait(self, run: Body, waiting: str | None) -> None:
        """A line when a run starts or stops waiting (pause, auto-resume): logs show it too."""
        run_id = str(run["runId"])
        pause = run.get("pause") or {}
        key = (run.get("status"), pause.get("code"), pause.get("since")) if waiting else ()
        if self._waits.get(run_id, ()) == key:
            return
        self._waits[run_id] = key
        line = f"{run.get('phase')} run {run_id} {waiting}" if waiting else None
        if line is None and not run.get("terminal"):
            line = f"{run.get('phase')} run {run_id} goes on"
        if line is not None:
            self.progress.console.print(line, markup=False, highlight=False)

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
            waiting = activity(run)
            failed = int(run.get("recordsFailed") or 0)
            fields: dict[str, Any] = {
                "failed": f"[red]{failed:,} failed[/]" if failed else "",
                "rate": fmt_rate(run.get("ratePerSecond")) if not terminal and not waiting else "",
                "timing": _timing(run, terminal, waiting),
                "status": status_text(run).markup,
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
            self._say_wait(run, waiting)
            if terminal:
                self.progress.stop_task(task)
