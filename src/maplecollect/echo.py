"""Bounded echoes of client input in error answers and messages.

A hostile 60 KB "date" must not come back as a 60 KB answer (docs/control-api.md
"Errors").
"""

from __future__ import annotations

ECHO_MAX = 100


def echo(value: object, limit: int = ECHO_MAX) -> str:
    """`value` as text, cut to `limit` characters with the full length noted."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text)} characters)"
