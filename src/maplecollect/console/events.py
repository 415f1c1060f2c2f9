"""`maplecollect events [--follow]`: the outbox feed of a running service (docs/downstream.md)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer

from maplecollect.console import options
from maplecollect.console.client import connect
from maplecollect.console.options import JsonOpt, TokenOpt, UrlOpt

# Below the client's 30 s read timeout, so a quiet long-poll never looks like a dead service.
LONG_POLL_SECONDS = 20.0


def _line(event: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return orjson.dumps(event).decode()
    value = event.get("value") or {}
    extra = value.get("recordCount", value.get("totalRecords"))
    tail = f"  records={extra}" if extra is not None else ""
    return f"{event['seq']:>8}  {event['eventType']:<24} {event['key']}{tail}"


def events(
    *,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Start after this sequence number.")
    ] = 0,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep waiting for new events (long-poll).")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Exit after this many events.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="Events per request.")
    ] = 100,
    as_json: JsonOpt = False,
    url: UrlOpt = options.DEFAULT,
    token: TokenOpt = None,
) -> None:
    """Print outbox events after a sequence number (--json: one JSON object per line)."""
    printed = 0
    with connect(url, token) as api:
        while True:
            page = api.events(
                after=after, limit=limit, wait_seconds=LONG_POLL_SECONDS if follow else 0
            ).wire()
            for event in page.get("events", []):
                sys.stdout.write(_line(event, as_json) + "\n")
                printed += 1
                if count is not None and printed >= count:
                    sys.stdout.flush()
                    return
            sys.stdout.flush()
            after = int(page.get("nextAfter", after))
            if not follow and not page.get("events"):
                return
