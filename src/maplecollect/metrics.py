"""Prometheus metrics of the service (no API key or token in any label)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RUNS_FINISHED = Counter(
    "maplecollect_runs_finished_total",
    "Runs that ended, by phase and final status",
    ["phase", "status"],
)
RECORDS = Counter(
    "maplecollect_records_total",
    "Records collected, by phase and outcome (ok, failed)",
    ["phase", "outcome"],
)
ACTIVE_RUNS = Gauge(
    "maplecollect_active_runs", "Non-terminal runs per phase (from the DB)", ["phase"]
)
ACTIVE_LOOPS = Gauge(
    "maplecollect_active_loops", "Running loops per phase (from the DB)", ["phase"]
)
RELAYED = Counter(
    "maplecollect_events_relayed_total", "Outbox events acknowledged by a broker", ["sink"]
)
RELAY_FAILURES = Counter(
    "maplecollect_event_relay_failures_total", "Failed deliveries of a relay (retried)", ["sink"]
)
RELAY_CURSOR = Gauge(
    "maplecollect_event_relay_cursor", "Last outbox seq a relay's broker acknowledged", ["sink"]
)
