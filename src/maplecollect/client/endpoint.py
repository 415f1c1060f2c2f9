"""Where and how to call the control API, and the exchange of one call. Pure.

Shared by the sync and async clients: the retry rule (transport errors and 5xx
are retried `retries` times with capped exponential backoff) and the token
hygiene (the token is sent in `Authorization` only and scrubbed out of any text
an error keeps) are defined once, here.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import maplecollect
from maplecollect.client.calls import Answer, Call
from maplecollect.client.errors import Unavailable
from maplecollect.errors import ConfigError

log = logging.getLogger("maplecollect.client")
T = TypeVar("T")
# What a client's driver gets from an exchange: a `Call` to send (it sends back the
# `Answer` or the transport error) or seconds to sleep (it sends back None).
Step = Call[Any] | float
Reply = Answer | Exception | None
Exchange = Generator[Step, Reply, T]

DEFAULT_URL = "http://127.0.0.1:8081"


@dataclass(frozen=True)
class Endpoint:
    """The service's base URL and the client's knobs. The token is kept out of repr()."""

    base_url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    verify: bool = True
    user_agent: str = f"maplecollect/{maplecollect.__version__}"

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential, capped."""
        return float(min(self.backoff_max, self.backoff * (2 ** (attempt - 1))))

    def attempts(self, call: Call[Any]) -> int:
        return 1 + (self.retries if call.retry else 0)

    def scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of httpx.Client / AsyncClient."""
        import httpx  # here: `maplecollect --help` imports this module, not httpx

        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        return {
            "base_url": self.base_url,
            "headers": headers,
            "verify": self.verify,
            "timeout": timeout,
        }


def check_url(url: str, *, what: str = "the control API URL") -> str:
    """`http(s)://host[:port][/prefix]` without a trailing slash; anything else: ConfigError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must look like http://127.0.0.1:8081, got {url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{what} has an invalid port: {url!r}") from None
    return url.strip().rstrip("/")


def exchange(endpoint: Endpoint, call: Call[T]) -> Exchange[T]:
    """Send `call` (retrying transport errors and 5xx) and read its answer."""
    attempts = endpoint.attempts(call)
    for attempt in range(1, attempts + 1):
        reply = yield call
        if isinstance(reply, Answer):
            if not call.retriable(reply):
                return call.read(reply)
            cause = f"HTTP {reply.status}: {endpoint.scrub(reply.text[:300])}"
        else:
            detail = endpoint.scrub(str(reply))
            cause = f"{type(reply).__name__}" + (f": {detail}" if detail else "")
        if attempt < attempts:
            log.warning("%s: %s; retry %d/%d", call.what, cause, attempt, attempts - 1)
            yield endpoint.retry_delay(attempt)
    raise Unavailable(call.what, cause, attempts=attempts, url=endpoint.base_url)
