"""`NexonClient`: the one pooled HTTP client for the Nexon Open API.

A request goes through named steps: wait while the pause gate is shut ->
take an in-flight slot (semaphore) -> acquire a rate-limiter slot -> send once
-> judge (classify) -> return, retry, pause or raise. It raises only:

* `RecordError`  - this key failed (OPENAPI00003/00004, unknown 4xx, retries
  exhausted); carries attempts. The phase writes a failed record and goes on.
* `RunFatalError` - OPENAPI00002/00005/00006, or one request paused longer
  than `max_pause_seconds` (data not ready / maintenance); `CircuitOpen` (a
  subclass) once the run's circuit breaker gave up (nexon/breaker.py).
* `ClosedError`  - used after `close()`.

Every 2xx body is checked against the endpoint's expected shape; a 200 whose
body is a Nexon error object is judged by its `error.name` (nexon/classify.py),
never returned as data. Failures carry a code: the Nexon name, or TRANSPORT,
TIMEOUT, HTTP_5XX (HTTP_4XX, ...) or BAD_BODY.

Errors and logs name status, error code, message, endpoint path and key
(character name, ocid or ranking page) - never the API key or any header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import aiohttp
import msgspec
from prometheus_client import Counter
from yarl import URL

from maplecollect.config import REAL_NEXON_BASE_URL, Settings
from maplecollect.errors import CircuitOpen, ClosedError, ConfigError, RecordError, RunFatalError
from maplecollect.nexon import metrics
from maplecollect.nexon.bodies import (
    check_json,
    check_ranking_page,
    decode_error,
    is_empty_character,
    is_syntax_error,
    ocid_of,
)
from maplecollect.nexon.breaker import CircuitBreaker
from maplecollect.nexon.classify import (
    BAD_BODY,
    NO_RESPONSE,
    PAUSE_REASONS,
    TIMEOUT,
    TRANSPORT,
    Action,
    classify,
    http_code,
)
from maplecollect.nexon.fingerprint import api_key_fingerprint
from maplecollect.nexon.limiter import GcraLimiter, RateLimiter
from maplecollect.nexon.pause import PauseGate, PauseHook, PausePolicy, PauseState
from maplecollect.nexon.quota import DailyQuota
from maplecollect.nexon.redis_limiter import RedisGcraLimiter
from maplecollect.nexon.retry import RetryPolicy

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-nxopen-api-key"
_MAX_MESSAGE = 300  # Nexon messages are short; never copy a whole body into an error


class ApiResponse(msgspec.Struct, frozen=True, gc=False):
    """A usable answer. `body` is exactly the bytes received.

    `empty` is set for character_basic / item_equipment when the character
    has no data (every field null but `date`); the client already decoded
    that while checking the body, so phases need not decode it again.
    """

    status: int
    body: bytes
    attempts: int
    fetched_at: str  # ISO 8601 UTC, e.g. 2026-11-02T03:04:05.678Z
    empty: bool = False


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: TCP connect, between two reads of the body, whole exchange."""

    connect: float = 5.0
    read: float = 30.0
    total: float = 60.0


def _ocid_flag(body: bytes) -> bool:
    ocid_of(body)
    return False


@dataclass(frozen=True, slots=True)
class _Endpoint:
    name: str  # metric label and endpoint name (docs/artifacts.md)
    path: str
    # Checks a 2xx body (raises ValueError if unusable) and returns the `empty` flag.
    check: Callable[[bytes], bool]


RANKING_OVERALL = _Endpoint("ranking-overall", "/maplestory/v1/ranking/overall", check_ranking_page)
OCID_LOOKUP = _Endpoint("ocid-lookup", "/maplestory/v1/id", _ocid_flag)
CHARACTER_BASIC = _Endpoint("character-basic", "/maplestory/v1/character/basic", is_empty_character)
ITEM_EQUIPMENT = _Endpoint(
    "item-equipment", "/maplestory/v1/character/item-equipment", is_empty_character
)
ENDPOINTS = (RANKING_OVERALL, OCID_LOOKUP, CHARACTER_BASIC, ITEM_EQUIPMENT)


