"""Helpers of the simulator tests: a small pinned-clock world and a raw HTTP client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from maplecollect.sim import KST, SimConfig

KEY = "test-key"
# Character data for 2026-11-26 is ready (since 02:00 on the 27th); ranking for the 27th too.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=KST)
DAY = "2026-11-26"


def small_config(**overrides: Any) -> SimConfig:
    """450 characters: two ranking pages for world_type 0, one for world_type 1."""
    fields: dict[str, Any] = {
        "seed": 7,
        "characters": 450,
        "now": NOW,
        "renamed_fraction": 0.04,
        "empty_fraction": 0.04,
        "item_max_bytes": 60_000,
        "item_min_bytes": 12_000,
        "item_variants": 6,
        "api_keys": {KEY: None},
    }
    fields.update(overrides)
    return SimConfig(**fields)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def error_name(self) -> str:
        return str(self.json()["error"]["name"])


class Api:
    """A thin client: one GET, the raw reply back."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, *, key: str | None = KEY
    ) -> Reply:
        headers = {"x-nxopen-api-key": key} if key is not None else {}
        async with self.session.get(path, params=params or {}, headers=headers) as resp:
            return Reply(resp.status, await resp.read(), resp.headers.get("Content-Type", ""))

    async def sim(self, path: str, payload: object | None = None) -> Reply:
        method = "GET" if payload is None and not path.endswith("reset") else "POST"
        data = orjson.dumps(payload) if payload is not None else None
        async with self.session.request(method, path, data=data) as resp:
            return Reply(resp.status, await resp.read(), resp.headers.get("Content-Type", ""))
