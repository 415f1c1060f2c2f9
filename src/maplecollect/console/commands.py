"""Client commands of a running service: trigger, loop, stop, stop-loop, status, runs, resume.

They call the control API (the same routes Airflow uses); `--url` and `--token`
choose the service. Read commands take `--json` for scripts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from maplecollect.console import options
from maplecollect.console.client import connect, describe
from maplecollect.console.errors import EXIT_INTERRUPTED, CliError, usage_error
from maplecollect.console.follow import (
    FOLLOW_SECONDS,
    STOP_WAIT_SECONDS,
    follow,
    wait_loop_stopped,
    wait_terminal,
)
from maplecollect.console.options import DateOpt, JsonOpt, TokenOpt, UrlOpt, WaitOpt
from maplecollect.console.render import (
    console,
    fmt_seconds,
    print_json,
    print_summary,
    run_detail,
    runs_table,
    status_table,
)

if TYPE_CHECKING:
    from maplecollect.client.sync import ControlClient

Body = dict[str, Any]


def _say(text: str, err: bool = False) -> None:
    """Human lines; with --json they go to stderr so stdout stays parseable."""
    console(stderr=err).print(text, markup=False)


def _follow(
    api: ControlClient, kind: str, target_id: str, phase: str | None, as_json: bool
) -> Body:
    """`--wait`: follow with bars; Ctrl-C stops following (exit 130), not the run."""
    _say(
        f"following {kind} {target_id} until it ends (at most {fmt_seconds(FOLLOW_SECONDS)}; "
        "Ctrl-C stops following, not the run)",
        as_json,
    )
    try:
        found = follow(api, kind, target_id, out=console(stderr=as_json))
    except KeyboardInterrupt:
        stop = f"maplecollect stop {phase}" if phase else "maplecollect stop PHASE"
        raise CliError(
            f"interrupted: stopped following {kind} {target_id}, which goes on on the service "
            f"(`{stop}` stops it; a STOPPED run is not resumed, trigger it again for a new run)",
            EXIT_INTERRUPTED,
        ) from None
    if as_json:
        print_json(found)
    return found


def _end_of_run(run: Body, err: bool = False) -> None:
    """Print how a followed run ended; exit 1 unless it COMPLETED."""
    status = run.get("status")
    line = (
        f"{run.get('phase')} run {run.get('runId')} ended {status}: "
        f"{run.get('recordsProcessed', 0):,} records, {run.get('recordsFailed', 0):,} failed"
    )
    if run.get("errorMessage"):
        line += f" — {run['errorMessage']}"
    if status != "COMPLETED":
        raise CliError(line)
    _say(line, err)


def trigger(
    *,
    target: Annotated[
        str, typer.Argument(metavar="daily|PHASE", help="A phase (e.g. RANKING_FETCH) or daily.")
    ],
    upstream: options.UpstreamOpt = None,
    date: DateOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Start one phase, or `daily`: the chain of all four phases."""
    snapshot = options.parse_date(date)
    phase, upstream = options.parse_target(target, upstream)
    if phase is None:
        with connect(url, token) as api:
            started = api.trigger_daily(date=snapshot)
            if started.followed:
                raise CliError(f"cannot start the daily chain: {describe(409, started.body)}")
            if as_json and not wait:
                print_json(started.body)
                return
            _say(
                f"started daily chain {started.chain_id} for {started.snapshot_date} "
                f"(RANKING_FETCH run {started.run_id})",
                as_json,
            )
            if wait:
                chain = _follow(api, "chain", started.chain_id, None, as_json)
                print_summary(
                    console(stderr=as_json),
                    f"daily chain {chain['chainId']}: {chain.get('status')}",
                    (chain.get("runs") or {}).values(),
                )
                if chain.get("status") != "COMPLETED":
                    raise CliError(
                        f"daily chain {chain['chainId']} ended {chain.get('status')}: "
                        f"{chain.get('errorMessage') or ''}".rstrip(": ")
                    )
                _say(f"daily chain {chain['chainId']} COMPLETED", as_json)
        return
    with connect(url, token) as api:
        triggered = api.trigger_phase(phase, upstream_run_id=upstream, date=snapshot)
        run_id = triggered.run_id
        if triggered.followed:
            if not wait:
                raise CliError(f"not started: {describe(409, triggered.body)}")
            _say(f"{phase.value} is already running: following run {run_id}", as_json)
        elif as_json and not wait:
            print_json(triggered.body)
            return
        else:
            via = f" from {triggered.upstream_run_id}" if triggered.upstream_run_id else ""
            _say(f"started {phase.value} run {run_id} for {triggered.snapshot_date}{via}", as_json)
        if wait:
            _end_of_run(_follow(api, "run", run_id, phase.value, as_json), as_json)


