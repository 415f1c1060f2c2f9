"""The outcome policy: when a run that got to its end is COMPLETED, and when FAILED.

The one place of the rules in docs/collection.md "Outcome policy": `judge()` once a
phase returned normally; `new_breaker()` the circuit breaker that fails a run while
it is still going. Rules, in order: EMPTY_INPUT, EMPTY_OUTPUT, FAILED_RATIO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from maplecollect.config import Settings
from maplecollect.control.progress import Progress
from maplecollect.nexon.breaker import BreakerPolicy, CircuitBreaker
from maplecollect.phases import Phase

FACT_CODES = frozenset({"OPENAPI00003"})
"""Failure codes that are facts about the data, not faults of the collection."""

RANKING_ROWS_PER_PAGE = 200
"""RANKING_FETCH fails per page: one failed page stands for this many missing rows."""


def by_code_text(failures_by_code: Mapping[str, int]) -> str:
    """`TRANSPORT 50, OPENAPI00003 2` (most frequent first), or `none`."""
    ordered = sorted(failures_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{code} {n:,}" for code, n in ordered) or "none"


@dataclass(frozen=True, slots=True)
class OutcomePolicy:
    max_failed_ratio: float = 0.05
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutcomePolicy:
        return cls(
            max_failed_ratio=settings.max_failed_ratio,
            breaker=BreakerPolicy(
                consecutive=settings.breaker_consecutive_failures,
                window=settings.breaker_window,
                max_ratio=settings.breaker_max_failure_ratio,
                pauses=settings.breaker_pauses,
                pause_seconds=settings.breaker_pause_seconds,
            ),
        )

    def new_breaker(self) -> CircuitBreaker:
        """A fresh breaker for one run (one attempt of it: a resume starts closed)."""
        return CircuitBreaker(self.breaker)

    def judge(self, phase: Phase, progress: Progress) -> str | None:
        """None if the run is COMPLETED; else the FAILED run's one-line errorMessage.

        The message starts with the rule that fired and ends with the counts by code.
        """
        records, failed = progress.records, progress.failed
        by_code = progress.failures_by_code
        counts = f"failures by code: {by_code_text(by_code)}"
        if phase.upstream is not None and progress.total_keys == 0:
            return f"EMPTY_INPUT: the upstream run has no keys for {phase.value}; {counts}"
        if records == 0:
            what = "ranking rows" if phase is Phase.RANKING_FETCH else "records"
            return f"EMPTY_OUTPUT: 0 {what} published ({failed:,} failed key(s)); {counts}"
        weight = RANKING_ROWS_PER_PAGE if phase is Phase.RANKING_FETCH else 1
        faults = sum(n for code, n in by_code.items() if code not in FACT_CODES)
        # Failed entries without a code bucket (should not happen) count as faults too.
        faults += max(failed - sum(by_code.values()), 0)
        share = faults * weight / (records + failed * weight)
        if share > self.max_failed_ratio:
            unit = " (a failed ranking page counts as 200 rows)" if weight > 1 else ""
            return (
                f"FAILED_RATIO: {share:.1%} of the keys failed with errors that are not facts "
                f"about the data{unit}, more than MAPLECOLLECT_MAX_FAILED_RATIO="
                f"{self.max_failed_ratio:g}; {counts}"
            )
        return None
