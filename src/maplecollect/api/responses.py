"""What a route can answer besides its success, for `responses=` (docs/control-api.md).

Every route under /api/internal also answers what the request guard and the
error handlers answer for any request: 400 INVALID_REQUEST (a query, header or
body that does not validate), 401 UNAUTHORIZED and 413 PAYLOAD_TOO_LARGE
(api/guard.py); a write also 403 CSRF_REJECTED (a status-page session without
its CSRF header) and 503 SHUTTING_DOWN. `answers()` adds those, so each route
lists only its own codes. Validation errors are 400, never FastAPI's 422.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

from pydantic import BaseModel

from maplecollect.contract.models import (
    CsrfRejectedError,
    InvalidRequestError,
    PayloadTooLargeError,
    ShuttingDownError,
    UnauthorizedError,
)

_DESCRIPTIONS = {
    200: "Nothing to do: the answer says so",
    400: "Bad request: the `error` code names what is wrong",
    401: "Missing or wrong bearer token (and no status-page session)",
    403: "A status-page session without its X-CSRF-Token header",
    404: "Not found",
    409: "Conflict: who holds the phase, or why the upstream cannot feed it",
    413: "Request body over MAPLECOLLECT_MAX_BODY_BYTES",
    503: "The service is shutting down",
}

Models = type[BaseModel] | tuple[type[BaseModel], ...]


def answers(
    extra: dict[int, Models] | None = None, *, write: bool = False, internal: bool = True
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its own codes (`extra`) plus those every request can get."""
    codes: dict[int, list[type[BaseModel]]] = {}
    if internal:
        codes[400] = [InvalidRequestError]
        codes[401] = [UnauthorizedError]
        codes[413] = [PayloadTooLargeError]
    if write:
        codes[403] = [CsrfRejectedError]
        codes[503] = [ShuttingDownError]
    for code, models in (extra or {}).items():
        listed = codes.setdefault(code, [])
        for model in models if isinstance(models, tuple) else (models,):
            if model not in listed:
                listed.append(model)
    return {
        # `A | B | ...` of the models (a plain model for one): an `anyOf` in the schema.
        code: {"model": reduce(operator.or_, models), "description": _DESCRIPTIONS.get(code, "")}
        for code, models in sorted(codes.items())
    }
