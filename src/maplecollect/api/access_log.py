"""uvicorn's access log without query strings.

uvicorn logs `"GET /path?query HTTP/1.1"`; a query string can carry whatever a
client put there (a token pasted into a URL by mistake, character names), so
`serve` installs this filter on the `uvicorn.access` logger: the path stays,
everything from `?` on is dropped.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class DropQueryString(logging.Filter):
    """Rewrite the path argument of uvicorn's access record (`%s - "%s %s HTTP/%s" %d`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if "?" in path:
                record.args = (*args[:2], path.split("?", 1)[0], *args[3:])
        return True


def install() -> None:
    """Add the filter once (idempotent); call after uvicorn configured its logging."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, DropQueryString) for f in logger.filters):
        logger.addFilter(DropQueryString())
