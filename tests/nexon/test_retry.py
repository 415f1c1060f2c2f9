import random

import pytest

from maplecollect.nexon.retry import RetryPolicy


def test_delay_doubles_up_to_the_cap_with_full_jitter() -> None:
    top = RetryPolicy(base_delay=0.5, max_delay=3.0, rand=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert RetryPolicy(rand=lambda: 0.0).delay(4) == 0.0
    assert RetryPolicy(base_delay=0.5, rand=lambda: 0.5).delay(3) == 1.0


def test_real_jitter_stays_within_bounds_and_spreads() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, rand=random.Random(7).random)
    draws = [policy.delay(3) for _ in range(2000)]
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert min(draws) < 0.5 and max(draws) > 3.5


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert RetryPolicy(max_delay=30.0, rand=lambda: 1.0).delay(10_000) == 30.0


def test_bounds_on_attempts_and_total_time() -> None:
    policy = RetryPolicy(max_attempts=3, max_seconds=10.0)
    assert policy.allows(1, 0.0, 1.0)
    assert policy.allows(2, 8.0, 2.0)
    assert not policy.allows(3, 0.0, 0.0)  # 3 attempts made: no 4th
    assert not policy.allows(1, 9.5, 1.0)  # the wait would pass max_seconds


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"max_seconds": 0}, {"base_delay": -1}])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
