"""One table from domain exceptions to HTTP answers; bad input never becomes a 500."""

from __future__ import annotations

import logging
from typing import get_args

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
from maplecollect.contract.statuses import ErrorCode
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

# Domain errors: status and body; the body's details are the exception's attributes of
# the same names (InvalidRequest: its `details`).
_TABLE: dict[type[Exception], tuple[int, type[ErrorBody]]] = {
    InvalidRequest: (400, ErrorBody),
    MissingUpstream: (400, MissingUpstreamError),
    UpstreamNotAllowed: (400, UpstreamNotAllowedError),
    UpstreamNotFound: (404, UpstreamNotFoundError),
    UpstreamNotCompleted: (409, UpstreamNotCompletedError),
    UpstreamEmpty: (409, UpstreamEmptyError),
    UpstreamPhaseMismatch: (400, UpstreamPhaseMismatchError),
    RunNotFound: (404, RunNotFoundError),
    InvalidTransition: (409, NotResumableError),
    ClosedError: (503, ShuttingDownError),
}


def _answer(exc: Exception) -> tuple[int, ErrorBody]:
    if isinstance(exc, InvalidRequest):
        values = {"error": exc.code, "message": exc.message, **exc.details}
        try:
            return 400, _INVALID_REQUEST_BODIES.get(exc.code, ErrorBody).model_validate(values)
        except ValidationError:
            # A code raised without its usual details: still a 400, never a 500.
            return 400, ErrorBody.model_validate(values)
    status, model = next(_TABLE[cls] for cls in type(exc).__mro__ if cls in _TABLE)
    (code,) = get_args(model.model_fields["error"].annotation)
    message = "the service is shutting down" if isinstance(exc, ClosedError) else str(exc)
    details = {name: getattr(exc, name) for name in model.model_fields if hasattr(exc, name)}
    return status, model.model_validate({**details, "error": code, "message": message})


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
        status, body = _answer(exc)
        return JSONResponse(body.wire(), status_code=status)

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
