"""The limit catalogue: named window limits and concurrency caps, and their overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.core.config import ConfigError, Settings, parse_rate_limit_override

Scope = Literal["user", "ip", "global"]
SCOPES: tuple[str, ...] = ("user", "ip", "global")
KEY_PREFIX = "rate_limit"
GLOBAL_SUBJECT = "global"


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` admissions per subject in any `window_seconds` (a sliding window)."""

    limit: int
    window_seconds: float
    scope: Scope = "user"

    def __post_init__(self) -> None:
        if self.limit < 0 or self.window_seconds <= 0 or self.scope not in SCOPES:
            raise ValueError(f"invalid rate limit {self!r}")

    @property
    def window_us(self) -> int:
        return int(round(self.window_seconds * 1_000_000))


@dataclass(frozen=True)
class ConcurrencyCap:
    """At most `limit` holders at once; a holder's slot frees when its lease expires."""

    limit: int
    lease_seconds: float = 600
    scope: Scope = "global"

    def __post_init__(self) -> None:
        if self.limit < 0 or self.lease_seconds <= 0 or self.scope not in SCOPES:
            raise ValueError(f"invalid concurrency cap {self!r}")


GEMINI_MINUTE = "gemini_requests_per_minute"
GEMINI_DAY = "gemini_requests_per_day"
GEMINI_PAUSE = "gemini_pause"
GEMINI_USER_DAY = "gemini_requests_per_user_per_day"
# Not limits but the fair share's own keys: each user's calls in the minute window, and the
# users whose jobs are asking for Gemini (see `RateLimiter.reserve_gemini_call`).
GEMINI_SHARE = "gemini_share"
GEMINI_CONTENDERS = "gemini_contenders"
RESERVED_NAMES = frozenset({GEMINI_PAUSE, GEMINI_SHARE, GEMINI_CONTENDERS})
API_PER_USER = "api_requests_per_user_per_minute"
API_PER_IP = "api_requests_per_ip_per_minute"
API_READS_PER_USER = "api_reads_per_user_per_minute"
API_GLOBAL = "api_requests_global_per_minute"

LIMITS: dict[str, RateLimit | ConcurrencyCap] = {
    GEMINI_MINUTE: RateLimit(8, 60, "global"),
    GEMINI_DAY: RateLimit(1000, 86400, "global"),
    # Every Gemini call a user's job makes, whatever the job type: no one user can spend the
    # day's shared quota (a cached answer spends nothing).
    GEMINI_USER_DAY: RateLimit(150, 86400, "user"),
    "resume_tailoring_per_user_per_day": RateLimit(5, 86400, "user"),
    "job_applications_per_user_per_day": RateLimit(20, 86400, "user"),
    # Every job type that calls an engine has a daily cap, spent when the job is queued:
    # resume_tailoring above, and these two. A tailoring made inside an application spends
    # one `resume_tailoring_per_user_per_day` as well (once per job).
    "application_preparations_per_user_per_day": RateLimit(30, 86400, "user"),
    "project_analysis_per_user_per_day": RateLimit(20, 86400, "user"),
    # Searches submitted (each one fetches every chosen board): spent when the job is queued.
    "job_search_per_user_per_day": RateLimit(10, 86400, "user"),
    # Writes and costly work. Cheap reads of the user's own objects (views marked
    # `@cheap_read`: a job's status, the job list, an event stream...) count against
    # API_READS_PER_USER instead, so a client polling its job does not lock itself out.
    API_PER_USER: RateLimit(30, 60, "user"),
    API_READS_PER_USER: RateLimit(300, 60, "user"),
    # Load shedding: past this many /api requests a minute, all processes together answer 503.
    # 2,000 a second: about what one 2-core web host serves of authenticated reads (the hot-path
    # benchmark); size it for a deployment as docs/rate-limits.md says.
    API_GLOBAL: RateLimit(120_000, 60, "global"),
    # Every request (routed or not, any path but the health probes) from one address, checked
    # with the global budget, so no one address can spend it: 20 a second is far above what a
    # client, or an office of them behind one NAT, sends, and a small part of the global budget.
    API_PER_IP: RateLimit(1200, 60, "ip"),
    "auth_login_per_ip_per_minute": RateLimit(10, 60, "ip"),
    "auth_register_per_ip_per_hour": RateLimit(20, 3600, "ip"),
    "auth_refresh_per_ip_per_minute": RateLimit(30, 60, "ip"),
    # Public routes that send mail or take a mailed token: per address, so nobody can spam
    # inboxes, guess tokens quickly or spend the global budget from one place.
    "auth_password_reset_per_ip_per_hour": RateLimit(10, 3600, "ip"),
    "auth_token_confirm_per_ip_per_minute": RateLimit(10, 60, "ip"),
    "auth_verify_email_per_user_per_hour": RateLimit(5, 3600, "user"),
    "concurrent_tailoring_sessions": ConcurrencyCap(3, lease_seconds=600, scope="global"),
    # Resume parsing (a child process under a CPU limit, run as a job): every document added
    # spends one parse before it is stored; documents read at once in all processes, and by
    # one user at once, so one user's documents never take all the parser capacity.
    "resume_parses_per_user_per_day": RateLimit(30, 86400, "user"),
    "concurrent_resume_parses": ConcurrencyCap(2, lease_seconds=60, scope="global"),
    "concurrent_resume_parses_per_user": ConcurrencyCap(1, lease_seconds=60, scope="user"),
    # Browsers filling application forms at once across the deployment (each is ~0.3-0.5 GB
    # and a core while it loads): `make bench` (browser) measures what one 2-core host runs
    # without slowing the API.
    "concurrent_browser_sessions": ConcurrencyCap(2, lease_seconds=300, scope="global"),
    # Applications a user's browser sessions fill or send in a day (each fill counts).
    "browser_applications_per_user_per_day": RateLimit(20, 86400, "user"),
}

