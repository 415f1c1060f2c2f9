"""What a route can answer besides its success, for `responses=` (docs/control-api.md).

`answers()` adds what any request can get from the guard and the error handlers
(400, 401, 413; a write also 403 and 503), so each route lists only its own codes.
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
    extra: dict[int, Models] | None = None, *, write: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its own codes (`extra`) plus those every request can get."""
    codes: dict[int, list[type[BaseModel]]] = {
        400: [InvalidRequestError],
        401: [UnauthorizedError],
        413: [PayloadTooLargeError],
    }
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
