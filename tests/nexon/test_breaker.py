"""The circuit breaker: its rules on their own, then on a real client against loopback."""

from __future__ import annotations

import asyncio

import pytest

from maplecollect.errors import CircuitOpen, RecordError
from maplecollect.nexon import RetryPolicy
from maplecollect.nexon.breaker import BreakerPolicy, CircuitBreaker

from .conftest import OK_BASIC, ClientFactory, FakeNexon, nexon_error

BASIC = "/maplestory/v1/character/basic"


async def test_consecutive_faults_pause_with_backoff_then_give_up() -> None:
    breaker = CircuitBreaker(BreakerPolicy(consecutive=3, pauses=2, pause_seconds=0.01))
    for trip in (1, 2):
        epoch = breaker.epoch
        for _ in range(3):
            breaker.fault(epoch, "TRANSPORT", "refused")
        assert not breaker.gate.is_open and breaker.trips == trip and not breaker.open
        assert "3 consecutive failed requests (TRANSPORT 3)" in breaker.gate.reason
        # Answers to requests sent before the trip do not count into the next round.
        breaker.fault(epoch, "TRANSPORT", "late")
        async with asyncio.timeout(5):
            await breaker.gate.wait()
    epoch = breaker.epoch
    breaker.fault(epoch, "TIMEOUT", "slow")
    breaker.fault(epoch, "TRANSPORT", "refused")
    breaker.fault(epoch, "TRANSPORT", "refused")
    assert breaker.open and breaker.dominant == "TRANSPORT"
    assert breaker.reason == (
        "CIRCUIT_BREAKER: 3 consecutive failed requests (TRANSPORT 2, TIMEOUT 1), "
        "still failing after 2 pause(s) (0.03s); last: refused"
    )


async def test_a_healthy_answer_resets_the_streak() -> None:
    breaker = CircuitBreaker(BreakerPolicy(consecutive=3, window=100))
    for _ in range(10):
        breaker.fault(0, "HTTP_5XX", "502")
        breaker.fault(0, "HTTP_5XX", "502")
        breaker.healthy(0)
    assert breaker.gate.is_open and breaker.trips == 0


async def test_a_high_fault_share_in_the_window_trips() -> None:
    breaker = CircuitBreaker(
        BreakerPolicy(consecutive=100, window=10, max_ratio=0.5, pause_seconds=0)
    )
    # 2 faults per healthy answer: never 100 in a row, but 2/3 of the window.
    for _ in range(3):
        breaker.fault(0, "OPENAPI00001", "server error")
        breaker.healthy(0)
        breaker.fault(0, "OPENAPI00001", "server error")
    assert breaker.trips == 0  # 9 attempts: the window is not full yet
    breaker.fault(0, "OPENAPI00001", "server error")
    assert breaker.trips == 1
    assert "7 of the last 10 requests failed (OPENAPI00001 7)" in breaker.gate.reason


async def test_a_low_fault_share_never_trips() -> None:
    breaker = CircuitBreaker(BreakerPolicy(consecutive=5, window=20, max_ratio=0.5))
    for i in range(1000):
        if i % 10 < 4:
            breaker.fault(0, "TRANSPORT", "reset")
        else:
            breaker.healthy(0)
    assert breaker.trips == 0


def test_policy_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        BreakerPolicy(max_ratio=0)
    with pytest.raises(ValueError, match="consecutive"):
        BreakerPolicy(consecutive=0)


async def test_nothing_listening_opens_the_breaker_within_a_few_attempts(
    make_client: ClientFactory,
) -> None:
    client = make_client(
        base_url="http://127.0.0.1:1",  # nothing listens there
        retry=RetryPolicy(max_attempts=1000, max_seconds=600, base_delay=0.001, max_delay=0.002),
    )
    breaker = CircuitBreaker(BreakerPolicy(consecutive=5, pauses=1, pause_seconds=0.01))
    async with asyncio.timeout(30):
        results = await asyncio.gather(
            *(client.character_basic(f"ocid-{i}", None, breaker=breaker) for i in range(20)),
            return_exceptions=True,
        )
    assert all(isinstance(r, CircuitOpen) for r in results), results
    assert breaker.trips == 2
    assert str(results[0]).startswith("CIRCUIT_BREAKER: 5 consecutive failed requests (TRANSPORT")
    # Without the breaker these keys would each have retried up to 1000 times.


async def test_record_verdicts_are_healthy_answers(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.default = nexon_error("OPENAPI00003", 400)
    client = make_client()
    breaker = CircuitBreaker(BreakerPolicy(consecutive=2, window=2, pause_seconds=0))
    for _ in range(10):
        with pytest.raises(RecordError):
            await client.character_basic("gone", None, breaker=breaker)
    assert breaker.trips == 0
    fake_api.default = (200, OK_BASIC)
    assert (await client.character_basic("ocid", None, breaker=breaker)).status == 200
