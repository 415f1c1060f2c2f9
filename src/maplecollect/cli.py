"""The `maplecollect` command line (Typer + Rich): the server-side commands live here, the
others in `maplecollect.console`; exits and errors are `console/app.py`'s."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from maplecollect.console import (
    commands,
    demo,
    events,
    export,
    purge,
    relay,
    run_local,
    smoke,
)
from maplecollect.console.app import OneLineErrors, state
from maplecollect.console.errors import CliError, usage_error
from maplecollect.errors import MaplecollectError
from maplecollect.sim.cli import sim_command

app = typer.Typer(
    name="maplecollect",
    cls=OneLineErrors,
    help="Collect daily MapleStory snapshots from the Nexon Open API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: Rich-formatted help imports rich.markdown, pygments and
    # rich.traceback, a third of `--help` (docs/performance.md, "Start-up").
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Run-state database.", no_args_is_help=True, rich_markup_mode=None)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show tracebacks and debug logs.", envvar="MAPLECOLLECT_DEBUG"
        ),
    ] = False,
) -> None:
    """Collect daily MapleStory snapshots from the Nexon Open API."""
    state.debug = state.debug or debug
    if state.debug:
        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )


def _is_loopback(host: str) -> bool:
    import ipaddress  # here, not at the top: `--help` need not pay for it

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8081,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the control API (applies database migrations first)."""
    import uvicorn

    from maplecollect.api import access_log
    from maplecollect.api.app import create_app
    from maplecollect.console.settings import load_settings

    settings = load_settings()  # a bad environment variable: one line, exit 2
    if not settings.api_token_value() and not _is_loopback(host):
        raise usage_error(
            f"refusing to bind {host} without MAPLECOLLECT_API_TOKEN; set a token or bind 127.0.0.1"
        )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        # No websocket routes: ws="none" spares importing a websocket library at start.
        config = uvicorn.Config(
            create_app(settings), host=host, port=port, log_level=log_level, ws="none"
        )
        access_log.install()  # after uvicorn set up its loggers: no query strings logged
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"status page: http://{shown}:{port}/ (API docs at /docs)", err=True)
        uvicorn.Server(config).run()
    except MaplecollectError as exc:
        raise CliError(str(exc)) from None


# Help lists commands in this order: service, try-out, collect, operate, maintain.
app.command("sim", help="Run the Nexon Open API simulator until Ctrl-C.")(sim_command)
app.command("demo")(demo.demo)
app.command("run")(run_local.run)
app.command("trigger")(commands.trigger)
app.command("loop")(commands.loop)
app.command("stop")(commands.stop)
app.command("stop-loop")(commands.stop_loop)
app.command("status")(commands.status)
app.command("runs")(commands.runs)
app.command("resume")(commands.resume)
app.command("events")(events.events)
app.command("relay")(relay.relay)
app.command("export")(export.export)
app.command("smoke")(smoke.smoke)
app.command("purge")(purge.purge)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to MAPLECOLLECT_DATABASE_URL (idempotent)."""
    from maplecollect.console.settings import load_settings
    from maplecollect.state import migrations

    settings = load_settings()
    try:
        migrations.upgrade(settings.resolved_database_url)
        revision = migrations.current_revision(settings.resolved_database_url)
    except MaplecollectError as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"database at revision {revision}")


def main() -> None:
    """Entry point of the `maplecollect` script (errors are handled by OneLineErrors)."""
    app()
