"""Settings from the environment (pydantic-settings). Built by `get_settings()`, never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from maplecollect.state.database import DbTimeouts

REAL_NEXON_BASE_URL = "https://open.api.nexon.com"


class Settings(BaseSettings):
    """Every setting has a default so nothing is required to start locally."""

    model_config = SettingsConfigDict(env_prefix="MAPLECOLLECT_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite at <data_dir>/maplecollect.db"
    )
    store_url: str | None = Field(
        default=None, description="fsspec URL of the artifact store; default <data_dir>/store"
    )
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="request bodies larger than this are refused (413)"
    )
    metrics_public: bool = Field(
        default=False, description="serve /metrics without the token (Prometheus on loopback)"
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="status page login lifetime (cookie)"
    )
    daily_deadline_hour: int = Field(
        default=6, ge=0, le=23, description="KST hour by which yesterday's snapshot is due"
    )

    nexon_base_url: str = REAL_NEXON_BASE_URL
    nexon_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NEXON_API_KEY", "MAPLECOLLECT_NEXON_API_KEY"),
    )
    # A label for the key in metrics and logs: never derived from the key itself.
    nexon_key_name: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    rate_limit: float = Field(default=500.0, gt=0, description="requests/s per API key")
    max_in_flight: int = Field(default=200, ge=1)
    redis_url: str | None = None

    # HTTP timeouts (seconds) and retry policy.
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0)
    retry_max_attempts: int = Field(default=6, ge=1)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    retry_base_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=30.0, gt=0)
    pause_seconds: float = Field(default=60.0, gt=0, description="wait after 00009/00010/00011")
    max_pause_seconds: float = Field(default=3600.0, gt=0)
    daily_quota: int = Field(default=20_000_000, ge=1)

    # Artifacts.
    chunk_codec: Literal["zstd", "gzip"] = "zstd"
    chunk_max_records: int = Field(default=5000, ge=1)
    chunk_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # Phases.
    ranking_max_pages: int = Field(default=500, ge=1)
    ocid_cache: bool = Field(default=True, description="use the persistent name→ocid cache")
    ocid_cache_ttl_seconds: float = Field(default=7 * 86400, ge=0)

    # Supervisor. Failover after a lost owner takes at most
    # heartbeat_timeout_seconds + heartbeat_seconds (docs/reliability.md).
    heartbeat_seconds: float = Field(default=2.0, gt=0)
    heartbeat_timeout_seconds: float = Field(default=10.0, gt=0)
    progress_seconds: float = Field(default=1.0, gt=0)
    auto_resume: bool = Field(
        default=True, description="resume INTERRUPTED runs automatically under the same runId"
    )
    auto_resume_max_attempts: int = Field(default=5, ge=1)
    auto_resume_backoff_seconds: float = Field(default=2.0, ge=0)
    auto_resume_max_backoff_seconds: float = Field(default=120.0, ge=0)

    # Database sessions: bounded, so a frozen peer cannot block the others.
    db_lock_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    db_idle_transaction_timeout_seconds: float = Field(default=10.0, gt=0)
    db_busy_timeout_seconds: float = Field(default=10.0, gt=0)
    loop_max_consecutive_failures: int = Field(default=3, ge=1)
    loop_failure_backoff_seconds: float = Field(default=5.0, ge=0)
    loop_upstream_wait_seconds: float = Field(default=10.0, gt=0)
    run_max_seconds: float = Field(default=86400.0, gt=0, description="a run ends FAILED after")

    # Outcome policy (docs/collection.md "Outcome policy").
    max_failed_ratio: float = Field(
        default=0.05, ge=0, le=1, description="failed share (not facts) that fails a run"
    )
    breaker_consecutive_failures: int = Field(default=20, ge=1)
    breaker_window: int = Field(default=100, ge=1)
    breaker_max_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_pauses: int = Field(default=3, ge=0)
    breaker_pause_seconds: float = Field(default=2.0, ge=0)

    # Downstream events: relays of the outbox to brokers (docs/downstream.md).
    events_redis_url: str | None = Field(default=None, description="Redis Streams relay")
    events_nats_url: str | None = Field(default=None, description="NATS JetStream relay")
    events_nats_stream: str = Field(default="EXTERNAL_API", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    events_webhook_url: str | None = Field(default=None, description="webhook relay")
    events_webhook_secret: SecretStr | None = None
    events_topic_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    events_batch_size: int = Field(default=100, ge=1, le=1000)
    events_poll_seconds: float = Field(default=1.0, gt=0)

    @field_validator("nexon_base_url")
    @classmethod
    def _check_base_url(cls, v: str) -> str:
        # Checked here, not when the first run builds its client: a typo is bad
        # usage (exit 2, the service refuses to start), never a FAILED run row.
        parts = urlsplit(v.strip())
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError("must look like https://open.api.nexon.com or http://127.0.0.1:8090")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return v.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_events(self) -> Self:
        checks = (
            (self.events_redis_url, ("redis://", "rediss://", "unix://"), "EVENTS_REDIS_URL"),
            (self.events_nats_url, ("nats://", "tls://"), "EVENTS_NATS_URL"),
            (self.events_webhook_url, ("http://", "https://"), "EVENTS_WEBHOOK_URL"),
        )
        for url, schemes, name in checks:
            if url is not None and not url.startswith(schemes):
                raise ValueError(f"MAPLECOLLECT_{name} must start with {' or '.join(schemes)}")
        if self.events_webhook_url and not self.events_webhook_secret:
            raise ValueError(
                "MAPLECOLLECT_EVENTS_WEBHOOK_SECRET is required with "
                "MAPLECOLLECT_EVENTS_WEBHOOK_URL"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'maplecollect.db').resolve()}"

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return str((self.data_dir / "store").resolve())

    def db_timeouts(self) -> DbTimeouts:
        from maplecollect.state.database import DbTimeouts

        return DbTimeouts(
            lock_seconds=self.db_lock_timeout_seconds,
            statement_seconds=self.db_statement_timeout_seconds,
            idle_in_transaction_seconds=self.db_idle_transaction_timeout_seconds,
            busy_seconds=self.db_busy_timeout_seconds,
        )

    def api_key_value(self) -> str | None:
        return self.nexon_api_key.get_secret_value() if self.nexon_api_key else None

    def api_token_value(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
