"""The simulator's injectable clock and the API's date rules (all in KST).

Only date availability and maintenance windows read this clock; rate limits and
latency use the event loop's monotonic time, so a pinned clock never freezes them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")

# Ranking for day D is published at 09:30 KST on D; character data for D at 02:00 KST on D+1.
RANKING_READY_AFTER = timedelta(hours=9, minutes=30)
CHARACTER_READY_AFTER = timedelta(days=1, hours=2)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_kst(moment: datetime) -> datetime:
    """Naive datetimes are taken as KST (the API's own zone); aware ones are converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=KST)
    return moment.astimezone(KST)


class Clock:
    """Real time, unless pinned to a fixed instant (tests, `--now`)."""

    __slots__ = ("pinned",)

    def __init__(self, pinned: datetime | None = None) -> None:
        self.pinned: datetime | None = None
        self.pin(pinned)

    def pin(self, moment: datetime | None) -> None:
        """Freeze the clock at `moment` (naive = KST), or unpin it with None."""
        self.pinned = as_kst(moment) if moment is not None else None

    def now(self) -> datetime:
        return self.pinned if self.pinned is not None else datetime.now(KST)


def parse_api_date(text: str) -> date | None:
    """`YYYY-MM-DD` as the API accepts it, or None when malformed."""
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def latest_ranking_date(now: datetime) -> date:
    return (now.astimezone(KST) - RANKING_READY_AFTER).date()


def latest_character_date(now: datetime) -> date:
    return (now.astimezone(KST) - CHARACTER_READY_AFTER).date()


def api_datetime(day: date) -> str:
    """How the API writes a day inside bodies: `2026-11-26T00:00+09:00`."""
    return f"{day.isoformat()}T00:00+09:00"
