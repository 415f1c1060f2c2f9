"""One table from domain exceptions to HTTP answers; bad input never becomes a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from maplecollect.echo import echo
from maplecollect.errors import (
    ClosedError,
    InvalidRequest,
    InvalidTransition,
    MissingUpstream,
    RunNotFound,
    UpstreamEmpty,
    UpstreamNotAllowed,
    UpstreamNotCompleted,
    UpstreamNotFound,
    UpstreamPhaseMismatch,
)

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **details}


class ApiError(Exception):
    """An answer decided inside a route: status code plus JSON body."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error") or body.get("status"))
        self.status_code = status_code
        self.body = body


def _invalid_request(exc: InvalidRequest) -> tuple[int, dict[str, Any]]:
    return 400, error_body(exc.code, exc.message, **exc.details)


def _missing(exc: MissingUpstream) -> tuple[int, dict[str, Any]]:
    return 400, error_body(
        "MISSING_UPSTREAM", str(exc), phase=exc.phase, upstreamPhase=exc.upstream_phase
    )


def _not_allowed(exc: UpstreamNotAllowed) -> tuple[int, dict[str, Any]]:
    return 400, error_body("UPSTREAM_NOT_ALLOWED", str(exc), phase=exc.phase)


def _not_found(exc: UpstreamNotFound) -> tuple[int, dict[str, Any]]:
    return 404, error_body(
        "UPSTREAM_NOT_FOUND",
        str(exc),
        upstreamRunId=exc.upstream_run_id,
        upstreamPhase=exc.upstream_phase,
    )


def _not_completed(exc: UpstreamNotCompleted) -> tuple[int, dict[str, Any]]:
    return 409, error_body(
        "UPSTREAM_NOT_COMPLETED",
        str(exc),
        upstreamRunId=exc.upstream_run_id,
        upstreamStatus=exc.upstream_status,
    )


def _empty(exc: UpstreamEmpty) -> tuple[int, dict[str, Any]]:
    return 409, error_body(
        "UPSTREAM_EMPTY",
        str(exc),
        upstreamRunId=exc.upstream_run_id,
        upstreamPhase=exc.upstream_phase,
    )


def _mismatch(exc: UpstreamPhaseMismatch) -> tuple[int, dict[str, Any]]:
    return 400, error_body(
        "UPSTREAM_PHASE_MISMATCH",
        str(exc),
        upstreamRunId=exc.upstream_run_id,
        expectedPhase=exc.expected,
        upstreamPhase=exc.actual,
    )


def _run_not_found(exc: RunNotFound) -> tuple[int, dict[str, Any]]:
    return 404, error_body("RUN_NOT_FOUND", str(exc), runId=exc.run_id)


def _transition(exc: InvalidTransition) -> tuple[int, dict[str, Any]]:
    return 409, error_body("NOT_RESUMABLE", str(exc), runId=exc.run_id, runStatus=exc.status)


def _closed(exc: ClosedError) -> tuple[int, dict[str, Any]]:
    return 503, error_body("SHUTTING_DOWN", "the service is shutting down")


_TABLE: dict[type[Exception], Callable[[Any], tuple[int, dict[str, Any]]]] = {
    InvalidRequest: _invalid_request,
    MissingUpstream: _missing,
    UpstreamNotAllowed: _not_allowed,
    UpstreamNotFound: _not_found,
    UpstreamNotCompleted: _not_completed,
    UpstreamEmpty: _empty,
    UpstreamPhaseMismatch: _mismatch,
    RunNotFound: _run_not_found,
    InvalidTransition: _transition,
    ClosedError: _closed,
}


_MAX_DETAILS = 10


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    """Field paths can be client input (an unknown key): each is echoed cut short, and
    at most `_MAX_DETAILS` problems are listed. Pydantic's `msg` never quotes the value."""
    details = []
    errors = exc.errors()
    for err in errors[:_MAX_DETAILS]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        details.append({"field": echo(loc), "problem": err.get("msg", "invalid")})
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
    if len(errors) > _MAX_DETAILS:
        summary += f"; and {len(errors) - _MAX_DETAILS} more"
    return summary or "invalid request", details


def install_error_handlers(app: FastAPI) -> None:
    async def domain_handler(_request: Request, exc: Exception) -> JSONResponse:
        for cls in type(exc).__mro__:
            render = _TABLE.get(cls)
            if render is not None:
                status, body = render(exc)
                return JSONResponse(body, status_code=status)
        raise exc  # pragma: no cover - only registered for table types

    for exc_type in _TABLE:
        app.add_exception_handler(exc_type, domain_handler)

    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.status_code)

    async def validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, details = _validation_message(exc)
        return JSONResponse(error_body("INVALID_REQUEST", message, details=details), 400)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a user mistake: log it, answer without internals.
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("INTERNAL_ERROR", "internal error; see service logs"), 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
