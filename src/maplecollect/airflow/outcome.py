"""One verdict for a run, a chain or a phase slot, shared by the trigger and the sensors.

Success and failure sets are explicit; a status nobody listed is a failure, never
a success and never an endless wait (docs/airflow.md: a sensor must not hang on a
field that never changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from maplecollect.client import waiting as w
from maplecollect.contract import (
    ACTIVE_LOOP_STATUSES,
    ACTIVE_RUN_STATUSES,
    ChainStatus,
    LoopStatus,
    RunStatus,
)
from maplecollect.phases import Phase


class Verdict(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    WAITING = "waiting"


class Target(StrEnum):
    """What a wait polls: one run, one daily chain, or a phase until it is idle."""

    RUN = "run"
    CHAIN = "chain"
    PHASE_IDLE = "phase_idle"

    def watch(self, target_id: str) -> w.Target[Any]:
        """The client's wait target (its `call` is also the one-off look)."""
        if self is Target.RUN:
            return w.run_target(target_id)
        if self is Target.CHAIN:
            return w.chain_target(target_id)
        return w.idle_target(Phase(target_id))


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: str | None
    message: str

    @property
    def done(self) -> bool:
        return self.verdict is not Verdict.WAITING


# INTERRUPTED (the run resumes automatically under the same runId, docs/control-api.md)
# is in ACTIVE_RUN_STATUSES: wait, never fail on it.
RUN_TERMINAL = frozenset(RunStatus) - ACTIVE_RUN_STATUSES


def _run_label(run: Mapping[str, Any]) -> str:
    return f"run {run.get('runId')} ({run.get('phase')})"


def classify(run: Mapping[str, Any], *, stop_expected: bool = False) -> Outcome:
    """COMPLETED succeeds; FAILED/ABANDONED fail with the run's errorMessage; STOPPED
    fails unless a stop was expected; RUNNING/STOPPING wait; anything else fails."""
    status = run.get("status")
    label = _run_label(run)
    if status == RunStatus.COMPLETED:
        return Outcome(Verdict.SUCCESS, status, f"{label} COMPLETED")
    if status == RunStatus.INTERRUPTED:
        return Outcome(Verdict.WAITING, status, f"{label} is interrupted, waiting for auto-resume")
    if status in ACTIVE_RUN_STATUSES:
        return Outcome(Verdict.WAITING, status, f"{label} is {status}")
    if status == RunStatus.STOPPED:
        if stop_expected:
            return Outcome(Verdict.SUCCESS, status, f"{label} STOPPED as requested")
        return Outcome(Verdict.FAILED, status, f"{label} was STOPPED before it completed")
    if status in (RunStatus.FAILED, RunStatus.ABANDONED):
        reason = run.get("errorMessage") or "no errorMessage recorded"
        return Outcome(Verdict.FAILED, status, f"{label} {status}: {reason}")
    return Outcome(Verdict.FAILED, _str(status), f"{label} has unknown status {status!r}")


def classify_chain(chain: Mapping[str, Any]) -> Outcome:
    """RUNNING waits; COMPLETED succeeds; FAILED/STOPPED fail naming the failed run."""
    status = chain.get("status")
    label = f"daily chain {chain.get('chainId')}"
    if status == ChainStatus.RUNNING:
        return Outcome(Verdict.WAITING, status, f"{label} is RUNNING")
    if status == ChainStatus.COMPLETED:
        return Outcome(Verdict.SUCCESS, status, f"{label} COMPLETED")
    if status in (ChainStatus.FAILED, ChainStatus.STOPPED):
        return Outcome(Verdict.FAILED, status, f"{label} {status}{_chain_reason(chain)}")
    return Outcome(Verdict.FAILED, _str(status), f"{label} has unknown status {status!r}")


def _chain_reason(chain: Mapping[str, Any]) -> str:
    runs = chain.get("runs")
    reasons = [
        f"{_run_label(run)} {run.get('status')}: {run.get('errorMessage') or 'no errorMessage'}"
        for run in (runs.values() if isinstance(runs, Mapping) else ())
        if isinstance(run, Mapping)
        and run.get("status") not in (RunStatus.COMPLETED, *ACTIVE_RUN_STATUSES)
    ]
    return (": " + "; ".join(reasons)) if reasons else ""


def classify_idle(run_status: Mapping[str, Any], phase: str) -> Outcome:
    """From `/api/internal/run-status`: success once no run and no loop hold `phase`."""
    loops = run_status.get("loopSummaries") or {}
    slots = run_status.get("slots") or {}
    loop = loops.get(phase) if isinstance(loops, Mapping) else None
    run = slots.get(phase) if isinstance(slots, Mapping) else None
    if isinstance(loop, Mapping):
        loop_status = loop.get("status")
        if loop_status in ACTIVE_LOOP_STATUSES:
            return Outcome(
                Verdict.WAITING, loop_status, f"{phase} loop {loop.get('loopId')} is {loop_status}"
            )
        if loop_status != LoopStatus.STOPPED:
            return Outcome(
                Verdict.FAILED,
                _str(loop_status),
                f"{phase} loop has unknown status {loop_status!r}",
            )
    if isinstance(run, Mapping) and run.get("status") not in RUN_TERMINAL:
        return classify(run)  # still going (waits) or unknown (fails)
    return Outcome(Verdict.SUCCESS, None, f"{phase} is idle (no run or loop holds it)")


def classify_target(
    target: Target, document: Mapping[str, Any], *, target_id: str, stop_expected: bool = False
) -> Outcome:
    """Dispatch on what is being waited for; the trigger and the poke-mode sensors call this."""
    if target is Target.RUN:
        return classify(document, stop_expected=stop_expected)
    if target is Target.CHAIN:
        return classify_chain(document)
    return classify_idle(document, target_id)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
