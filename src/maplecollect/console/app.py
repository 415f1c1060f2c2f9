"""How the CLI ends: exit codes and one-line errors, the same under CliRunner and a shell.

0 ok, 1 failure, 2 bad usage (click usage errors, bad values, bad settings).
A user mistake never shows a traceback; `--debug` (or MAPLECOLLECT_DEBUG=1)
adds it for everything, and an unexpected error says how to see it.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import typer
from typer._click import exceptions as click  # Typer vendors click: its exceptions live here
from typer.core import TyperGroup

from maplecollect.client.errors import ControlApiError
from maplecollect.console.client import cli_error
from maplecollect.console.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from maplecollect.errors import ConfigError, MaplecollectError


@dataclass
class _State:
    debug: bool = False


state = _State()


def _error_line(message: str) -> None:
    line = " ".join(str(message).split())  # one line, whatever the message holds
    typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)


def _shown(exc: Exception) -> CliError:
    """The line and exit code of an error the CLI expects (bad settings are bad usage)."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, ControlApiError):
        return cli_error(exc)
    return CliError(str(exc), EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE)


class OneLineErrors(TyperGroup):
    """The top-level group: runs the CLI in non-standalone mode and maps errors to exits."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # `--debug` is accepted anywhere on the line, not only before the command.
        given = list(args) if args is not None else sys.argv[1:]
        state.debug = "--debug" in given
        args = [a for a in given if a != "--debug"]
        code = 0
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except click.NoArgsIsHelpError as exc:
            if exc.ctx is not None:
                typer.echo(exc.ctx.get_help())
            code = EXIT_USAGE
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "maplecollect"
            _error_line(f"{exc.format_message()} (see `{command} --help`)")
            code = EXIT_USAGE
        except click.ClickException as exc:
            _error_line(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            _error_line("aborted")
            code = EXIT_FAILURE
        except KeyboardInterrupt:
            _error_line("interrupted")
            code = 130
        except (CliError, MaplecollectError) as exc:
            if state.debug:
                traceback.print_exc()
            shown = _shown(exc)
            _error_line(shown.message)
            code = shown.code
        except Exception as exc:
            if state.debug:
                traceback.print_exc()
            hint = "" if state.debug else " (run with --debug for the traceback)"
            _error_line(f"unexpected {type(exc).__name__}: {exc}{hint}")
            code = EXIT_FAILURE
        if standalone_mode:
            sys.exit(code)
        return code
