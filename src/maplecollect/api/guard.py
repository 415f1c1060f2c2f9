"""Judge a request by its headers before reading its body; never buffer more than the limit.

The outermost, pure ASGI layer of the app (docs/control-api.md "Hostile input"):
access on `/api/internal/*` is decided from the headers (401 before one byte of the
body is read), and a body over MAPLECOLLECT_MAX_BODY_BYTES is 413 as soon as that is
known. Hand-written because neither Starlette/FastAPI nor uvicorn limit request bodies.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import JSONResponse
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
        headers = Headers(scope=scope)
        if str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            try:
                self.authorize(scope)
            except ApiError as exc:
                await exc.response()(scope, receive, send)
                return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                answer = InvalidRequestError(
                    error=ErrorCode.INVALID_REQUEST, message="Content-Length is not a number"
                )
                await JSONResponse(answer.wire(), 400)(scope, receive, send)
                return
            if int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        body = bytearray()
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # a disconnect: hand it on as is
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay: list[Message] = [
            first or {"type": "http.request", "body": bytes(body), "more_body": False}
        ]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        answer = PayloadTooLargeError(
            error=ErrorCode.PAYLOAD_TOO_LARGE,
            message=f"the request body is larger than {limit} bytes (MAPLECOLLECT_MAX_BODY_BYTES)",
            limit_bytes=limit,
        )
        await JSONResponse(answer.wire(), 413)(scope, receive, send)
