"""A small synchronous client of the control API (docs/control-api.md), for the CLI, smoke, demo.

Every problem — the service is unreachable, the token is refused, an answer the
caller did not expect — is raised as one `ControlApiError` (a `CliError`) whose
message is one line an operator can act on. 400 answers are bad usage (exit 2).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported on first use: `maplecollect --help` need not load httpx
    import httpx

from maplecollect.console.errors import EXIT_FAILURE, EXIT_USAGE, CliError, usage_error

DEFAULT_URL = "http://127.0.0.1:8081"
TOKEN_ENV = "MAPLECOLLECT_API_TOKEN"

Body = dict[str, Any]
# A proxy in front of a restarting service answers these without our JSON.
_GATEWAY_DOWN = frozenset({502, 503, 504})


class ControlApiError(CliError):
    """The control API could not be used, or answered something the caller did not accept."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Body | None = None,
        unreachable: bool = False,
    ) -> None:
        code = EXIT_USAGE if status == 400 else EXIT_FAILURE
        super().__init__(message, code)
        self.status = status
        self.body = body or {}
        self.unreachable = unreachable
        """No answer from the service (or a proxy's 502/503/504): waiters retry a while."""


def check_url(url: str) -> str:
    """`http(s)://host[:port]` without a trailing slash; anything else is bad usage."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise usage_error(f"--url must look like http://127.0.0.1:8081, got {url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise usage_error(f"--url has an invalid port: {url!r}") from None
    return url.strip().rstrip("/")


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


class ControlClient:
    """`with ControlClient(url, token) as api: api.run_status()`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.url = check_url(url)
        headers = {"User-Agent": "maplecollect-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_options(cls, url: str | None, token: str | None) -> ControlClient:
        return cls(url or DEFAULT_URL, token if token is not None else os.environ.get(TOKEN_ENV))

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        json: Body | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; returns (status, JSON body) if the status is in `ok`."""
        import httpx

        try:
            res = self._http.request(method, path, json=json, headers=headers, params=params)
        except httpx.ConnectError:
            raise ControlApiError(
                f"cannot reach the control API at {self.url} "
                "(is `maplecollect serve` running? see --url)",
                unreachable=True,
            ) from None
        except httpx.TimeoutException:
            raise ControlApiError(
                f"the control API at {self.url} did not answer in time", unreachable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ControlApiError(
                f"talking to the control API at {self.url} failed: {type(exc).__name__}",
                unreachable=True,
            ) from None
        try:
            body = res.json()
        except ValueError:
            raise ControlApiError(
                f"{method} {path} answered HTTP {res.status_code} without JSON; "
                f"is {self.url} the maplecollect control API?",
                status=res.status_code,
                unreachable=res.status_code in _GATEWAY_DOWN,
            ) from None
        if res.status_code == 401:
            raise ControlApiError(
                f"the control API refused the token (HTTP 401); pass --token or set {TOKEN_ENV}",
                status=401,
            )
        if res.status_code not in ok:
            as_dict = body if isinstance(body, dict) else {}
            raise ControlApiError(
                describe(res.status_code, as_dict), status=res.status_code, body=as_dict
            )
        return res.status_code, body

    # -- routes ----------------------------------------------------------------

    def health(self) -> Body:
        _, body = self.request("GET", "/health", ok=(200, 503))
        return dict(body)

    def trigger_phase(
        self, phase: str, *, upstream: str | None = None, date: str | None = None
    ) -> tuple[int, Body]:
        """202 STARTED or 409 ALREADY_RUNNING / LOOP_ACTIVE (the caller decides)."""
        headers = {"X-Upstream-Run-Id": upstream} if upstream else None
        status, body = self.request(
            "POST",
            f"/api/internal/trigger/phase/{phase}",
            ok=(202, 409),
            json={"date": date} if date else None,
            headers=headers,
        )
        return status, dict(body)

    def trigger_daily(self, *, date: str | None = None) -> tuple[int, Body]:
        status, body = self.request(
            "POST",
            "/api/internal/trigger/daily",
            ok=(202, 409),
            json={"date": date} if date else None,
        )
        return status, dict(body)

    def start_loop(
        self, phase: str, *, interval: float | None = None, date: str | None = None
    ) -> tuple[int, Body]:
        payload: Body = {}
        if interval is not None:
            payload["intervalSeconds"] = interval
        if date:
            payload["date"] = date
        status, body = self.request(
            "POST", f"/api/internal/loop/phase/{phase}", ok=(202, 409), json=payload or None
        )
        return status, dict(body)

    def stop_phase(self, phase: str) -> Body:
        _, body = self.request("POST", f"/api/internal/stop/phase/{phase}", ok=(200, 202))
        return dict(body)

    def stop_loop(self, phase: str) -> Body:
        _, body = self.request("POST", f"/api/internal/stop/loop/phase/{phase}", ok=(200, 202))
        return dict(body)

    def resume(self, run_id: str) -> Body:
        _, body = self.request("POST", f"/api/internal/resume/run/{run_id}", ok=(202,))
        return dict(body)

    def run_status(self) -> Body:
        _, body = self.request("GET", "/api/internal/run-status")
        return dict(body)

    def runs(
        self, *, phase: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Body]:
        params: dict[str, Any] = {"limit": limit}
        if phase:
            params["phase"] = phase
        if status:
            params["status"] = status
        _, body = self.request("GET", "/api/internal/runs", params=params)
        return list(body)

    def run(self, run_id: str) -> Body:
        _, body = self.request("GET", f"/api/internal/runs/{run_id}")
        return dict(body)

    def events(self, *, after: int = 0, limit: int = 100, wait_seconds: float = 0) -> Body:
        """One page of outbox events after `after`; waits up to `wait_seconds` for the first."""
        params = {"after": after, "limit": limit, "timeout": wait_seconds}
        _, body = self.request("GET", "/api/internal/events", params=params)
        return dict(body)

    def chain(self, chain_id: str) -> Body:
        _, body = self.request("GET", f"/api/internal/chains/{chain_id}")
        return dict(body)
