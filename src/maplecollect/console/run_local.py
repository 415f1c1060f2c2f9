"""`maplecollect run daily|<PHASE>`: collect in this process, no service needed.

The same Supervisor as the service's (same database, store and slots), so a run
here shows in a service's `status` and a phase busy there is refused here.
"""

from __future__ import annotations

# asyncio is imported in the functions that use it: `maplecollect --help` imports this
# module, and asyncio is a tenth of its start-up (docs/performance.md, "Start-up").
import contextlib
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from maplecollect.console import options, render
from maplecollect.console.errors import EXIT_INTERRUPTED, CliError, usage_error
from maplecollect.console.render import RunBars, console, print_json
from maplecollect.errors import (
    InvalidRequest,
    InvalidTransition,
    RunNotFound,
    SlotConflict,
    UpstreamError,
    UpstreamNotFound,
)
from maplecollect.phases import ORDER, Phase

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterator

    from maplecollect.config import Settings
    from maplecollect.state.models import RunRow

Body = dict[str, Any]


@dataclass
class Outcome:
    """What a local run (or chain) ended with."""

    status: str
    runs: list[Body]
    chain_id: str | None = None
    error: str | None = None
    interrupted: bool = False  # Ctrl-C stopped the runs

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"


def public(row: RunRow) -> Body:
    from maplecollect.contract.models import RunPublic

    body: Body = RunPublic.model_validate(row).wire()
    return body


def check_can_collect(settings: Settings, out: Console) -> None:
    """No key is a usage error; the real API gets a one-line reminder of its quota."""
    from maplecollect.config import REAL_NEXON_BASE_URL

    if not settings.api_key_value():
        raise usage_error(
            "NEXON_API_KEY is not set (for a local try without a key, run `maplecollect demo`)"
        )
    if settings.nexon_base_url == REAL_NEXON_BASE_URL:
        out.print(
            f"collecting from the real Nexon Open API at {settings.rate_limit:g} req/s "
            "(a development key allows 5 req/s and 1,000 calls a day: set "
            "MAPLECOLLECT_RATE_LIMIT=5)",
            style="yellow",
        )


@contextlib.contextmanager
def _interrupts() -> Iterator[tuple[asyncio.Event, asyncio.Event]]:
    """Events of Ctrl-C (or SIGTERM): the first sets `stop` (end the runs cleanly), the
    next also `abort` (give up: runs end ABANDONED)."""
    import asyncio

    stop, abort = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            abort.set()
        stop.set()

    loop = asyncio.get_running_loop()
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, on_signal)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        signals = ()
    try:
        yield stop, abort
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def collect(
    settings: Settings,
    target: str,
    *,
    upstream: str | None = None,
    date: str | None = None,
    resume_run_id: str | None = None,
    out: Console | None = None,
    poll_seconds: float = 0.25,
) -> Outcome:
    """Run the daily chain (`target="daily"`), one phase, or resume a run, in this process."""
    import asyncio

    # The phases without the control API: `run` never loads FastAPI (docs/performance.md).
    from maplecollect.collect.registry import default_finalizer, phase_runners
    from maplecollect.control.supervisor import Supervisor
    from maplecollect.state import migrations
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.repository import Repository

    url = settings.resolved_database_url
    await asyncio.to_thread(migrations.upgrade, url)
    repo = Repository(create_async_db_engine(url, timeouts=settings.db_timeouts()))
    runners, finalizer = phase_runners(), default_finalizer()
    # Nobody would resume an in-process run: a shutdown leaves it ABANDONED.
    local = settings.model_copy(update={"auto_resume": False})
    sup = Supervisor(local, repo, runners, finalizer=finalizer)
    signals = contextlib.ExitStack()
    try:
        await sup.start()
        stop, abort = signals.enter_context(_interrupts())
        chain_id: str | None = None
        try:
            if resume_run_id is not None:
                first = await sup.resume(resume_run_id)
            elif target == "daily":
                chain_id, first = await sup.trigger_daily(date=date)
            else:
                first = await sup.trigger_phase(Phase(target), upstream=upstream, date=date)
        except SlotConflict as exc:
            holder = f"loop {exc.loop_id}" if exc.loop_id else f"run {exc.run_id}"
            raise CliError(
                f"{exc.phase} is busy ({holder}); see `maplecollect status` or stop it first"
            ) from None
        except UpstreamNotFound as exc:
            if exc.upstream_run_id != "latest":
                raise CliError(f"cannot start {target}: {exc}") from None
            raise CliError(
                f"cannot start {target}: there is no COMPLETED {exc.upstream_phase} run yet; "
                f"run {exc.upstream_phase} first or pass --upstream RUN_ID"
            ) from None
        except UpstreamError as exc:
            raise CliError(f"cannot start {target}: {exc}") from None
        except InvalidRequest as exc:
            raise usage_error(exc.message) from None
        except (RunNotFound, InvalidTransition) as exc:
            raise CliError(f"cannot resume: {exc}") from None

        async def snapshot() -> tuple[list[Body], str | None, str | None]:
            """The runs so far; once ended, the final status and error too."""
            if chain_id is None:
                row = await repo.get_run(first.run_id)
                assert row is not None
                body = public(row)
                if not body["terminal"]:
                    return [body], None, None
                return [body], body["status"], body.get("errorMessage")
            chain = await repo.get_chain(chain_id)
            by_phase: dict[str, Body] = {}
            for row in await repo.list_runs(chain_id=chain_id, limit=100):
                by_phase.setdefault(row.phase, public(row))
            ordered = [by_phase[p.value] for p in ORDER if p.value in by_phase]
            if chain is None or chain.status == "RUNNING":
                return ordered, None, None
            return ordered, chain.status, chain.error_message

        stop_sent = False
        with RunBars(out) as bars:
            while True:
                runs, final, error = await snapshot()
                bars.update(runs)
                if final is not None:
                    break
                if abort.is_set():
                    raise CliError(
                        "interrupted twice: runs left ABANDONED (resumable with "
                        "`maplecollect resume RUN_ID --local`)",
                        EXIT_INTERRUPTED,
                    )
                if stop.is_set() and not stop_sent:
                    stop_sent = True
                    (out or console()).print("stopping (Ctrl-C again to abandon)…")
                    for run in runs:
                        if not run["terminal"]:
                            await sup.stop_phase(Phase(run["phase"]))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stop.wait() if not stop_sent else abort.wait(),
                        poll_seconds,
                    )
        return Outcome(final, runs, chain_id, error, interrupted=stop_sent)
    finally:
        signals.close()
        await sup.close()
        await repo.dispose()


