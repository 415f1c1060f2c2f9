"""One table from domain exceptions to HTTP answers; bad input never becomes a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from maplecollect.contract.models import (
    ErrorBody,
    FieldProblem,
    InternalError,
    InvalidDateError,
    InvalidPhaseError,
    InvalidRequestError,
    InvalidRunIdError,
    MissingUpstreamError,
    Model,
    NotResumableError,
    RunNotFoundError,
    ShuttingDownError,
    UpstreamEmptyError,
    UpstreamNotAllowedError,
    UpstreamNotCompletedError,
    UpstreamNotFoundError,
    UpstreamPhaseMismatchError,
)
from maplecollect.contract.statuses import ErrorCode, RunStatus
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
from maplecollect.phases import Phase

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer decided inside a route or the guard: status code plus a contract body."""

    def __init__(self, status_code: int, body: Model) -> None:
        super().__init__(getattr(body, "error", None) or getattr(body, "status", None))
        self.status_code = status_code
        self.body = body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body.wire(), status_code=self.status_code)


# InvalidRequest carries its code and details; these codes have a typed body.
_INVALID_REQUEST_BODIES: dict[str, type[ErrorBody]] = {
    ErrorCode.INVALID_DATE: InvalidDateError,
    ErrorCode.INVALID_RUN_ID: InvalidRunIdError,
    ErrorCode.INVALID_PHASE: InvalidPhaseError,
}


def _invalid_request(exc: InvalidRequest) -> tuple[int, ErrorBody]:
    values = {"error": exc.code, "message": exc.message, **exc.details}
    model = _INVALID_REQUEST_BODIES.get(exc.code, ErrorBody)
    try:
        return 400, model.model_validate(values)
    except ValidationError:
        # A code raised without its usual details: still a 400, never a 500.
        return 400, ErrorBody.model_validate(values)


def _missing(exc: MissingUpstream) -> tuple[int, ErrorBody]:
    return 400, MissingUpstreamError(
        error=ErrorCode.MISSING_UPSTREAM,
        message=str(exc),
        phase=Phase(exc.phase),
        upstream_phase=Phase(exc.upstream_phase),
    )


def _not_allowed(exc: UpstreamNotAllowed) -> tuple[int, ErrorBody]:
    return 400, UpstreamNotAllowedError(
        error=ErrorCode.UPSTREAM_NOT_ALLOWED, message=str(exc), phase=Phase(exc.phase)
    )


def _not_found(exc: UpstreamNotFound) -> tuple[int, ErrorBody]:
    return 404, UpstreamNotFoundError(
        error=ErrorCode.UPSTREAM_NOT_FOUND,
        message=str(exc),
        upstream_run_id=exc.upstream_run_id,
        upstream_phase=Phase(exc.upstream_phase) if exc.upstream_phase else None,
    )


def _not_completed(exc: UpstreamNotCompleted) -> tuple[int, ErrorBody]:
    return 409, UpstreamNotCompletedError(
        error=ErrorCode.UPSTREAM_NOT_COMPLETED,
        message=str(exc),
        upstream_run_id=exc.upstream_run_id,
        upstream_status=RunStatus(exc.upstream_status),
    )


def _empty(exc: UpstreamEmpty) -> tuple[int, ErrorBody]:
    return 409, UpstreamEmptyError(
        error=ErrorCode.UPSTREAM_EMPTY,
        message=str(exc),
        upstream_run_id=exc.upstream_run_id,
        upstream_phase=Phase(exc.upstream_phase),
    )


def _mismatch(exc: UpstreamPhaseMismatch) -> tuple[int, ErrorBody]:
    return 400, UpstreamPhaseMismatchError(
        error=ErrorCode.UPSTREAM_PHASE_MISMATCH,
        message=str(exc),
        upstream_run_id=exc.upstream_run_id,
        expected_phase=Phase(exc.expected),
        upstream_phase=Phase(exc.actual),
    )


def _run_not_found(exc: RunNotFound) -> tuple[int, ErrorBody]:
    return 404, RunNotFoundError(error=ErrorCode.RUN_NOT_FOUND, message=str(exc), run_id=exc.run_id)


def _transition(exc: InvalidTransition) -> tuple[int, ErrorBody]:
    return 409, NotResumableError(
        error=ErrorCode.NOT_RESUMABLE,
        message=str(exc),
        run_id=exc.run_id,
        run_status=RunStatus(exc.status),
    )


def _closed(exc: ClosedError) -> tuple[int, ErrorBody]:
    return 503, ShuttingDownError(
        error=ErrorCode.SHUTTING_DOWN, message="the service is shutting down"
    )


_TABLE: dict[type[Exception], Callable[[Any], tuple[int, ErrorBody]]] = {
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


def _validation_message(exc: RequestValidationError) -> tuple[str, list[FieldProblem]]:
    """Field paths can be client input (an unknown key): each is echoed cut short, and
    at most `_MAX_DETAILS` problems are listed. Pydantic's `msg` never quotes the value."""
    details = []
    errors = exc.errors()
    for err in errors[:_MAX_DETAILS]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        details.append(FieldProblem(field=echo(loc), problem=err.get("msg", "invalid")))
    summary = "; ".join(f"{d.field}: {d.problem}" for d in details)
    if len(errors) > _MAX_DETAILS:
        summary += f"; and {len(errors) - _MAX_DETAILS} more"
    return summary or "invalid request", details


def install_error_handlers(app: FastAPI) -> None:
    async def domain_handler(_request: Request, exc: Exception) -> JSONResponse:
        for cls in type(exc).__mro__:
            render = _TABLE.get(cls)
            if render is not None:
                status, body = render(exc)
                return JSONResponse(body.wire(), status_code=status)
        raise exc  # pragma: no cover - only registered for table types

    for exc_type in _TABLE:
        app.add_exception_handler(exc_type, domain_handler)

    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, details = _validation_message(exc)
        body = InvalidRequestError(
            error=ErrorCode.INVALID_REQUEST, message=message, details=details
        )
        return JSONResponse(body.wire(), 400)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            # FastAPI's own 400: a body that is not JSON.
            400: ErrorCode.INVALID_REQUEST,
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            401: ErrorCode.UNAUTHORIZED,
        }.get(exc.status_code, ErrorCode.HTTP_ERROR)
        return JSONResponse(
            ErrorBody(error=code, message=str(exc.detail)).wire(),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a user mistake: log it, answer without internals.
        log.exception("unhandled error", exc_info=exc)
        body = InternalError(
            error=ErrorCode.INTERNAL_ERROR, message="internal error; see service logs"
        )
        return JSONResponse(body.wire(), 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
