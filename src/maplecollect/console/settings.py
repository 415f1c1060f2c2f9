"""Settings for CLI commands: a bad environment variable is one line and exit 2."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from maplecollect.config import Settings
from maplecollect.console.errors import usage_error


def env_name(field: str) -> str:
    return "NEXON_API_KEY" if field == "nexon_api_key" else f"MAPLECOLLECT_{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Fresh settings from the environment (never cached: tests change the environment)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # The input values are left out on purpose: one of them could be a secret.
        problems = "; ".join(
            f"{env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise usage_error(f"invalid settings: {problems}") from None
