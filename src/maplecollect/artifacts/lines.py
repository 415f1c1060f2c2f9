"""JSONL lines of the record and failed-record files (docs/artifacts.md).

A record line embeds the response body as JSON by splicing its bytes, so a
200 KB body is never parsed again here: the caller has already checked it.
"""

from __future__ import annotations

import orjson

# In valid JSON a raw CR or LF can only be whitespace between tokens (inside a
# string it must be escaped), so turning them into spaces keeps the value
# byte-for-byte (numbers, key order, big integers) without a parse.
_NEWLINES_TO_SPACE = bytes.maketrans(b"\r\n", b"  ")
_EMPTY_TRUE = b',"status":200,"empty":true,"body":'
_EMPTY_FALSE = b',"status":200,"empty":false,"body":'


def embeddable_body(body: bytes) -> bytes:
    """The body as it goes into a line: trimmed, with no raw CR/LF left.

    Raises ValueError for an empty body (it is not JSON and would break the line).
    """
    body = body.strip()
    if not body:
        raise ValueError("empty response body cannot be embedded as JSON")
    if b"\n" in body or b"\r" in body:
        body = body.translate(_NEWLINES_TO_SPACE)
    return body


def record_pieces(
    key: str, endpoint: str, fetched_at: str, body: bytes, empty: bool
) -> tuple[bytes, bytes, bytes]:
    """`record_line` as three pieces (envelope, body, `}` + newline), for ChunkWriter.add.

    The body is not copied into a new line: the writer's batch join is its only copy,
    which saves a copy of every 200 KB item-equipment body on the event loop.
    """
    head = orjson.dumps({"key": key, "endpoint": endpoint, "fetchedAt": fetched_at})
    envelope = head[:-1] + (_EMPTY_TRUE if empty else _EMPTY_FALSE)
    return envelope, embeddable_body(body), b"}\n"


def record_line(key: str, endpoint: str, fetched_at: str, body: bytes, empty: bool) -> bytes:
    """`{"key","endpoint","fetchedAt","status":200,"empty","body":<body>}` plus a newline."""
    return b"".join(record_pieces(key, endpoint, fetched_at, body, empty))


def failed_line(  # noqa: PLR0917 - positional, as the collectors call it
    key: str,
    endpoint: str,
    fetched_at: str,
    status: int | None,
    error_code: str | None,
    error_message: str,
    attempts: int,
) -> bytes:
    """`{"key","endpoint","fetchedAt","status","errorCode","errorMessage","attempts"}` + newline."""
    line = orjson.dumps(
        {
            "key": key,
            "endpoint": endpoint,
            "fetchedAt": fetched_at,
            "status": status,
            "errorCode": error_code,
            "errorMessage": error_message,
            "attempts": attempts,
        }
    )
    # The concatenation is an exact-size copy: orjson's own result sits in a >= 4 KB
    # allocation, which adds up while thousands of small lines wait for a batch.
    return line + b"\n"
