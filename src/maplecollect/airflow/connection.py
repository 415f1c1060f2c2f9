"""Turn an Airflow connection (`external_api`) into the client's `Endpoint`.

Pure: takes the connection's fields, so it is tested without Airflow. Fields used:
host (a name, or a full URL), port, schema (`http`/`https` picks the scheme; any
other value is a path prefix), password (the bearer token), extras `timeout`,
`connect_timeout`, `retries`, `backoff`, `backoff_max`, `verify`, `scheme`.
Extras may be strings (URI form puts every extra in the query string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import maplecollect
from maplecollect.client.endpoint import Endpoint
from maplecollect.errors import ConfigError

DEFAULT_CONN_ID = "external_api"
_SCHEMES = ("http", "https")
USER_AGENT = f"maplecollect-airflow/{maplecollect.__version__}"


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
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"connection extra {key!r} must be true or false, got {raw!r}")


def _base_url(
    conn_type: str | None, host: str | None, port: int | None, schema: str | None, scheme: Any
) -> str:
    host = (host or "").strip()
    if not host:
        raise ConfigError("the maplecollect connection has no host")
    prefix = ""
    schema = (schema or "").strip()
    if schema.lower() in _SCHEMES:
        chosen = schema.lower()
    elif isinstance(scheme, str) and scheme.lower() in _SCHEMES:
        chosen = scheme.lower()
    else:
        chosen = conn_type.lower() if conn_type and conn_type.lower() in _SCHEMES else "http"
    if schema and schema.lower() not in _SCHEMES:
        prefix = "/" + schema.strip("/")
    if "://" in host:
        parts = urlsplit(host)
        chosen, netloc = parts.scheme or chosen, parts.netloc
        prefix = parts.path.rstrip("/") + prefix
    else:
        netloc = host
    if port and not urlsplit(f"//{netloc}").port:
        netloc = f"{netloc}:{port}"
    return f"{chosen}://{netloc}{prefix}".rstrip("/")


def endpoint_from_fields(
    *,
    conn_type: str | None,
    host: str | None,
    port: int | None,
    schema: str | None,
    password: str | None,
    extras: Mapping[str, Any],
) -> Endpoint:
    """Build the endpoint; raises ConfigError naming the bad field (never its secret)."""
    return Endpoint(
        base_url=_base_url(conn_type, host, port, schema, extras.get("scheme")),
        token=password or None,
        timeout=_number(extras, "timeout", 30.0, minimum=0.1),
        connect_timeout=_number(extras, "connect_timeout", 10.0, minimum=0.1),
        retries=int(_number(extras, "retries", 3, minimum=0)),
        backoff=_number(extras, "backoff", 1.0, minimum=0),
        backoff_max=_number(extras, "backoff_max", 30.0, minimum=0),
        verify=_flag(extras, "verify", True),
        user_agent=USER_AGENT,
    )


def endpoint_from_connection(conn: Any, extras: Mapping[str, Any]) -> Endpoint:
    """From an `airflow.sdk.Connection` (extras passed in: sync and async read them apart)."""
    return endpoint_from_fields(
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        schema=conn.schema,
        password=conn.password,
        extras=extras,
    )