@dataclass(slots=True)
class _Verdict:
    action: Action
    code: str | None
    message: str
    empty: bool = False

    @property
    def fault(self) -> bool | None:
        """For the circuit breaker: True no usable answer, False a usable one, None neither."""
        action = self.action
        if action is Action.RETRY:
            return True
        if action is Action.RETRY_SLOW_DOWN or action is Action.PAUSE:
            return None
        # Not a Nexon verdict about the key: a bad body, or a 3xx/4xx from something
        # that is not the API (a wrong base URL fails fast instead of key by key).
        code = self.code or ""
        return code == BAD_BODY or code.startswith("HTTP_")


def utc_iso(at: datetime | None = None) -> str:
    """`at` (default: now) in UTC with milliseconds, the `fetchedAt` form of every line."""
    at = datetime.now(UTC) if at is None else at.astimezone(UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _describe(exc: BaseException) -> str:
    """Short, safe text for a transport error (aiohttp texts hold host/port, never headers)."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text[:_MAX_MESSAGE]}" if text else name


def _safe_cause(exc: BaseException | None) -> BaseException | None:
    # ClientResponseError's repr includes the request headers (the API key): never chain it.
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


def limiter_from_settings(settings: Settings, api_key: str) -> RateLimiter:
    """A new budget for the key at the configured rate, in Redis (one budget across
    processes) when MAPLECOLLECT_REDIS_URL is set (docs/nexon-client.md)."""
    if settings.redis_url:
        fingerprint = api_key_fingerprint(api_key)
        return RedisGcraLimiter.from_url(settings.redis_url, fingerprint, settings.rate_limit)
    return GcraLimiter(settings.rate_limit)


class NexonClient:
    """Async context manager around ONE pooled aiohttp session (or an injected one).

    An injected `session` is used as is and not closed by the client; the
    timeouts and the API key header are still sent with every request.
    Likewise an injected `limiter` / `quota` belongs to whoever made it (to
    share one budget per key, control/services.py); one the client made
    itself is closed with it.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = REAL_NEXON_BASE_URL,
        limiter: RateLimiter | None = None,
        rate: float = 500.0,
        max_in_flight: int = 200,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        pause: PausePolicy | None = None,
        daily_quota: int = 20_000_000,
        quota: DailyQuota | None = None,
        session: aiohttp.ClientSession | None = None,
        on_pause: PauseHook | None = None,
        key_name: str = "default",
    ) -> None:
        if not api_key:
            raise ConfigError("NEXON_API_KEY is not set")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Nexon base URL must be http(s)://..., got {base_url!r}")
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be >= 1")
        self.key_name = key_name
        """The key's configured name: the only key identity in metrics and logs."""
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter if limiter is not None else GcraLimiter(rate)
        self._owns_limiter = limiter is None
        self.max_in_flight = max_in_flight
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.pause = pause or PausePolicy()
        self.on_pause = on_pause
        """Optional `(paused, reason)` callback, e.g. to show PAUSED in a UI."""

        self._headers = {API_KEY_HEADER: api_key}
        self._timeout = aiohttp.ClientTimeout(
            total=self.timeouts.total, connect=self.timeouts.connect, sock_read=self.timeouts.read
        )
        self._session = session
        self._owns_session = session is None
        self._sem = asyncio.Semaphore(max_in_flight)
        self._gate = PauseGate(self._on_gate)
        self._quota = quota if quota is not None else DailyQuota(key_name, daily_quota)
        self._closed = False
        self._urls = {ep.name: URL(self.base_url + ep.path) for ep in ENDPOINTS}
        # Pre-bound metric children: no label lookups per request.
        name = key_name
        self._m_in_flight = metrics.IN_FLIGHT.labels(name)
        self._m_paused = metrics.PAUSED.labels(name)
        self._m_rate_limited = metrics.RATE_LIMITED.labels(name)
        self._m_latency = {ep.name: metrics.latency_children(ep.name) for ep in ENDPOINTS}
        self._m_retries = {ep.name: metrics.RETRIES.labels(name, ep.name) for ep in ENDPOINTS}
        self._m_outcomes: dict[tuple[str, str], Counter] = {}
        limiter_ref = self.limiter
        metrics.EFFECTIVE_RATE.labels(name).set_function(lambda: limiter_ref.effective_rate)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
        quota: DailyQuota | None = None,
    ) -> NexonClient:
        """Client for the configured key; without `limiter` it makes (and owns) one."""
        api_key = settings.api_key_value()
        if not api_key:
            raise ConfigError("NEXON_API_KEY is not set")
        client = cls(
            api_key,
            base_url=settings.nexon_base_url,
            limiter=limiter if limiter is not None else limiter_from_settings(settings, api_key),
            max_in_flight=settings.max_in_flight,
            timeouts=Timeouts(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                total=settings.total_timeout,
            ),
            retry=RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                max_seconds=settings.retry_max_seconds,
                base_delay=settings.retry_base_delay,
                max_delay=settings.retry_max_delay,
            ),
            pause=PausePolicy(
                pause_seconds=settings.pause_seconds, max_pause_seconds=settings.max_pause_seconds
            ),
            daily_quota=settings.daily_quota,
            quota=quota,
            session=session,
            key_name=settings.nexon_key_name,
        )
        client._owns_limiter = limiter is None
        return client

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"NexonClient(base_url={self.base_url!r}, key={self.key_name}, {state})"

    # -- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the owned session and limiter (idempotent); injected ones stay open."""
        if self._closed:
            return
        self._closed = True
        self._gate.cancel()
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        if self._owns_limiter:
            await self.limiter.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def paused(self) -> bool:
        """True while OPENAPI00009/00010/00011 hold every request of this client back."""
        return not self._gate.is_open

    @property
    def pause_state(self) -> PauseState | None:
        """The current pause (code, reason, since, next try), kept across re-tries of a
        "not ready" day until an answer that is not a pause; None when not paused."""
        return self._gate.state

    # -- the four endpoints -----------------------------------------------

    async def ranking_overall(
        self,
        *,
        date: str | None,
        world_type: int | None = None,
        world_name: str | None = None,
        page: int = 1,
        breaker: CircuitBreaker | None = None,
    ) -> ApiResponse:
        """One page of /ranking/overall (200 rows); `date=None` asks for the latest."""
        params: dict[str, str] = {"page": str(page)}
        if date is not None:
            params["date"] = date
        if world_type is not None:
            params["world_type"] = str(world_type)
        if world_name is not None:
            params["world_name"] = world_name
        key = f"{date or 'latest'} world_type={world_type} world_name={world_name} page={page}"
        return await self._request(RANKING_OVERALL, params, key, breaker)

    async def character_id(
        self, character_name: str, *, breaker: CircuitBreaker | None = None
    ) -> ApiResponse:
        """/id: the ocid of a character name."""
        params = {"character_name": character_name}
        return await self._request(OCID_LOOKUP, params, character_name, breaker)

    async def character_basic(
        self, ocid: str, date: str | None, *, breaker: CircuitBreaker | None = None
    ) -> ApiResponse:
        params = {"ocid": ocid} if date is None else {"ocid": ocid, "date": date}
        return await self._request(CHARACTER_BASIC, params, ocid, breaker)

    async def item_equipment(
        self, ocid: str, date: str | None, *, breaker: CircuitBreaker | None = None
    ) -> ApiResponse:
        params = {"ocid": ocid} if date is None else {"ocid": ocid, "date": date}
        return await self._request(ITEM_EQUIPMENT, params, ocid, breaker)

    # -- the request path -------------------------------------------------

    async def _request(
        self, ep: _Endpoint, params: dict[str, str], key: str, breaker: CircuitBreaker | None
    ) -> ApiResponse:
        """One key: send, judge, retry or pause until an outcome (see the module docstring).

        `breaker` (the run's) sees every attempt; once it gave up, this raises CircuitOpen.
        """
        attempts = failures = 0
        paused = 0.0
        started = time.monotonic()
        error: BaseException | None = None
        epoch = 0
        while True:
            self._check_open()
            if not self._gate.is_open:
                paused += await self._gate.wait()
                continue
            if breaker is not None:
                if breaker.reason is not None:
                    raise CircuitOpen(breaker.reason, code=breaker.dominant, endpoint=ep.path)
                if not breaker.gate.is_open:
                    paused += await breaker.gate.wait()
                    continue
                epoch = breaker.epoch
            async with self._sem:
                await self.limiter.acquire()
                if not self._gate.is_open:  # shut while we waited for a slot
                    continue
                if breaker is not None and (breaker.epoch != epoch or not breaker.gate.is_open):
                    continue  # the breaker tripped while we waited
                attempts += 1
                status, body, error = await self._send_once(ep, params)
            verdict = self._judge(ep, status, body, error)
            self._count(ep, verdict.action)
            if breaker is not None:
                fault = verdict.fault
                if fault:
                    breaker.fault(epoch, verdict.code or TRANSPORT, verdict.message)
                elif fault is not None:
                    breaker.healthy(epoch)
            action = verdict.action
            if self._gate.state is not None and action is not Action.PAUSE:
                self._gate.settle()
            if action is Action.SUCCESS:
                return ApiResponse(status, body, attempts, utc_iso(), verdict.empty)
            if action is Action.RECORD_FAIL or action is Action.RUN_FAIL:
                cls = RecordError if action is Action.RECORD_FAIL else RunFatalError
                raise cls(
                    verdict.message,
                    status=status,
                    code=verdict.code,
                    endpoint=ep.path,
                    key=key,
                    attempts=attempts,
                )
            if action is Action.PAUSE:
                self._pause(verdict, paused, ep=ep, status=status, key=key, attempts=attempts)
                continue
            # RETRY / RETRY_SLOW_DOWN
            if action is Action.RETRY_SLOW_DOWN:
                self._m_rate_limited.inc()
                self.limiter.slow_down()
            failures += 1
            delay = self.retry.delay(failures)
            elapsed = time.monotonic() - started - paused
            if not self.retry.allows(failures, elapsed, delay):
                raise RecordError(
                    f"gave up after {attempts} attempt(s) in {elapsed:.1f}s; last: "
                    f"{verdict.message}",
                    status=status or None,
                    code=verdict.code,
                    endpoint=ep.path,
                    key=key,
                    attempts=attempts,
                ) from _safe_cause(error)
            self._m_retries[ep.name].inc()
            log.debug(
                "retrying %s [%s] in %.2fs after attempt %d: %s",
                ep.path,
                key,
                delay,
                attempts,
                verdict.message,
            )
            await asyncio.sleep(delay)

    async def _send_once(
        self, ep: _Endpoint, params: dict[str, str]
    ) -> tuple[int, bytes, BaseException | None]:
        """One HTTP exchange; the one place aiohttp errors are caught (they become status 0)."""
        session = self._session
        if session is None:
            session = self._session = self._new_session()
        self._quota.record()
        self._m_in_flight.inc()
        t0 = time.perf_counter()
        status = NO_RESPONSE
        try:
            async with session.get(
                self._urls[ep.name],
                params=params,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirect would carry the key header elsewhere
            ) as resp:
                body = await resp.read()
                status = resp.status
                return status, body, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return NO_RESPONSE, b"", exc
        finally:
            self._m_in_flight.dec()
            # A cancelled exchange (stop) counts under "error", like no response.
            self._m_latency[ep.name][min(status // 100, 6)].observe(time.perf_counter() - t0)

    @staticmethod
    def _judge(ep: _Endpoint, status: int, body: bytes, error: BaseException | None) -> _Verdict:
        """Turn one exchange into an Action (via the pure `classify`) plus code and message."""
        if error is not None:
            code = TIMEOUT if isinstance(error, TimeoutError) else TRANSPORT
            return _Verdict(classify(NO_RESPONSE, None, json_body=False), code, _describe(error))
        if 200 <= status < 300:
            try:
                empty = ep.check(body)
            except ValueError as exc:
                return _judge_unusable(ep, status, body, exc)
            return _Verdict(Action.SUCCESS, None, "", empty)
        found = decode_error(body)
        if found is None:
            kind = "non-JSON" if not _is_json(body) else "JSON"
            message = f"HTTP {status} with a {kind} body and no Nexon error"
            return _Verdict(classify(status, None, json_body=False), http_code(status), message)
        name, message = found
        return _Verdict(classify(status, name, json_body=True), name, message[:_MAX_MESSAGE])

    def _pause(
        self,
        verdict: _Verdict,
        paused: float,
        *,
        ep: _Endpoint,
        status: int,
        key: str,
        attempts: int,
    ) -> None:
        """Shut the gate for pause_seconds, or fail the run when this request's budget is spent."""
        code = verdict.code or ""
        reason = PAUSE_REASONS.get(code, "paused")
        if paused >= self.pause.max_pause_seconds:
            raise RunFatalError(
                f"{reason}: this request was paused {paused:.0f}s in total "
                f"(max_pause_seconds={self.pause.max_pause_seconds:g}); "
                f"last answer: {verdict.message}",
                status=status,
                code=verdict.code,
                endpoint=ep.path,
                key=key,
                attempts=attempts,
            )
        self._gate.close_for(
            self.pause.pause_seconds,
            f"{code} {reason}: {verdict.message}",
            code=code or "PAUSED",
            summary=reason,
        )

    def _on_gate(self, paused: bool, reason: str) -> None:
        if paused:
            self._m_paused.inc()
            log.warning(
                "Nexon API pause for %gs (key %s): %s",
                self.pause.pause_seconds,
                self.key_name,
                reason,
            )
        else:
            self._m_paused.dec()
            log.info("Nexon API pause over (key %s)", self.key_name)
        hook = self.on_pause
        if hook is not None:
            try:
                hook(paused, reason)
            except Exception:  # a UI hook must never break the request path
                log.exception("on_pause hook failed")

    def _count(self, ep: _Endpoint, action: Action) -> None:
        child = self._m_outcomes.get((ep.name, action.value))
        if child is None:
            child = metrics.REQUESTS.labels(self.key_name, ep.name, action.value)
            self._m_outcomes[(ep.name, action.value)] = child
        child.inc()

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, keepalive_timeout=30.0)
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("NexonClient is closed")


def _judge_unusable(ep: _Endpoint, status: int, body: bytes, exc: ValueError) -> _Verdict:
    """A 2xx body that failed the endpoint's check (the rare path: the check passed is free).

    A Nexon error object is judged by its name like any error answer; invalid JSON
    (a truncated transfer) is retried; JSON of another shape fails the key as BAD_BODY.
    """
    found = decode_error(body)
    if found is not None:
        name, message = found
        return _Verdict(classify(status, name, json_body=True), name, message[:_MAX_MESSAGE])
    if is_syntax_error(exc):
        action = classify(status, None, json_body=False)
        return _Verdict(action, BAD_BODY, f"invalid JSON in an HTTP {status} answer")
    action = classify(status, None, json_body=True, expected_shape=False)
    detail = str(exc)[:_MAX_MESSAGE]
    return _Verdict(action, BAD_BODY, f"HTTP {status} body is not a {ep.name} answer: {detail}")


def _is_json(body: bytes) -> bool:
    try:
        check_json(body)
    except ValueError:
        return False
    return True
