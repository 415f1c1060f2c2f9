"""Random draws for injected faults and added latency."""

from __future__ import annotations

import enum
import math
import random

from maplecollect.sim.config import Faults, Latency

# z-score of the 99th percentile of a standard normal distribution.
_Z99 = 2.3263478740408408


class Fault(enum.Enum):
    NONE = "none"
    ERROR = "error"  # 500 OPENAPI00001
    GATEWAY = "gateway"  # 502 with an HTML body
    RESET = "reset"  # connection reset, no response
    HANG = "hang"  # answer only after `hang_seconds`
    OK_ERROR = "ok_error"  # 200 with an OPENAPI00001 error body


def pick_fault(faults: Faults, rng: random.Random) -> Fault:
    """At most one fault per request, each with its own probability."""
    if faults.total_rate <= 0:
        return Fault.NONE
    u = rng.random()
    for fault, rate in (
        (Fault.ERROR, faults.error_rate),
        (Fault.GATEWAY, faults.gateway_rate),
        (Fault.RESET, faults.reset_rate),
        (Fault.HANG, faults.hang_rate),
        (Fault.OK_ERROR, faults.ok_error_rate),  # last: earlier draws stay as they were
    ):
        if u < rate:
            return fault
        u -= rate
    return Fault.NONE


def sample_latency(latency: Latency, rng: random.Random) -> float:
    """Seconds to wait before answering: 0, fixed p50, or lognormal through p50 and p99."""
    kind = latency.kind
    if kind == "none":
        return 0.0
    if kind == "fixed" or latency.p99_ms is None:
        return latency.p50_ms / 1000.0
    mu = math.log(latency.p50_ms)
    sigma = (math.log(latency.p99_ms) - mu) / _Z99
    return rng.lognormvariate(mu, sigma) / 1000.0
