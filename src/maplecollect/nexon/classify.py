"""Map one Nexon response (HTTP status + `error.name`) to what the client does next.

The table is in docs/nexon-client.md. `error.name` decides when present; HTTP status only
decides for bodies without a Nexon error (gateways, proxies, transport).

Unknown error names (Nexon adds codes from time to time):
  5xx -> RETRY (server side, probably transient), 429 -> RETRY_SLOW_DOWN,
  anything else -> RECORD_FAIL (fails this key only; never hangs or kills the run).
No error name: 2xx with a body of the endpoint's expected shape -> SUCCESS;
2xx with valid JSON of another shape -> RECORD_FAIL (the same answer would come
again); 2xx without valid JSON (truncated), 408, any 5xx and no response at all
(status 0: connection error or timeout) -> RETRY; 429 -> RETRY_SLOW_DOWN; other
statuses (3xx: redirects are not followed, 4xx without a Nexon body) -> RECORD_FAIL.
A 2xx whose body is a Nexon error object is classified by its `error.name` like
any other error answer (the name decides, not the status).

Failure codes (a failed record's `errorCode`, a run's `failuresByCode`): the
Nexon `error.name` when the answer has one, else one of the codes below.
"""

from __future__ import annotations

import enum

NO_RESPONSE = 0
"""Status used for transport errors and timeouts: no HTTP response was received."""


TRANSPORT = "TRANSPORT"
"""No HTTP response: connection refused or reset, DNS, TLS."""
TIMEOUT = "TIMEOUT"
"""No (complete) HTTP response within the client's timeouts."""
BAD_BODY = "BAD_BODY"
"""A 2xx body that is neither the endpoint's expected object nor an empty character."""
UNKNOWN = "UNKNOWN"
"""A failure without any code (e.g. a failed record written before codes existed)."""


def http_code(status: int) -> str:
    """The code of an HTTP answer without a Nexon error body: `HTTP_5XX`, `HTTP_4XX`, ..."""
    return f"HTTP_{status // 100}XX"


class Action(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    RETRY_SLOW_DOWN = "retry_slow_down"
    PAUSE = "pause"
    RECORD_FAIL = "record_fail"
    RUN_FAIL = "run_fail"


_BY_NAME: dict[str, Action] = {
    "OPENAPI00001": Action.RETRY,  # server error
    "OPENAPI00002": Action.RUN_FAIL,  # no permission
    "OPENAPI00003": Action.RECORD_FAIL,  # invalid identifier
    "OPENAPI00004": Action.RECORD_FAIL,  # bad parameter
    "OPENAPI00005": Action.RUN_FAIL,  # invalid API key
    "OPENAPI00006": Action.RUN_FAIL,  # bad game / path
    "OPENAPI00007": Action.RETRY_SLOW_DOWN,  # rate limit exceeded
    "OPENAPI00009": Action.PAUSE,  # data not ready yet
    "OPENAPI00010": Action.PAUSE,  # game maintenance
    "OPENAPI00011": Action.PAUSE,  # API maintenance
}

PAUSE_REASONS: dict[str, str] = {
    "OPENAPI00009": "data not ready",
    "OPENAPI00010": "game maintenance",
    "OPENAPI00011": "API maintenance",
}


def classify(
    status: int, error_name: str | None, *, json_body: bool, expected_shape: bool = True
) -> Action:
    """Pure: what to do with a response.

    `json_body` says whether the body parsed as JSON, `expected_shape` whether a
    2xx JSON body is the endpoint's object (or an empty character).
    """
    if error_name is not None:
        known = _BY_NAME.get(error_name)
        if known is not None:
            return known
        if status >= 500:
            return Action.RETRY
        if status == 429:
            return Action.RETRY_SLOW_DOWN
        return Action.RECORD_FAIL
    if 200 <= status < 300:
        if not json_body:
            return Action.RETRY
        return Action.SUCCESS if expected_shape else Action.RECORD_FAIL
    if status in (NO_RESPONSE, 408) or status >= 500:
        return Action.RETRY
    if status == 429:
        return Action.RETRY_SLOW_DOWN
    return Action.RECORD_FAIL
