"""`ExtApiHook`: the one owner of the `external_api` connection and of every HTTP call.

Operators, sensors and the trigger call its verbs; they never build URLs or read
credentials. Each verb returns a small typed result (see `protocol`) or raises an
`ExtApiError`:

- transport errors and 5xx are retried (`retries` extra, exponential backoff),
  then `ExtApiUnavailable` naming the call ("trigger ITEM_EQUIPMENT ...");
- refusals (400/401/404/409 ...) raise `ExtApiRefused` with the body verbatim,
  except the answers docs/airflow.md maps to success (409 ALREADY_RUNNING followed,
  LOOP_ALREADY_ACTIVE, NOT_RUNNING, NOT_LOOPING).

The bearer token is sent in `Authorization` only; it is scrubbed from any text
that ends up in an exception and never logged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from airflow.sdk import BaseHook

import maplecollect
from maplecollect.airflow import protocol as p
from maplecollect.airflow.connection import (
    DEFAULT_CONN_ID,
    ApiEndpoint,
    endpoint_from_connection,
)
from maplecollect.airflow.errors import ExtApiUnavailable
from maplecollect.errors import ConfigError
from maplecollect.phases import Phase

_USER_AGENT = f"maplecollect-airflow/{maplecollect.__version__}"


def _phase(value: Phase | str) -> Phase:
    phase = value if isinstance(value, Phase) else Phase.parse(str(value))
    if phase is None:
        allowed = ", ".join(Phase)
        raise ConfigError(f"unknown phase {value!r}; expected one of {allowed}")
    return phase


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _retriable(reply: p.Reply) -> bool:
    return reply.status >= 500


class ExtApiHook(BaseHook):
    """Client of the maplecollect control API (docs/control-api.md) for Airflow tasks and triggers.

    :param conn_id: Airflow connection id (conn_type ``maplecollect`` or ``http``).
    :param endpoint: use this endpoint instead of reading the connection (tests).
    :param transport: / async_transport: injected httpx transports (tests).
    """

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "maplecollect"
    hook_name = "maplecollect control API"

    def __init__(
        self,
        conn_id: str = DEFAULT_CONN_ID,
        *,
        endpoint: ApiEndpoint | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._endpoint = endpoint
        self._transport = transport
        self._async_transport = async_transport
        self._aclient: httpx.AsyncClient | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login"],
            "relabeling": {"password": "Bearer token (MAPLECOLLECT_API_TOKEN)"},
            "placeholders": {
                "host": "127.0.0.1",
                "port": "8081",
                "schema": "http",
                "extra": '{"timeout": 30, "retries": 3}',
            },
        }

    # -- connection ------------------------------------------------------------

    def endpoint(self) -> ApiEndpoint:
        if self._endpoint is None:
            conn = self.get_connection(self.conn_id)
            self._endpoint = endpoint_from_connection(conn, conn.extra_dejson)
        return self._endpoint

    async def aendpoint(self) -> ApiEndpoint:
        """Async variant for the triggerer (a sync connection read would block its loop)."""
        if self._endpoint is None:
            conn = await self.aget_connection(self.conn_id)
            self._endpoint = endpoint_from_connection(conn, await conn.aextra_dejson())
        return self._endpoint

    @staticmethod
    def _client_kwargs(ep: ApiEndpoint) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if ep.token:
            headers["Authorization"] = f"Bearer {ep.token}"
        return {
            "base_url": ep.base_url,
            "headers": headers,
            "timeout": httpx.Timeout(ep.timeout, connect=ep.connect_timeout),
            "verify": ep.verify,
        }

    # -- sending (sync for workers, async for the triggerer) --------------------

    @staticmethod
    def _judge(
        ep: ApiEndpoint,
        request: p.Request,
        resp: httpx.Response | None,
        exc: httpx.TransportError | None,
    ) -> tuple[p.Reply | None, str]:
        """One attempt's verdict: (reply, "") to return, or (None, cause) to retry."""
        if exc is not None:
            return None, _scrub(f"{type(exc).__name__}: {exc}", ep.token)
        assert resp is not None
        reply = p.Reply(resp.status_code, resp.text)
        if request.retry and _retriable(reply):
            return None, f"HTTP {reply.status}: {_scrub(reply.text[:300], ep.token)}"
        return reply, ""

    def _call(self, request: p.Request) -> p.Reply:
        ep = self.endpoint()
        attempts = 1 + (ep.retries if request.retry else 0)
        cause = ""
        with httpx.Client(transport=self._transport, **self._client_kwargs(ep)) as client:
            for attempt in range(1, attempts + 1):
                resp, exc = None, None
                try:
                    resp = client.request(
                        request.method, request.path, headers=request.headers, json=request.json
                    )
                except httpx.TransportError as err:
                    exc = err
                reply, cause = self._judge(ep, request, resp, exc)
                if reply is not None:
                    return reply
                if attempt < attempts:
                    self.log.warning(
                        "%s: %s; retry %d/%d", request.what, cause, attempt, attempts - 1
                    )
                    time.sleep(ep.retry_delay(attempt))
        raise ExtApiUnavailable(request.what, attempts, cause)

    async def _new_aclient(self, ep: ApiEndpoint) -> httpx.AsyncClient:
        # Built in a thread: httpx loads the TLS context at construction, which would
        # block the triggerer's event loop for a noticeable time on a busy machine.
        kwargs = {"transport": self._async_transport, **self._client_kwargs(ep)}
        return await asyncio.to_thread(httpx.AsyncClient, **kwargs)

    async def aopen(self) -> None:
        """Keep one async client until `aclose()` (a trigger polls for hours)."""
        if self._aclient is None:
            self._aclient = await self._new_aclient(await self.aendpoint())

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    async def _acall(self, request: p.Request) -> p.Reply:
        ep = await self.aendpoint()
        if self._aclient is not None:
            return await self._asend(ep, request, self._aclient)
        async with await self._new_aclient(ep) as client:
            return await self._asend(ep, request, client)

    async def _asend(
        self, ep: ApiEndpoint, request: p.Request, client: httpx.AsyncClient
    ) -> p.Reply:
        attempts = 1 + (ep.retries if request.retry else 0)
        cause = ""
        for attempt in range(1, attempts + 1):
            resp, exc = None, None
            try:
                resp = await client.request(
                    request.method, request.path, headers=request.headers, json=request.json
                )
            except httpx.TransportError as err:
                exc = err
            reply, cause = self._judge(ep, request, resp, exc)
            if reply is not None:
                return reply
            if attempt < attempts:
                await asyncio.sleep(ep.retry_delay(attempt))
        raise ExtApiUnavailable(request.what, attempts, cause)

    # -- verbs -------------------------------------------------------------------

    def health(self) -> p.Health:
        request = p.health_request()
        return p.map_health(request, self._call(request))

    async def ahealth(self) -> p.Health:
        request = p.health_request()
        return p.map_health(request, await self._acall(request))

    def trigger_phase(
        self,
        phase: Phase | str,
        *,
        upstream_run_id: str | None,
        date: str | None,
        airflow_run_id: str,
    ) -> p.PhaseTriggered:
        """Start a one-shot run (202) or follow the run that holds the phase (409)."""
        ph = _phase(phase)
        request = p.trigger_phase_request(
            ph, upstream_run_id=upstream_run_id, date=date, airflow_id=airflow_run_id
        )
        return p.map_trigger_phase(ph, request, self._call(request))

    def trigger_daily(self, *, date: str | None, airflow_run_id: str) -> p.DailyTriggered:
        """Start the daily chain, or follow the running one (409 with `chainId`).

        Since apiVersion 2 a daily 409 names the running chain in `chainId`; one
        without it means a one-shot run holds a phase: SlotBusy, there is no chain
        to wait on (`runId` is that run, never a chain id).
        """
        request = p.trigger_daily_request(date=date, airflow_id=airflow_run_id)
        return p.map_trigger_daily(request, self._call(request))

    def loop_phase(
        self,
        phase: Phase | str,
        *,
        date: str | None,
        interval_seconds: float | None,
        airflow_run_id: str,
    ) -> p.LoopStarted:
        ph = _phase(phase)
        request = p.loop_phase_request(
            ph, date=date, interval_seconds=interval_seconds, airflow_id=airflow_run_id
        )
        return p.map_loop_phase(ph, request, self._call(request))

    def stop_phase(self, phase: Phase | str, *, airflow_run_id: str) -> p.StopRequested:
        ph = _phase(phase)
        request = p.stop_phase_request(ph, airflow_id=airflow_run_id)
        return p.map_stop_phase(ph, request, self._call(request))

    def stop_loop(self, phase: Phase | str, *, airflow_run_id: str) -> p.StopRequested:
        ph = _phase(phase)
        request = p.stop_loop_request(ph, airflow_id=airflow_run_id)
        return p.map_stop_loop(ph, request, self._call(request))

    def get_run(self, run_id: str) -> dict[str, Any]:
        request = p.get_run_request(run_id)
        return p.map_document(request, self._call(request))

    async def aget_run(self, run_id: str) -> dict[str, Any]:
        request = p.get_run_request(run_id)
        return p.map_document(request, await self._acall(request))

    def get_chain(self, chain_id: str) -> dict[str, Any]:
        request = p.get_chain_request(chain_id)
        return p.map_document(request, self._call(request))

    async def aget_chain(self, chain_id: str) -> dict[str, Any]:
        request = p.get_chain_request(chain_id)
        return p.map_document(request, await self._acall(request))

    def get_run_status(self) -> dict[str, Any]:
        request = p.run_status_request()
        return p.map_document(request, self._call(request))

    async def aget_run_status(self) -> dict[str, Any]:
        request = p.run_status_request()
        return p.map_document(request, await self._acall(request))
