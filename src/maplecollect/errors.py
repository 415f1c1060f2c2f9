"""The one exception tree of maplecollect. Callers decide by type, never by text.

MaplecollectError
├── ConfigError, StoreError, InvalidRequest, ClosedError
├── NexonApiError               from the Nexon client, never carrying the API key
│   ├── RecordError             this key failed: a failed record, the phase goes on
│   └── RunFatalError           the run FAILS at once
│       └── CircuitOpen         the run's circuit breaker gave up
└── StateError                  durable run state problems
    ├── SlotConflict            a phase slot is held by another run, loop or chain
    │   └── ChainActive         the running daily chain still has this phase to do
    ├── RunNotFound, InvalidTransition, LeaseLost
    └── UpstreamError           the upstream run named for a phase cannot feed it
"""

from __future__ import annotations


class MaplecollectError(Exception):
    """Root of every error raised on purpose by maplecollect."""


class ConfigError(MaplecollectError):
    """Invalid settings or arguments."""


class ClosedError(MaplecollectError):
    """An object was used after it was closed."""


class NexonApiError(MaplecollectError):
    """A call to the Nexon Open API did not give a usable body."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str = "",
        key: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint
        self.key = key
        self.attempts = attempts

    def __str__(self) -> str:
        where = f"{self.endpoint} [{self.key}]" if self.key else self.endpoint
        code = self.code or "TRANSPORT"
        tries = f"{self.attempts} attempt(s)"
        return f"{code} (HTTP {self.status}) on {where} after {tries}: {self.message}"


class RecordError(NexonApiError):
    """This key failed; record it as a failed record and continue the phase."""


class RunFatalError(NexonApiError):
    """The run cannot continue (invalid key, no permission, bad path, long outage)."""


class CircuitOpen(RunFatalError):
    """The run's circuit breaker gave up; the message is the breaker's one-line reason."""

    def __str__(self) -> str:
        return self.message


class StoreError(MaplecollectError):
    """The artifact store could not be written or read."""


class StateError(MaplecollectError):
    """Durable run state problem."""


class SlotConflict(StateError):
    """The slot is held: by a run (`run_id`, which may be a loop iteration or a chain
    run, then `loop_id` / `chain_id` say whose), by a loop (`loop_id` alone) or, for
    the daily chain, by a running chain (`chain_id`, with `run_id` its run that
    holds a slot, None between two of its phases). `phase` is None only then.
    """

    def __init__(
        self,
        phase: str | None,
        *,
        run_id: str | None = None,
        loop_id: str | None = None,
        chain_id: str | None = None,
        message: str | None = None,
    ) -> None:
        held = ", ".join(
            f"{kind} {value}"
            for kind, value in (("run", run_id), ("loop", loop_id), ("chain", chain_id))
            if value
        )
        super().__init__(
            message or f"{phase or 'the daily chain'} is busy ({held or 'holder unknown'})"
        )
        self.phase = phase
        self.run_id = run_id
        self.loop_id = loop_id
        self.chain_id = chain_id


class ChainActive(SlotConflict):
    """The running daily chain has not done `phase` yet: it has the phase first.

    Loops wait for it (WAITING_FOR_CHAIN); one-shot triggers are refused
    (docs/control-api.md "The daily chain has priority").
    """

    def __init__(self, phase: str, *, chain_id: str) -> None:
        super().__init__(
            phase,
            chain_id=chain_id,
            message=f"the daily chain {chain_id} has not run {phase} yet; it goes first",
        )


class RunNotFound(StateError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} not found")
        self.run_id = run_id


class InvalidTransition(StateError):
    def __init__(self, run_id: str, run_status: str) -> None:
        super().__init__(f"run {run_id} is {run_status}; cannot resume")
        self.run_id = run_id
        self.run_status = run_status


class LeaseLost(StateError):
    """The run's lease moved on (another owner or a newer epoch): stop, publish nothing.

    See docs/reliability.md "Fencing".
    """

    def __init__(self, run_id: str, epoch: int, what: str) -> None:
        super().__init__(f"run {run_id}: lost the lease (epoch {epoch}) before {what}")
        self.run_id = run_id
        self.epoch = epoch
        self.what = what


class InvalidRequest(MaplecollectError):
    """A request that names something impossible; `code` is the API error name."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class UpstreamError(StateError):
    """The upstream run named for a phase cannot feed it."""


class MissingUpstream(UpstreamError):
    def __init__(self, phase: str, upstream_phase: str) -> None:
        super().__init__(f"{phase} needs an upstream {upstream_phase} run (X-Upstream-Run-Id)")
        self.phase = phase
        self.upstream_phase = upstream_phase


class UpstreamNotAllowed(UpstreamError):
    def __init__(self, phase: str) -> None:
        super().__init__(f"{phase} is a root phase and takes no upstream run")
        self.phase = phase


class UpstreamNotFound(UpstreamError):
    def __init__(self, upstream_run_id: str, upstream_phase: str | None = None) -> None:
        super().__init__(f"upstream run {upstream_run_id} not found")
        self.upstream_run_id = upstream_run_id
        self.upstream_phase = upstream_phase


class UpstreamNotCompleted(UpstreamError):
    def __init__(self, upstream_run_id: str, upstream_status: str) -> None:
        super().__init__(f"upstream run {upstream_run_id} is {upstream_status}, not COMPLETED")
        self.upstream_run_id = upstream_run_id
        self.upstream_status = upstream_status


class UpstreamPhaseMismatch(UpstreamError):
    def __init__(self, upstream_run_id: str, expected_phase: str, upstream_phase: str) -> None:
        super().__init__(
            f"upstream run {upstream_run_id} is a {upstream_phase} run, expected {expected_phase}"
        )
        self.upstream_run_id = upstream_run_id
        self.expected_phase = expected_phase
        self.upstream_phase = upstream_phase


class UpstreamEmpty(UpstreamError):
    """The upstream run is COMPLETED but published no records: nothing to collect from."""

    def __init__(self, upstream_run_id: str, upstream_phase: str) -> None:
        super().__init__(
            f"upstream run {upstream_run_id} ({upstream_phase}) has no records to collect from"
        )
        self.upstream_run_id = upstream_run_id
        self.upstream_phase = upstream_phase
