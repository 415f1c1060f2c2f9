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

# Scrape-time gauges read from the run-state database (so every replica reports
# the same truth): what the Grafana dashboard and the alert rules in deploy/ use.
RUN_PROGRESS = Gauge(
    "maplecollect_run_progress_ratio",
    "Share of the active run's input keys done (0-1), per phase; absent total keys = 0",
    ["phase"],
)
RUN_RATE = Gauge(
    "maplecollect_run_records_per_second",
    "Records/s of the active run, per phase (0 when idle)",
    ["phase"],
)
RUN_ETA = Gauge(
    "maplecollect_run_eta_seconds", "Estimated seconds left of the active run, per phase", ["phase"]
)
RUN_PAUSED = Gauge(
    "maplecollect_run_paused",
    "1 while the phase's active run is paused (data not ready, maintenance)",
    ["phase"],
)
RUN_PAUSED_SINCE = Gauge(
    "maplecollect_run_paused_since_timestamp_seconds",
    "When the current pause of the phase's run began (0 when not paused)",
    ["phase"],
)
RUN_HEARTBEAT_AGE = Gauge(
    "maplecollect_run_heartbeat_age_seconds",
    "Seconds since the active run's owner last beat, per phase (0 when idle)",
    ["phase"],
)
LOOP_ITERATIONS = Gauge(
    "maplecollect_loop_iterations",
    "Finished iterations of the phase's newest loop",
    ["phase"],
)
DAILY_OVERDUE = Gauge(
    "maplecollect_daily_snapshot_overdue",
    "1 when yesterday's (KST) daily chain is not COMPLETED by MAPLECOLLECT_DAILY_DEADLINE_HOUR",
)
DAILY_COMPLETED_AT = Gauge(
    "maplecollect_daily_snapshot_completed_timestamp_seconds",
    "When the newest COMPLETED daily chain finished (0 if none)",
)
SERVICE_HEARTBEAT = Gauge(
    "maplecollect_service_heartbeat_timestamp_seconds",
    "Last time this service read its run-state database (every status sample)",
)
