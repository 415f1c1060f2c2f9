"""Shared CLI options and argument checks (bad values are usage errors: exit 2, one line)."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Annotated

import typer

from maplecollect.console.client import DEFAULT_URL, TOKEN_ENV
from maplecollect.console.errors import usage_error
from maplecollect.dates import parse_snapshot_date
from maplecollect.errors import InvalidRequest
from maplecollect.ids import is_valid_id
from maplecollect.phases import LOOPABLE, ORDER, Phase

UrlOpt = Annotated[
    str,
    typer.Option("--url", help="Base URL of the control API.", envvar="MAPLECOLLECT_URL"),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token of the control API (never printed).",
        envvar=TOKEN_ENV,
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")]
DateOpt = Annotated[
    str | None,
    # A literal "[default: ...]" in help is Rich markup and vanishes: say it with show_default.
    typer.Option(
        "--date",
        help="Snapshot date YYYY-MM-DD (KST) or 'latest'.",
        show_default="yesterday in KST",
    ),
]
LoopPhaseArg = Annotated[
    str, typer.Argument(metavar="PHASE", help="CHARACTER_BASIC or ITEM_EQUIPMENT.")
]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow the run with progress bars.")]
UpstreamOpt = Annotated[
    str | None,
    typer.Option(
        "--upstream", help="Upstream run id or 'latest' (non-root phases).", show_default="latest"
    ),
]

DEFAULT = DEFAULT_URL
DAILY = "daily"
# RunStatus values, spelled out so client commands never import the SQL models.
RUN_STATUSES = (
    "RUNNING",
    "STOPPING",
    "COMPLETED",
    "FAILED",
    "STOPPED",
    "ABANDONED",
    "INTERRUPTED",
)


def parse_phase(value: str, *, loopable: bool = False) -> Phase:
    """Exact upper-case phase names, as the API takes them; a near miss gets a suggestion."""
    allowed = LOOPABLE if loopable else ORDER
    phase = Phase.parse(value)
    if phase is not None and phase in allowed:
        return phase
    names = [p.value for p in allowed]
    guess = difflib.get_close_matches(value.upper(), names, n=1)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    what = "loopable phase" if loopable else "phase"
    raise usage_error(f"unknown {what} {value!r} (choose from {', '.join(names)}){hint}")


def parse_date(value: str | None, what: str = "--date") -> str | None:
    if value is None:
        return None
    try:
        return parse_snapshot_date(value, now=datetime.now(UTC))
    except InvalidRequest as exc:
        raise usage_error(f"bad {what}: {exc.message}") from None


def parse_run_id(value: str, what: str = "run id") -> str:
    if not is_valid_id(value):
        raise usage_error(f"invalid {what} {value!r}: 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def parse_target(target: str, upstream: str | None) -> tuple[Phase | None, str | None]:
    """`daily` (None) or a phase with its upstream (`latest` unless given, None for the root)."""
    if target == DAILY:
        if upstream is not None:
            raise usage_error("--upstream does not apply to the daily chain")
        return None, None
    phase = parse_phase(target)
    if phase.upstream is None:
        if upstream is not None:
            raise usage_error(f"{phase.value} is the root phase and takes no --upstream")
        return phase, None
    if upstream is not None and upstream != "latest":
        parse_run_id(upstream, "upstream run id")
    return phase, upstream or "latest"