def collect_here(
    target: str,
    *,
    as_json: bool,
    upstream: str | None = None,
    date: str | None = None,
    resume_run_id: str | None = None,
    no_cache: bool = False,
) -> None:
    """Collect (or resume, `maplecollect resume RUN_ID --local`) in this process; exit 1
    unless COMPLETED, 130 after a Ctrl-C."""
    import asyncio

    from maplecollect.console.settings import load_settings

    settings = load_settings()
    if no_cache:
        settings = settings.model_copy(update={"ocid_cache": False})
    out = console(stderr=as_json)
    check_can_collect(settings, out)
    outcome = asyncio.run(
        collect(
            settings, target, upstream=upstream, date=date, resume_run_id=resume_run_id, out=out
        )
    )
    if as_json:
        print_json({"status": outcome.status, "chainId": outcome.chain_id, "runs": outcome.runs})
    else:
        title = f"chain {outcome.chain_id}" if outcome.chain_id else "run"
        render.print_summary(out, f"{title}: {outcome.status}", outcome.runs)
    if outcome.interrupted and not outcome.ok:
        stopped = [r["runId"] for r in outcome.runs if r.get("status") == "STOPPED"]
        again = "daily" if outcome.chain_id or not outcome.runs else outcome.runs[0]["phase"]
        raise CliError(
            f"interrupted: {target} ended {outcome.status}"
            + (f" (run {', '.join(stopped)} STOPPED, its records kept)" if stopped else "")
            + f"; a STOPPED run is not resumed: run `maplecollect run {again}` again "
            "for a new run",
            EXIT_INTERRUPTED,
        )
    if not outcome.ok:
        raise CliError(f"{target} ended {outcome.status}: {outcome.error or 'see above'}")


def run(
    *,
    target: Annotated[
        str, typer.Argument(metavar="daily|PHASE", help="'daily' (the whole chain) or one phase.")
    ],
    upstream: options.UpstreamOpt = None,
    date: options.DateOpt = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="OCID_LOOKUP: look every name up again instead of using the OCID cache "
            "(the cache is still refreshed).",
        ),
    ] = False,
    as_json: options.JsonOpt = False,
) -> None:
    """Collect in this process (no service needed), with progress bars per phase.

    Uses the same settings, database and store as `maplecollect serve`.
    """
    phase, upstream = options.parse_target(target, upstream)
    target = phase.value if phase is not None else target
    snapshot = options.parse_date(date)
    collect_here(target, as_json=as_json, upstream=upstream, date=snapshot, no_cache=no_cache)