# The per-user allowances a job spends under its own id (`hit(..., holder=job_id)`): given back
# when the job fails for a reason that is not its owner's (see `RateLimiter.give_back`).
JOB_ALLOWANCES = (
    "resume_tailoring_per_user_per_day",
    "job_applications_per_user_per_day",
    "job_search_per_user_per_day",
)

# Paths under /api that only the per-address limit applies to (the API description and its
# docs page).
EXEMPT_PATH_PREFIXES = ("/api/openapi.json", "/api/docs")


def key_for(name: str, subject: str) -> str:
    """The Redis key of one limit for one subject: `rate_limit:<name>:<subject>`."""
    return f"{KEY_PREFIX}:{name}:{subject}"


def _scope_from_name(name: str) -> Scope:
    if "_per_ip" in name:
        return "ip"
    if "global" in name or name.startswith("gemini_"):
        return "global"
    return "user"


def limits_from_settings(settings: Settings) -> dict[str, RateLimit | ConcurrencyCap]:
    """`LIMITS` with the `RATE_LIMIT_<NAME>=N/SECONDS[/SCOPE]` overrides applied.

    A variable naming an unknown limit defines a new window limit (its scope is the third part,
    else `ip` for names containing `_per_ip`, `global` for names containing `global`, else
    `user`). For a concurrency cap the value is `N` or `N/LEASE_SECONDS`. A bad value raises
    `ConfigError`, so the service refuses to start rather than run with a limit it misread.
    """
    limits = dict(LIMITS)
    for variable, raw in sorted(settings.rate_limit_overrides.items()):
        name, count, seconds, scope = parse_rate_limit_override(variable, raw)
        if name in RESERVED_NAMES:
            raise ConfigError(f"{variable}: not a usable limit name")
        current = limits.get(name)
        try:
            if isinstance(current, ConcurrencyCap):
                if scope:
                    raise ConfigError(f"{variable}: a concurrency cap takes N or N/LEASE_SECONDS")
                lease = _seconds(seconds) if seconds else current.lease_seconds
                limits[name] = ConcurrencyCap(count, lease, current.scope)
            elif current is None and seconds is None:
                raise ConfigError(f"{variable}={raw!r}: a new limit needs a window: N/SECONDS")
            else:
                window = _seconds(seconds) if seconds else current.window_seconds  # type: ignore[union-attr]
                default_scope = current.scope if current else _scope_from_name(name)
                limits[name] = RateLimit(count, window, scope or default_scope)  # type: ignore[arg-type]
        except ValueError:
            raise ConfigError(f"{variable}={raw!r}: the window must be positive") from None
    return limits


def _seconds(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value
