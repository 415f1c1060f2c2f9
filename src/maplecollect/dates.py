"""Snapshot dates: KST calendar days, `latest`, and the default (yesterday in Seoul)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from maplecollect.echo import echo
from maplecollect.errors import InvalidRequest

KST = ZoneInfo("Asia/Seoul")
LATEST = "latest"
# The Nexon Open API has data from this day on.
FIRST_DATA_DAY = date(2023, 12, 21)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def today_kst(now: datetime) -> date:
    return now.astimezone(KST).date()


def default_snapshot_date(now: datetime) -> str:
    """Yesterday in Asia/Seoul: the newest day whose character data is published."""
    return (today_kst(now) - timedelta(days=1)).isoformat()


def parse_snapshot_date(value: str, *, now: datetime) -> str:
    """Validate `YYYY-MM-DD` (a real day, from 2023-12-21 to today KST) or `latest`.

    Raises InvalidRequest(INVALID_DATE) with a message saying what is wrong.
    """
    if value == LATEST:
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise InvalidRequest(
            "INVALID_DATE", "date must be YYYY-MM-DD or 'latest'", date=echo(value)
        )
    # From here on `value` is exactly 10 characters (the pattern): safe to quote.
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            "INVALID_DATE", f"{value} is not a calendar date", date=value
        ) from None
    if day < FIRST_DATA_DAY:
        raise InvalidRequest(
            "INVALID_DATE",
            f"{value} is before {FIRST_DATA_DAY.isoformat()}, the first day the API has data for",
            date=value,
        )
    if day > today_kst(now):
        raise InvalidRequest("INVALID_DATE", f"{value} is in the future (KST)", date=value)
    return value
