"""Smooth per-API-key rate limiting (GCRA) shared by everything in a process.

How a slot is granted (same rule in process and in Redis, see redis_limiter.py):

* GCRA spacing: a theoretical arrival time `tat` advances by the emission
  interval T = (1 + guard) / effective_rate per grant, so requests go out
  evenly spaced; there is no once-per-second refill burst. A grant up to
  max(T/2, 10 ms) after its due time keeps the schedule (timer lateness does
  not lower the achieved rate); a later one (idle limiter, stall) restarts the
  schedule from now, so there is never a large catch-up burst.
* Hard window cap: the last floor(rate) grant times are kept; a new grant must
  be at least 1 s + guard after the oldest of them. So no 1-second window can
  ever hold more than `rate` grants, even after a late timer wake-up.
* Safety margin (`guard`, default 20 ms = 2 % of throughput): the window the
  cap is kept over is 1 s + guard, so a receiver that counts arrivals in a
  strict 1 s window sees at most `rate` of them as long as delivery jitter
  (a stall of the sender between grant and send, of the network, or of the
  receiver's process before it stamps the arrival) stays under the guard.
  With a 5 ms margin, configured exactly at the API's limit, a loaded machine
  got 429s; 20 ms still leaves 98 % of the limit (docs/nexon-client.md).

In process, waiters queue FIFO and ONE timer (not N sleeping tasks) hands the
next slot to the head of the queue. The slot is counted when the granted
task actually RUNS, not when the timer fired: on a busy event loop a task may
resume a few ms after its grant, and that moment is when its request leaves.
Only then is the next timer set, so the window cap holds for send times.
Adaptive: `slow_down()` (on OPENAPI00007) lowers the effective rate, which then
recovers gradually (`AdaptiveRate`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from maplecollect.errors import ClosedError

log = logging.getLogger(__name__)

# The safety margin, in seconds added to the 1 s window (see the module docstring).
DEFAULT_GUARD = 0.02
# A grant this late (or T/2, if larger) keeps the GCRA schedule instead of restarting
# it: a busy event loop wakes timers ~1 ms late, which at 500/s (T = 2 ms) would
# otherwise cost ~10 % of the rate. The catch-up burst is at most CATCH_UP / T grants.
CATCH_UP = 0.01


def whole_ms_timers(loop: asyncio.AbstractEventLoop) -> bool:
    """True for uvloop: libuv keeps timer time in whole milliseconds."""
    return type(loop).__module__.partition(".")[0] == "uvloop"


def never_early(delay: float) -> float:
    """`delay` for a whole-millisecond timer that must not fire before it.

    uvloop rounds a delay to the nearest ms against a loop clock that lags up to 1 ms,
    so its timers fire up to ~1.5 ms early, and a re-arm for under 0.5 ms runs on the
    next loop turn: a limiter waiting for its due time spun the loop ~20 turns per
    grant (docs/performance.md, "Timer wake-ups"). Rounded up to a whole ms plus one,
    the timer fires once, 1-2 ms late, which the schedule absorbs (CATCH_UP); only a
    loop turn that ran over 1 ms before arming it can still make it early, once.
    """
    return math.ceil(delay * 1000.0 + 1.0) / 1000.0 if delay > 0 else 0.0


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    async def acquire(self) -> None:
        """Wait for one request slot. Raises ClosedError after close()."""
        ...

    def slow_down(self) -> None:
        """The API answered 429 (OPENAPI00007): lower the rate for a while."""
        ...

    @property
    def effective_rate(self) -> float:
        """Requests/s currently allowed (the configured rate times the adaptive factor)."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class AdaptiveRate:
    """Multiplicative decrease on 429, hold, then linear recovery.

    * `slow_down()` multiplies the factor by `decrease` (floor `floor`); 429s
      within `cooldown` seconds of the last accepted one count once (a burst
      of in-flight requests hitting the limit is one signal, not twenty).
    * `hold` seconds after the last 429 the factor starts to grow back by
      `recover_per_second` per second until it is 1.0 again.
    """

    __slots__ = ("_clock", "_last", "_low", "cooldown", "decrease", "floor", "hold", "recover")

    def __init__(
        self,
        *,
        decrease: float = 0.8,
        floor: float = 0.1,
        cooldown: float = 1.0,
        hold: float = 10.0,
        recover_per_second: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (0 < decrease < 1 and 0 < floor <= 1):
            raise ValueError("decrease must be in (0, 1) and floor in (0, 1]")
        self.decrease = decrease
        self.floor = floor
        self.cooldown = cooldown
        self.hold = hold
        self.recover = recover_per_second
        self._clock = clock
        self._last: float | None = None
        self._low = 1.0

    def factor(self, now: float | None = None) -> float:
        if self._last is None:
            return 1.0
        now = self._clock() if now is None else now
        grown = self._low + self.recover * max(0.0, now - self._last - self.hold)
        if grown >= 1.0:
            self._last = None  # fully recovered: back to the fast path
            return 1.0
        return grown

    def slow_down(self, now: float | None = None) -> bool:
        """Lower the factor; False if ignored because of the cooldown."""
        now = self._clock() if now is None else now
        if self._last is not None and now - self._last < self.cooldown:
            return False
        self._low = max(self.floor, self.factor(now) * self.decrease)
        self._last = now
        return True


class LimiterBase:
    """What both limiters share: rate, window cap, adaptive factor, lifecycle."""

    def __init__(
        self, rate: float, *, guard: float = DEFAULT_GUARD, adaptive: AdaptiveRate | None = None
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number")
        if not 0 <= guard < 1:
            raise ValueError("guard must be in [0, 1)")
        self.rate = float(rate)
        self.guard = guard
        self.window = 1.0 + guard
        self.cap = max(1, math.floor(self.rate))  # most grants in any window
        self.adaptive = adaptive or AdaptiveRate()
        self._closed = False

    @property
    def effective_rate(self) -> float:
        return self.rate * self.adaptive.factor()

    def slow_down(self) -> None:
        if self.adaptive.slow_down():
            log.warning(
                "rate limit hit (OPENAPI00007): effective rate lowered to %.1f/s of %.1f/s",
                self.effective_rate,
                self.rate,
            )

    async def acquire(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{type(self).__name__} is closed")

    def _interval(self) -> float:
        """Emission interval T at the current effective rate."""
        return self.window / (self.rate * self.adaptive.factor())

    @staticmethod
    def _tolerance(interval: float) -> float:
        """How late a grant may be and still keep the schedule."""
        return max(interval / 2, CATCH_UP)


class GcraLimiter(LimiterBase):
    """In-process smooth limiter: at most `rate` requests in any 1 s window, evenly spaced.

    Idle, it holds no task or timer, so it can serve a later event loop too
    (one loop at a time).
    """

    def __init__(
        self,
        rate: float,
        *,
        guard: float = DEFAULT_GUARD,
        adaptive: AdaptiveRate | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rate, guard=guard, adaptive=adaptive)
        self._clock = clock
        self._tat = -math.inf
        self._recent: deque[float] = deque(maxlen=self.cap)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._granted: asyncio.Future[None] | None = None  # handed a slot, not running yet
        self._granted_due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._whole_ms = False

    def __repr__(self) -> str:
        return f"GcraLimiter(rate={self.rate:g}, effective_rate={self.effective_rate:g})"

    async def acquire(self) -> None:
        self._check_open()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._adopt(loop)
        if not self._waiters and self._granted is None and self._timer is None:
            now = self._clock()
            due = self._due()
            if now >= due:  # fast path: nobody waits and a slot is free
                self._record(now, due)
                return
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if self._timer is None and self._granted is None:
            self._schedule()
        try:
            await fut
        except asyncio.CancelledError:
            if self._granted is fut:  # cancelled after its grant: the slot goes unused
                self._granted = None
                self._schedule()
            raise
        self._record(self._clock(), self._granted_due)
        self._granted = None
        self._schedule()

    async def close(self) -> None:
        await super().close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(ClosedError("GcraLimiter is closed"))

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        # Waiters of an earlier, finished loop can never be served; start clean.
        self._waiters.clear()
        self._timer = None
        self._granted = None
        self._loop = loop
        self._whole_ms = whole_ms_timers(loop)

    def _due(self) -> float:
        """Earliest time the next grant is allowed: GCRA spacing and the window cap."""
        recent = self._recent
        if len(recent) == self.cap:
            return max(self._tat, recent[0] + self.window)
        return self._tat

    def _record(self, now: float, due: float) -> None:
        interval = self._interval()
        # Slightly late (timer jitter, busy loop): keep the schedule so lateness is
        # not lost. Later than that (idle, a stall): restart from now, no burst.
        late = now - due
        self._tat = (due if late <= self._tolerance(interval) else now) + interval
        self._recent.append(now)

    def _schedule(self) -> None:
        """Set the one timer for the head waiter (nothing to do if none is left)."""
        waiters = self._waiters
        while waiters and waiters[0].done():  # cancelled while queued
            waiters.popleft()
        if not waiters or self._loop is None:
            return
        delay = self._due() - self._clock()
        if self._whole_ms:
            delay = never_early(delay)
        self._timer = self._loop.call_later(max(0.0, delay), self._wake)

    def _wake(self) -> None:
        self._timer = None
        waiters = self._waiters
        while waiters and waiters[0].done():
            waiters.popleft()
        if not waiters:
            return
        due = self._due()
        if self._clock() < due:  # e.g. the rate was lowered meanwhile
            self._schedule()
            return
        fut = waiters.popleft()
        fut.set_result(None)
        self._granted = fut
        self._granted_due = due
