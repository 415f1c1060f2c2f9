"""Daily quota accounting per API key (the Nexon day is the KST day, Asia/Seoul).

Counts every HTTP request sent by this process (retries included: Nexon counts
them too). One WARNING log when the day's count reaches 80 % of the quota.
Per client owner (control/services.py): with several processes on one key each
reports its own share.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from maplecollect.nexon.metrics import QUOTA_LIMIT, QUOTA_USED

log = logging.getLogger(__name__)

KST = ZoneInfo("Asia/Seoul")
_DAY = 86400.0


class DailyQuota:
    """Requests used today (KST) for one key; cheap to call per request.

    `key_name` is the configured name used in the gauges and the warning (never
    the key or its fingerprint).
    """

    def __init__(
        self,
        key_name: str,
        daily_quota: int,
        *,
        warn_ratio: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_name = key_name
        self._warn_ratio = warn_ratio
        self._clock = clock
        self._used = 0
        self._warned = False
        self._day = ""
        self._day_ends = -math.inf  # epoch seconds of the next KST midnight
        self._gauge = QUOTA_USED.labels(key_name)
        self.set_limit(daily_quota)

    def set_limit(self, daily_quota: int) -> None:
        self.daily_quota = daily_quota
        self._warn_at = math.ceil(daily_quota * self._warn_ratio)
        QUOTA_LIMIT.labels(self.key_name).set(daily_quota)

    @property
    def used_today(self) -> int:
        self._roll(self._clock())
        return self._used

    @property
    def day(self) -> str:
        """The KST date the count belongs to (YYYY-MM-DD)."""
        self._roll(self._clock())
        return self._day

    def record(self, n: int = 1) -> None:
        now = self._clock()
        if now >= self._day_ends:
            self._roll(now)
        self._used += n
        self._gauge.set(self._used)
        if not self._warned and self._used >= self._warn_at:
            self._warned = True
            log.warning(
                "daily quota of key %s at %d of %d requests (%.0f%%) for KST day %s",
                self.key_name,
                self._used,
                self.daily_quota,
                100.0 * self._used / self.daily_quota,
                self._day,
            )

    def _roll(self, now: float) -> None:
        if now < self._day_ends:
            return
        today = datetime.fromtimestamp(now, KST)
        midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
        self._day = today.date().isoformat()
        self._day_ends = midnight.timestamp() + _DAY  # Seoul has no DST
        self._used = 0
        self._warned = False
        self._gauge.set(0)
