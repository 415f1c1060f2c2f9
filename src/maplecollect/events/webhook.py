"""Webhook sink: one HMAC-SHA256-signed POST per event (aiohttp).

Any 2xx acknowledges the event; the headers and the signature are in docs/downstream.md,
and receivers check the signature with `verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

import aiohttp

from maplecollect.state.outbox import StoredEvent

SIGNATURE_HEADER = "X-Maplecollect-Signature"


class WebhookError(Exception):
    """The receiver did not acknowledge the event (status, or None without an answer)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"webhook answered {status}" if status else "webhook did not answer")
        self.status = status


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: float = 300,
    now: Callable[[], float] = time.time,
) -> bool:
    """True if `header` signs `body` with `secret` and is at most `tolerance_seconds` old."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now() - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSink:
    """POSTs to `url`; `max_batch = 1` so a refused event never re-sends acknowledged ones."""

    name = "webhook"
    max_batch = 1

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for event in events:
            body = event.value_bytes()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "maplecollect-webhook",
                "X-Maplecollect-Event-Id": event.event_id,
                "X-Maplecollect-Event-Type": event.event_type,
                "X-Maplecollect-Topic": event.topic,
                "X-Maplecollect-Key": event.key,
                "X-Maplecollect-Seq": str(event.seq),
                SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
            }
            try:
                async with self._http().post(self.url, data=body, headers=headers) as res:
                    await res.read()
                    if not 200 <= res.status < 300:
                        raise WebhookError(res.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise WebhookError(None) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
