"""Judge a request by its headers before reading its body; never buffer more than the limit.

The outermost, pure ASGI layer of the app (docs/control-api.md "Hostile input"):
access on `/api/internal/*` is decided from the headers (401 before one byte of the
body is read), and a body over MAPLECOLLECT_MAX_BODY_BYTES is 413 as soon as that is
known. Hand-written because neither Starlette/FastAPI nor uvicorn limit request bodies.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maplecollect.api.errors import ApiError
from maplecollect.contract.models import InvalidRequestError, PayloadTooLargeError
from maplecollect.contract.statuses import ErrorCode

PROTECTED_PREFIX = "/api/internal/"

# Raises ApiError (401/403) unless the request's headers (token, cookie) authorise it.
Authorize = Callable[[Scope], None]


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, authorize: Authorize) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            replay = await self._judge(scope, receive)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _judge(self, scope: Scope, receive: Receive) -> list[Message]:
        """Authorise the request and read its body: the message to replay, or ApiError."""
        if str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            self.authorize(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.isdigit():
            raise ApiError(
                400,
                InvalidRequestError(
                    error=ErrorCode.INVALID_REQUEST, message="Content-Length is not a number"
                ),
            )
        if declared is not None and int(declared) > self.max_body_bytes:
            raise self._too_large()
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return [message]  # a disconnect: hand it on as is
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                return [{"type": "http.request", "body": bytes(body), "more_body": False}]

    def _too_large(self) -> ApiError:
        limit = self.max_body_bytes
        answer = PayloadTooLargeError(
            error=ErrorCode.PAYLOAD_TOO_LARGE,
            message=f"the request body is larger than {limit} bytes (MAPLECOLLECT_MAX_BODY_BYTES)",
            limit_bytes=limit,
        )
        return ApiError(413, answer)
