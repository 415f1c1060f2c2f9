"""The CLI's side of the control-API client (`maplecollect.client`): options in, errors out.

The client is imported on first use: `maplecollect --help` need not load httpx or
the contract models.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from maplecollect.console.errors import EXIT_FAILURE, EXIT_USAGE, CliError, usage_error
from maplecollect.errors import ConfigError

if TYPE_CHECKING:
    from maplecollect.client.errors import ControlApiError
    from maplecollect.client.sync import ControlClient

DEFAULT_URL = "http://127.0.0.1:8081"
TOKEN_ENV = "MAPLECOLLECT_API_TOKEN"

Body = dict[str, Any]


def check_url(url: str, option: str = "--url") -> str:
    """`http(s)://host[:port]` without a trailing slash; anything else is bad usage."""
    from maplecollect.client.endpoint import check_url as check

    try:
        return check(url, what=option)
    except ConfigError as exc:
        raise usage_error(str(exc)) from None


def connect(url: str | None = None, token: str | None = None) -> ControlClient:
    """The client of `--url` and `--token` (else $MAPLECOLLECT_API_TOKEN).

    No retries: a command fails at once, and the waits ride out an outage themselves.
    """
    from maplecollect.client.endpoint import Endpoint
    from maplecollect.client.sync import ControlClient

    endpoint = Endpoint(
        check_url(url or DEFAULT_URL),
        token if token is not None else os.environ.get(TOKEN_ENV) or None,
        retries=0,
        user_agent="maplecollect-cli",
    )
    return ControlClient(endpoint)


def cli_error(exc: ControlApiError) -> CliError:
    """The one line (and exit code) the CLI shows for a failed call."""
    from maplecollect.client.errors import Refused, Unavailable

    if isinstance(exc, Unavailable):
        where = exc.url or "the configured URL"
        if exc.cause.startswith("ConnectError"):
            return CliError(
                f"cannot reach the control API at {where} "
                "(is `maplecollect serve` running? see --url)"
            )
        if "Timeout" in exc.cause.split(":", 1)[0]:
            return CliError(f"the control API at {where} did not answer in time")
        return CliError(f"talking to the control API at {where} failed: {exc.cause}")
    if isinstance(exc, Refused):
        if exc.status == 401:
            return CliError(
                f"the control API refused the token (HTTP 401); pass --token or set {TOKEN_ENV}"
            )
        code = EXIT_USAGE if exc.status == 400 else EXIT_FAILURE
        return CliError(describe(exc.status or 0, exc.body), code)
    return CliError(exc.message)


def describe(status: int, body: Body) -> str:
    """One line for an answer of the control API (never includes the token)."""
    kind = body.get("error") or body.get("status") or f"HTTP {status}"
    phase = body.get("phase")
    if kind == "ALREADY_RUNNING":
        chain = body.get("chainId")
        if chain and not body.get("runId"):
            return f"the daily chain {chain} is running (between two of its phases)"
        of_chain = f" of daily chain {chain}" if chain else ""
        return f"{phase} is already running (run {body.get('runId')}{of_chain})"
    if kind == "CHAIN_ACTIVE":
        return (
            f"the daily chain {body.get('chainId')} has not run {phase} yet and goes first; "
            f"wait for it or stop it"
        )
    if kind == "LOOP_ACTIVE":
        return (
            f"{phase} is held by loop {body.get('loopId')}; "
            f"stop it first with `maplecollect stop-loop {phase}`"
        )
    if kind == "LOOP_ALREADY_ACTIVE":
        return f"{phase} is already looping (loop {body.get('loopId')})"
    if kind == "UPSTREAM_NOT_FOUND" and body.get("upstreamRunId") == "latest":
        upstream = body.get("upstreamPhase") or "upstream"
        return (
            f"UPSTREAM_NOT_FOUND: there is no COMPLETED {upstream} run yet; "
            f"run {upstream} first or pass --upstream RUN_ID"
        )
    message = body.get("message") or kind
    if kind == "INVALID_PHASE" and body.get("allowed"):
        message = f"{message} (allowed: {', '.join(body['allowed'])})"
    return f"{kind}: {message}" if message != kind else str(kind)
