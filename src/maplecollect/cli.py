"""The `maplecollect` command line (Typer + Rich)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="maplecollect",
    help="Collect daily MapleStory snapshots from the Nexon Open API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()
