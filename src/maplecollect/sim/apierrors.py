"""The Nexon Open API error codes the simulator answers with, as precomputed bodies."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True, slots=True)
class ApiError:
    """One error code with its real HTTP status and a ready-to-send body."""

    name: str
    status: int
    message: str
    body: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        body = orjson.dumps({"error": {"name": self.name, "message": self.message}})
        object.__setattr__(self, "body", body)


SERVER_ERROR = ApiError("OPENAPI00001", 500, "Internal server error")
FORBIDDEN = ApiError("OPENAPI00002", 403, "Forbidden")
INVALID_IDENTIFIER = ApiError("OPENAPI00003", 400, "Please input valid id")
INVALID_PARAMETER = ApiError("OPENAPI00004", 400, "Please input valid parameter")
INVALID_API_KEY = ApiError("OPENAPI00005", 400, "Please input valid api key")
INVALID_PATH = ApiError("OPENAPI00006", 400, "This API is not valid game or API path")
RATE_LIMITED = ApiError("OPENAPI00007", 429, "You have exceeded your API call limit")
DATA_NOT_READY = ApiError("OPENAPI00009", 400, "Data being prepared")
GAME_MAINTENANCE = ApiError("OPENAPI00010", 400, "The game is under maintenance")
API_MAINTENANCE = ApiError("OPENAPI00011", 503, "API is under maintenance")

ALL_ERRORS: tuple[ApiError, ...] = (
    SERVER_ERROR,
    FORBIDDEN,
    INVALID_IDENTIFIER,
    INVALID_PARAMETER,
    INVALID_API_KEY,
    INVALID_PATH,
    RATE_LIMITED,
    DATA_NOT_READY,
    GAME_MAINTENANCE,
    API_MAINTENANCE,
)

# What a load balancer in front of the API answers when the backend is gone: not JSON.
GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
