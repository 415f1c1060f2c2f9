import logging
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from maplecollect.nexon.quota import DailyQuota


class Clock:
    def __init__(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).timestamp()

    def __call__(self) -> float:
        return self.now


def gauge(name: str, fp: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"key": fp})


def test_counts_per_kst_day_and_resets_at_kst_midnight() -> None:
    clock = Clock("2026-11-01T14:59:58+00:00")  # 23:59:58 KST
    quota = DailyQuota("0123456789abcdef", 1000, clock=clock)
    quota.record()
    quota.record(2)
    assert quota.day == "2026-11-01"
    assert quota.used_today == 3
    assert gauge("maplecollect_nexon_quota_used_requests", "0123456789abcdef") == 3
    assert gauge("maplecollect_nexon_quota_limit_requests", "0123456789abcdef") == 1000
    clock.now += 2  # 00:00:00 KST: a new Nexon day
    assert quota.used_today == 0
    quota.record()
    assert quota.day == "2026-11-02"
    assert gauge("maplecollect_nexon_quota_used_requests", "0123456789abcdef") == 1
    assert datetime.fromtimestamp(clock.now, UTC).hour == 15


def test_single_warning_at_80_percent(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock("2026-11-01T03:00:00+00:00")
    quota = DailyQuota("fedcba9876543210", 10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="maplecollect.nexon.quota"):
        for _ in range(7):
            quota.record()
        assert caplog.records == []
        for _ in range(5):
            quota.record()
    assert len(caplog.records) == 1
    assert "80%" in caplog.records[0].getMessage()
    assert "fedcba9876543210" in caplog.records[0].getMessage()