def loop(
    *,
    phase_name: options.LoopPhaseArg,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0,
            max=86400,
            help="Seconds between iterations.",
            show_default="0",
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Snapshot date or 'latest'.", show_default="latest"),
    ] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Start a loop: the phase re-runs back to back, each iteration a new run."""
    phase = options.parse_phase(phase_name, loopable=True)
    snapshot = options.parse_date(date)
    with connect(url, token) as api:
        started = api.start_loop(phase, interval_seconds=interval, date=snapshot)
    if as_json:
        print_json(started.body)
    elif started.already_active:
        _say(f"{phase.value} is already looping (loop {started.loop_id})")
    else:
        _say(
            f"started loop {started.loop_id} of {phase.value} "
            f"(date {started.snapshot_date}, interval {started.interval_seconds:g} s)"
        )


def stop(
    *,
    phase_name: Annotated[str, typer.Argument(metavar="PHASE", help="The phase to stop.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run has ended.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Stop the phase's running run (and its loop, if one is running). Idle is fine."""
    phase = options.parse_phase(phase_name)
    with connect(url, token) as api:
        result = api.stop_phase(phase)
        body = result.body
        if not result.requested:
            if as_json:
                print_json(body)
            else:
                _say(f"{phase.value} is not running (last run {result.last_run_id or '-'})")
            return
        loop = f" and its loop {result.loop_id}" if result.loop_id else ""
        _say(f"stop requested for {phase.value} run {result.run_id}{loop}", as_json)
        final = None
        if wait and result.run_id:
            _say(f"waiting for run {result.run_id} to end (up to {STOP_WAIT_SECONDS:g} s)", as_json)
            final = wait_terminal(api, result.run_id, say=lambda line: _say(line, as_json))
    if as_json:
        print_json({**body, "run": final} if final else body)
    elif final:
        _say(f"run {final['runId']} ended {final['status']}")


def stop_loop(
    *,
    phase_name: options.LoopPhaseArg,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the loop is STOPPED.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Stop the phase's loop and its running iteration. Not looping is fine."""
    phase = options.parse_phase(phase_name, loopable=True)
    with connect(url, token) as api:
        result = api.stop_loop(phase)
        body = result.body
        if not result.requested:
            print_json(body) if as_json else _say(f"{phase.value} is not looping")
            return
        loop_id = result.loop_id
        running = f" (stopping run {result.run_id})" if result.run_id else ""
        _say(f"stop requested for loop {loop_id} of {phase.value}{running}", as_json)
        final = None
        if wait:
            _say(f"waiting for loop {loop_id} to stop (up to {STOP_WAIT_SECONDS:g} s)", as_json)
            final = wait_loop_stopped(api, phase.value, say=lambda line: _say(line, as_json))
    if as_json:
        print_json({**body, "loop": final} if final else body)
    elif final:
        _say(f"loop {final['loopId']} STOPPED after {final['iterationCount']} iteration(s)")


def status(
    *,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes (--watch).")
    ] = 2.0,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Show every phase: the run holding it (or its newest run), progress, and its loop."""
    if watch and as_json:
        raise usage_error("--watch and --json do not go together")
    with connect(url, token) as api:
        if as_json:
            print_json(api.run_status().wire())
            return
        if not watch:
            console().print(status_table(api.run_status().wire()))
            return
        _watch(api, interval)


def _watch(api: ControlClient, interval: float) -> None:
    """Refresh the table until Ctrl-C; a restarting service shows "unreachable, retrying"."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from maplecollect.client.errors import Unavailable
    from maplecollect.console.client import cli_error

    last: dict[str, Any] = api.run_status().wire()
    down = False
    try:
        with Live(status_table(last), console=console(), auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                try:
                    last = api.run_status().wire()
                except Unavailable as exc:
                    note = f"{cli_error(exc).message}: unreachable, retrying every {interval:g} s"
                    if not down:  # a line too, so logs and pipes see the outage
                        live.console.print(note, markup=False, highlight=False)
                    down = True
                    live.update(Group(status_table(last), Text(note, style="bold red")))
                    live.refresh()
                    continue
                if down:
                    live.console.print("the control API answers again", highlight=False)
                down = False
                live.update(status_table(last), refresh=True)
    except KeyboardInterrupt:
        return


def runs(
    *,
    run_id: Annotated[str | None, typer.Argument(help="Show this one run in detail.")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="Only this phase.")] = None,
    status_name: Annotated[
        str | None, typer.Option("--status", help="Only this status (e.g. FAILED).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many.")] = 20,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Run history, newest first; with RUN_ID, one run with its progress and manifest."""
    if run_id is not None:
        options.parse_run_id(run_id)
    parsed_phase = options.parse_phase(phase).value if phase else None
    if status_name is not None and status_name not in options.RUN_STATUSES:
        raise usage_error(
            f"unknown status {status_name!r} (choose from {', '.join(options.RUN_STATUSES)})"
        )
    with connect(url, token) as api:
        if run_id is not None:
            run = api.run(run_id).wire()
            print_json(run) if as_json else console().print(run_detail(run))
            return
        rows = [row.wire() for row in api.runs(phase=parsed_phase, status=status_name, limit=limit)]
    if as_json:
        print_json(rows)
    elif not rows:
        _say("no runs yet")
    else:
        console().print(runs_table(rows))


def resume(
    *,
    run_id: Annotated[str, typer.Argument(help="A FAILED or ABANDONED run.")],
    wait: WaitOpt = False,
    local: Annotated[
        bool,
        typer.Option("--local", help="Resume in this process (like `run`), not on a service."),
    ] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Continue a FAILED or ABANDONED run after its last published chunk (same run id)."""
    options.parse_run_id(run_id)
    if local:
        from maplecollect.console.run_local import collect_here

        collect_here(run_id, as_json=as_json, resume_run_id=run_id)
        return
    with connect(url, token) as api:
        body = api.resume(run_id).wire()
        if as_json and not wait:
            print_json(body)
            return
        _say(
            f"resumed {body.get('phase')} run {run_id} "
            f"from {body.get('recordsProcessed', 0):,} records (resume #{body.get('resumeCount')})",
            as_json,
        )
        if wait:
            _end_of_run(_follow(api, "run", run_id, str(body.get("phase")), as_json), as_json)
