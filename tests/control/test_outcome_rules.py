"""The outcome policy's rules, one by one (docs/collection.md "Outcome policy")."""

from __future__ import annotations

import pytest

from maplecollect.config import Settings
from maplecollect.control.outcome_policy import OutcomePolicy
from maplecollect.control.progress import Progress
from maplecollect.phases import Phase


def _progress(records: int, total: int | None = None, **failures: int) -> Progress:
    progress = Progress(total_keys=total)
    progress.add(records=records)
    for code, n in failures.items():
        for _ in range(n):
            progress.add_failure(code)
    return progress


POLICY = OutcomePolicy(max_failed_ratio=0.05)


def test_a_clean_run_completes() -> None:
    assert POLICY.judge(Phase.CHARACTER_BASIC, _progress(1000, 1000)) is None


def test_failures_up_to_the_ratio_complete() -> None:
    assert POLICY.judge(Phase.CHARACTER_BASIC, _progress(950, 1000, TRANSPORT=50)) is None


def test_failures_above_the_ratio_fail_naming_the_rule_and_the_counts() -> None:
    message = POLICY.judge(Phase.CHARACTER_BASIC, _progress(949, 1000, TRANSPORT=40, TIMEOUT=11))
    assert message == (
        "FAILED_RATIO: 5.1% of the keys failed with errors that are not facts about the data, "
        "more than MAPLECOLLECT_MAX_FAILED_RATIO=0.05; failures by code: TRANSPORT 40, TIMEOUT 11"
    )


def test_facts_about_the_data_do_not_count() -> None:
    # 30 % of the names are gone (OPENAPI00003): a fact, the run is fine.
    progress = _progress(700, 1000, OPENAPI00003=300)
    assert POLICY.judge(Phase.OCID_LOOKUP, progress) is None
    # ... but the same share of anything else is not.
    for code in ("BAD_BODY", "HTTP_5XX", "OPENAPI00001", "OPENAPI00004", "UNKNOWN"):
        assert POLICY.judge(Phase.OCID_LOOKUP, _progress(700, 1000, **{code: 300})) is not None


def test_zero_records_from_a_non_empty_input_fail() -> None:
    message = POLICY.judge(Phase.OCID_LOOKUP, _progress(0, 5, OPENAPI00003=5))
    assert message == (
        "EMPTY_OUTPUT: 0 records published (5 failed key(s)); failures by code: OPENAPI00003 5"
    )


def test_a_ranking_with_no_rows_fails() -> None:
    message = POLICY.judge(Phase.RANKING_FETCH, _progress(0))
    assert message is not None and message.startswith("EMPTY_OUTPUT: 0 ranking rows published")


def test_a_failed_ranking_page_counts_as_its_200_rows() -> None:
    # 20 failed pages of 1,000: 2 % of the ranking is missing, fine; 60 pages, 6 %, not.
    assert POLICY.judge(Phase.RANKING_FETCH, _progress(196_000, None, TRANSPORT=20)) is None
    message = POLICY.judge(Phase.RANKING_FETCH, _progress(188_000, None, TRANSPORT=60))
    assert message is not None and message.startswith("FAILED_RATIO: 6.0% of the keys")
    assert "a failed ranking page counts as 200 rows" in message


def test_an_empty_input_fails_explicitly() -> None:
    message = POLICY.judge(Phase.CHARACTER_BASIC, _progress(0, 0))
    assert message is not None and message.startswith("EMPTY_INPUT: ")


@pytest.mark.parametrize(("ratio", "fails"), [(0.0, True), (0.2, False)])
def test_the_ratio_comes_from_the_settings(ratio: float, fails: bool) -> None:
    policy = OutcomePolicy.from_settings(Settings(max_failed_ratio=ratio))
    assert (policy.judge(Phase.ITEM_EQUIPMENT, _progress(90, 100, TIMEOUT=10)) is not None) is fails


def test_the_breaker_comes_from_the_settings() -> None:
    settings = Settings(
        breaker_consecutive_failures=7,
        breaker_window=50,
        breaker_max_failure_ratio=0.8,
        breaker_pauses=1,
        breaker_pause_seconds=0.5,
    )
    breaker = OutcomePolicy.from_settings(settings).new_breaker()
    policy = breaker.policy
    assert (policy.consecutive, policy.window, policy.max_ratio) == (7, 50, 0.8)
    assert (policy.pauses, policy.pause_seconds) == (1, 0.5)
