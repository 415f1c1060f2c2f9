"""Relay settings: bad values are refused at start, one line, without the secret."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from maplecollect.cli import app
from maplecollect.config import Settings
from maplecollect.events.sinks import sinks_from_settings


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"events_webhook_url": "http://127.0.0.1:9/hook"}, "WEBHOOK_SECRET is required"),
        ({"events_redis_url": "http://127.0.0.1:6379"}, "EVENTS_REDIS_URL must start"),
        ({"events_nats_url": "127.0.0.1:4222"}, "EVENTS_NATS_URL must start"),
        ({"events_topic_prefix": "bad prefix"}, "pattern"),
    ],
)
def test_bad_relay_settings_are_refused(
    values: dict[str, str], problem: str, clean_env: None
) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings(**values)


def test_each_configured_broker_gets_a_sink(clean_env: None) -> None:
    assert sinks_from_settings(Settings()) == []
    sinks = sinks_from_settings(
        Settings(
            events_redis_url="redis://127.0.0.1:6379/15",
            events_nats_url="nats://127.0.0.1:4222",
            events_webhook_url="http://127.0.0.1:9/hook",
            events_webhook_secret="k",
        )
    )
    assert [s.name for s in sinks] == ["redis-streams", "nats-jetstream", "webhook"]


def test_relay_without_a_broker_is_bad_usage_and_hides_the_secret(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(app, ["relay", "--once"])
    assert result.exit_code == 2
    assert "no relay is configured" in result.output
    monkeypatch.setenv("MAPLECOLLECT_EVENTS_WEBHOOK_URL", "ftp://x")
    monkeypatch.setenv("MAPLECOLLECT_EVENTS_WEBHOOK_SECRET", "very-secret-value")
    result = CliRunner().invoke(app, ["relay"])
    assert result.exit_code == 2
    assert "EVENTS_WEBHOOK_URL must start" in result.output
    assert "very-secret-value" not in result.output
