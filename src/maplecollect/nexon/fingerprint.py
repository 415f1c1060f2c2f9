"""A stable, non-reversible id of an API key, for process-local and Redis keys only.

Never in metric labels or logs: a hash prefix confirms a guessed key. Those
carry the configured key name (MAPLECOLLECT_NEXON_KEY_NAME) instead.
"""

from __future__ import annotations

import hashlib
import re

_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")


def api_key_fingerprint(api_key: str) -> str:
    """First 16 hex digits of sha256(api_key); the key itself never leaves the client."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def is_fingerprint(value: str) -> bool:
    """True for what `api_key_fingerprint` returns; guards against a raw key passed by mistake."""
    return _FINGERPRINT.fullmatch(value) is not None
