"""Turn an Airflow connection (`external_api`) into the client's `Endpoint`; the
fields are in docs/airflow.md. Pure: tested without Airflow. Extras may be strings
(URI form puts every extra in the query string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

import maplecollect
from maplecollect.client.endpoint import Endpoint
from maplecollect.errors import ConfigError

DEFAULT_CONN_ID = "external_api"
_SCHEMES = ("http", "https")
USER_AGENT = f"maplecollect-airflow/{maplecollect.__version__}"
_BOOL = TypeAdapter(bool)


def _number(extras: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    raw = extras.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"connection extra {key!r} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"connection extra {key!r} must be >= {minimum}, got {value}")
    return value


def _flag(extras: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = extras.get(key, default)
    try:  # pydantic's lax bool: true/false, yes/no, on/off, 1/0 in any case
        return _BOOL.validate_python(raw.strip() if isinstance(raw, str) else raw)
    except ValidationError:
        raise ConfigError(f"connection extra {key!r} must be true or false, got {raw!r}") from None


def _base_url(conn: Any, scheme: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ConfigError("the maplecollect connection has no host")
    prefix = ""
    schema = (conn.schema or "").strip()
    conn_type = (conn.conn_type or "").lower()
    if schema.lower() in _SCHEMES:
        chosen = schema.lower()
    elif isinstance(scheme, str) and scheme.lower() in _SCHEMES:
        chosen = scheme.lower()
    else:
        chosen = conn_type if conn_type in _SCHEMES else "http"
    if schema and schema.lower() not in _SCHEMES:
        prefix = "/" + schema.strip("/")
    if "://" in host:
        parts = urlsplit(host)
        chosen, netloc = parts.scheme or chosen, parts.netloc
        prefix = parts.path.rstrip("/") + prefix
    else:
        netloc = host
    if conn.port and not urlsplit(f"//{netloc}").port:
        netloc = f"{netloc}:{conn.port}"
    return f"{chosen}://{netloc}{prefix}".rstrip("/")


def endpoint_from_connection(conn: Any, extras: Mapping[str, Any]) -> Endpoint:
    """From an `airflow.sdk.Connection` (extras passed in: sync and async read them
    apart); raises ConfigError naming the bad field (never its secret)."""
    return Endpoint(
        base_url=_base_url(conn, extras.get("scheme")),
        token=conn.password or None,
        timeout=_number(extras, "timeout", 30.0, minimum=0.1),
        connect_timeout=_number(extras, "connect_timeout", 10.0, minimum=0.1),
        retries=int(_number(extras, "retries", 3, minimum=0)),
        backoff=_number(extras, "backoff", 1.0, minimum=0),
        backoff_max=_number(extras, "backoff_max", 30.0, minimum=0),
        verify=_flag(extras, "verify", True),
        user_agent=USER_AGENT,
    )
