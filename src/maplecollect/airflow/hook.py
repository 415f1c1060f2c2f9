"""`ExtApiHook`: the `external_api` connection -> `maplecollect.client` (`get_conn()`
for workers, `aget_conn()` for the triggerer); routes, answers and retries are the client's.
"""

from __future__ import annotations

from typing import Any

import httpx
from airflow.sdk import BaseHook

from maplecollect.airflow.connection import DEFAULT_CONN_ID, endpoint_from_connection
from maplecollect.client.aio import AsyncControlClient
from maplecollect.client.endpoint import Endpoint
from maplecollect.client.sync import ControlClient


class ExtApiHook(BaseHook):
    """The maplecollect control API (docs/control-api.md) for Airflow tasks and triggers.
    `endpoint` and the httpx transports replace the connection in tests."""

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "maplecollect"
    hook_name = "maplecollect control API"

    def __init__(
        self,
        conn_id: str = DEFAULT_CONN_ID,
        *,
        endpoint: Endpoint | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._endpoint = endpoint
        self._transport = transport
        self._async_transport = async_transport

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

    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            conn = self.get_connection(self.conn_id)
            self._endpoint = endpoint_from_connection(conn, conn.extra_dejson)
        return self._endpoint

    async def aendpoint(self) -> Endpoint:
        """Async variant for the triggerer (a sync connection read would block its loop)."""
        if self._endpoint is None:
            conn = await self.aget_connection(self.conn_id)
            self._endpoint = endpoint_from_connection(conn, await conn.aextra_dejson())
        return self._endpoint

    def get_conn(self) -> ControlClient:
        """A new sync client; close it (`with hook.get_conn() as api: ...`)."""
        return ControlClient(self.endpoint(), transport=self._transport)

    async def aget_conn(self) -> AsyncControlClient:
        """A new async client for the triggerer; `await client.aclose()` it."""
        endpoint = await self.aendpoint()
        return await AsyncControlClient.open(endpoint, transport=self._async_transport)
