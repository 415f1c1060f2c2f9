"""Run, loop and chain ids: generated here, validated wherever one is received."""

from __future__ import annotations

import os
import re
from datetime import datetime

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_AIRFLOW_RUN_ID_MAX = 250


def new_id(tag: str, now: datetime) -> str:
    """`<yyyymmdd>-<hhmmss>-<tag>-<random>` (UTC), URL-safe and sortable by start."""
    return f"{now:%Y%m%d-%H%M%S}-{tag}-{os.urandom(4).hex()}"


def is_valid_id(value: str) -> bool:
    return bool(RUN_ID_RE.fullmatch(value))


def is_valid_airflow_run_id(value: str) -> bool:
    """Printable ASCII, 1 to 250 characters."""
    return 0 < len(value) <= _AIRFLOW_RUN_ID_MAX and all(32 <= ord(c) < 127 for c in value)
