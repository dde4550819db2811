"""Rate limits, the Gemini quota, and concurrency caps, kept in Redis and timed by its clock.

Limits are data (`LIMITS`), named as the seed named them; each can be changed, and new ones
added, with `RATE_LIMIT_<NAME>=N/SECONDS` (see `limits_from_settings`). A window limit is an
exact sliding log: one sorted set per key, `rate_limit:<limit name>:<subject>`, holding one
member per admission scored by the Redis server's `TIME` in microseconds and trimmed as members
age out. The subject is a user id, a client IP, or `global`; deleting the key resets the limit::

    redis-cli DEL "rate_limit:resume_tailoring_per_user_per_day:123"

Every check of several limits is ONE Lua script over all their keys: either every limit has
room and each one records the admission, or none records it. The keys of one check belong to
different subjects, so they do not share a Redis Cluster hash slot: the limiter needs a
single-shard Redis (standalone, replicated or Sentinel). Hash-tagging the keys would make
Cluster work but would break the documented key names; since all limiter keys together are
small and hot, one shard is where Cluster would put them anyway.

When Redis cannot be reached, user, IP and endpoint limits fall back to per-process in-memory
windows and the request is served; Redis is re-probed with exponential backoff. The Gemini
quota fails closed: no reservation is granted while Redis is down, so it is never overspent.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import redis
from flask import Flask, current_app, g, request

from server.agent.engines.gemini_errors import gemini_pause_for
from server.config import ConfigError, Settings
from server.errors import NotFound, ServiceUnavailable, TooManyRequests

log = logging.getLogger("server.rate_limiter")

Scope = Literal["user", "ip", "global"]
SCOPES: tuple[str, ...] = ("user", "ip", "global")
KEY_PREFIX = "rate_limit"
GLOBAL_SUBJECT = "global"
EXTENSION_KEY = "rate_limiter"


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
API_PER_USER = "api_requests_per_user_per_minute"
API_PER_IP = "api_requests_per_ip_per_minute"
API_READS_PER_USER = "api_reads_per_user_per_minute"
API_GLOBAL = "api_requests_global_per_minute"

LIMITS: dict[str, RateLimit | ConcurrencyCap] = {
    GEMINI_MINUTE: RateLimit(8, 60, "global"),
    GEMINI_DAY: RateLimit(1000, 86400, "global"),
    "resume_tailoring_per_user_per_day": RateLimit(5, 86400, "user"),
    "job_applications_per_user_per_day": RateLimit(20, 86400, "user"),
    # Writes and costly work. Cheap reads of the user's own objects (views marked
    # `@cheap_read`: a job's status, the job list, an event stream...) count against
    # API_READS_PER_USER instead, so a client polling its job does not lock itself out.
    API_PER_USER: RateLimit(30, 60, "user"),
    API_READS_PER_USER: RateLimit(300, 60, "user"),
    # Load shedding: past this many /api requests a minute, all processes together answer 503.
    # 2,000 a second: about what one 2-core web host serves of authenticated reads (the hot-path
    # benchmark); size it for a deployment as README's "Rate limits" section says.
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
}

# Paths under /api that only the per-address limit applies to (the API description and its
# docs page).
EXEMPT_PATH_PREFIXES = ("/api/openapi.json", "/api/docs")

_OVERRIDE_PREFIX = "RATE_LIMIT_"
_NUMBER = r"\d+(?:\.\d+)?"
_OVERRIDE = re.compile(rf"^\s*(\d+)\s*(?:/\s*({_NUMBER})\s*(?:/\s*(user|ip|global)\s*)?)?$")


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
        if not variable.startswith(_OVERRIDE_PREFIX):
            raise ConfigError(f"{variable}: rate limit overrides must start with RATE_LIMIT_")
        name = variable[len(_OVERRIDE_PREFIX) :].lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == GEMINI_PAUSE:
            raise ConfigError(f"{variable}: not a usable limit name")
        match = _OVERRIDE.match(str(raw))
        if not match:
            raise ConfigError(
                f"{variable}={raw!r}: expected N/SECONDS (e.g. {variable}=10/86400), N a whole "
                "number of requests and SECONDS the window length"
            )
        count, seconds, scope = int(match[1]), match[2], match[3]
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


# --- Lua -----------------------------------------------------------------------------------

# KEYS[1..n]: window keys; KEYS[n+1..]: pause keys (a live one refuses everything).
# ARGV: member suffix, then limit_i and window_i (us) of each window key: separate numbers,
# so the script does no parsing. Scores are whole microseconds of the Redis clock.
# Returns one string (cheaper to build, send and parse than an array), times in us:
# "member paused count_1 time_1 ... count_n time_n", member "-" when refused. Count is after
# the admission when admitted. Time, when admitted: 0 while the limit has room left (its reset
# is then a whole window, which the caller knows), else when its next slot frees; when
# refused: until this limit can admit one more (0 if it has room).
# Effects replication (the default since Redis 5) lets writes follow `TIME`.
HIT_FUNCTION = """
local function hit(keys, argv)
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n = (#argv - 1) / 2
local paused = 0
for j = n + 1, #keys do
  local ttl = redis.call('PTTL', keys[j])
  if ttl > 0 and ttl * 1000 > paused then paused = ttl * 1000 end
end
local out = {'-', '0'}
if paused > 0 then out[2] = string.format('%d', paused) end
local allowed = paused == 0
local counts = {}
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', keys[i], '-inf', now - argv[1 + 2 * i])
  local count = redis.call('ZCARD', keys[i])
  counts[i] = count
  if count >= tonumber(argv[2 * i]) then allowed = false end
end
local member
if allowed then
  member = t[1] .. '.' .. t[2] .. '-' .. argv[1]
  out[1] = member
end
for i = 1, n do
  local key, limit, window = keys[i], tonumber(argv[2 * i]), tonumber(argv[1 + 2 * i])
  local count, wait = counts[i], '0'
  if allowed then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window / 1000))
    count = count + 1
    if count == limit then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      wait = string.format('%d', oldest[2] + window - now)
    end
  elseif count >= limit then
    -- Trimmed to the window, so the (count - limit)-th oldest is the one whose ageing out
    -- leaves room for one more.
    local retry = window
    if limit > 0 then
      local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      retry = e[2] + window - now
    end
    wait = string.format('%d', retry)
  end
  out[2 * i + 1] = count
  out[2 * i + 2] = wait
end
return table.concat(out, ' ')
end
"""
# The request gate's script (`server.request_gate`) calls `hit` too.
_HIT_SCRIPT = HIT_FUNCTION + "return hit(KEYS, ARGV)\n"

# Read-only usage of window keys: KEYS as above; ARGV: n, then the window (us) per key.
# Returns: server time (us), pause left (us), then per key: count, reset (us).
_PEEK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local paused = 0
for j = n + 1, #KEYS do
  local ttl = redis.call('PTTL', KEYS[j])
  if ttl > 0 and ttl * 1000 > paused then paused = ttl * 1000 end
end
local out = {now, paused}
for i = 1, n do
  local window = tonumber(ARGV[1 + i])
  local since = '(' .. string.format('%d', now - window)
  local count = redis.call('ZCOUNT', KEYS[i], since, '+inf')
  local reset = 0
  if count > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[i], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    reset = tonumber(oldest[2]) + window - now
  end
  out[#out + 1] = count
  out[#out + 1] = reset
end
return out
"""

# Concurrency cap. KEYS[1]: holders (score = lease expiry, us). ARGV: mode, holder, limit,
# lease (us). Modes: 'acquire' (or renew if held), 'renew' (only if held), 'count'.
# Returns: granted (0/1), holders now, retry (us until the earliest lease ends when refused).
_CAP_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key, mode, holder = KEYS[1], ARGV[1], ARGV[2]
local limit, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local count = redis.call('ZCARD', key)
if mode == 'count' then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local reset = 0
  if first[2] then reset = tonumber(first[2]) - now end
  return {0, count, reset}
end
local held = redis.call('ZSCORE', key, holder)
if held or (mode == 'acquire' and count < limit) then
  redis.call('ZADD', key, now + lease, holder)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, math.ceil((tonumber(last[2]) - now) / 1000))
  return {1, redis.call('ZCARD', key), 0}
end
local retry = 0
if mode == 'acquire' then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  -- No holder at all means a cap of 0: nothing frees, so look again after one lease.
  if first[2] then retry = tonumber(first[2]) - now else retry = lease end
end
return {0, count, retry}
"""

# Pause every Gemini call: KEYS[1] pause key; ARGV: milliseconds, reason. Never shortens.
_PAUSE_SCRIPT = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
  return ms
end
return redis.call('PTTL', KEYS[1])
"""


# --- Results -------------------------------------------------------------------------------


# The two results of every check are named tuples: immutable like a frozen dataclass, at a
# third of its construction cost, which every limited request pays.


class LimitState(NamedTuple):
    """One limit's state after a check."""

    name: str
    limit: int
    window_seconds: float
    scope: str
    remaining: int
    # With requests left: until the quota is whole again (a full window after this admission).
    # With none left: until the next slot frees. When a check is refused, measured for the
    # limits that refused only (0 for the others): that is all the response headers use.
    reset_seconds: float
    retry_after: float  # 0 unless this limit refused: until it can admit one more

    @property
    def refused(self) -> bool:
        return self.retry_after > 0


class Decision(NamedTuple):
    """The outcome of one all-or-nothing check of several limits."""

    allowed: bool
    states: tuple[LimitState, ...]
    paused_seconds: float = 0.0
    token: str | None = None  # the admission's member, to refund it
    degraded: bool = False  # decided by this process's in-memory fallback

    @property
    def retry_after(self) -> float:
        """Seconds until every refusing limit has room again (0 when allowed)."""
        if self.allowed:
            return 0.0
        return max([self.paused_seconds, *(s.retry_after for s in self.states)], default=0.0)

    @property
    def refused_by(self) -> tuple[LimitState, ...]:
        return tuple(s for s in self.states if s.refused)

    @property
    def most_constraining(self) -> LimitState | None:
        """The limit with the fewest requests left (the longest wait on a tie)."""
        if not self.states:
            return None
        return min(self.states, key=lambda s: (s.remaining, -s.reset_seconds))


@dataclass(frozen=True)
class Reservation:
    """A Gemini call slot: granted, or how long until one frees."""

    granted: bool
    retry_after: float
    token: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Lease:
    """The outcome of acquiring or renewing a concurrency slot."""

    acquired: bool
    holders: int
    retry_after: float = 0.0


# --- Redis health and metrics --------------------------------------------------------------

# Per-process metrics; the monitoring module exports them.
METRICS: dict[str, float] = {
    "rate_limiter_degraded": 0,
    "rate_limiter_redis_errors_total": 0,
    "rate_limiter_fallback_checks_total": 0,
    "rate_limiter_rejections_total": 0,
    "rate_limiter_load_shed_total": 0,
    "gemini_reservations_granted_total": 0,
    "gemini_reservations_refused_total": 0,
}
_metrics_lock = threading.Lock()


def _count(metric: str, amount: float = 1) -> None:
    with _metrics_lock:
        METRICS[metric] = METRICS.get(metric, 0) + amount


class RedisUnavailable(Exception):
    """Redis is not usable right now (down, or not due for a re-probe yet)."""


class RedisHealth:
    """Tracks whether Redis answers; after a failure, skips it until the next probe time."""

    def __init__(self, initial_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._degraded = False
        self._backoff = initial_backoff
        self._next_probe = 0.0

    @property
    def degraded(self) -> bool:
        return self._degraded

    def seconds_to_probe(self) -> float:
        return max(0.0, self._next_probe - time.monotonic())

    def should_try(self) -> bool:
        """True when Redis is healthy, or when this caller takes the due re-probe."""
        if not self._degraded:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + self._backoff  # other threads wait for this probe
            return True

    def failed(self, exc: BaseException) -> None:
        _count("rate_limiter_redis_errors_total")
        with self._lock:
            if self._degraded:
                self._backoff = min(self._backoff * 2, self.max_backoff)
            else:
                self._degraded = True
                self._backoff = self.initial_backoff
                log.warning(
                    "rate limiter degraded: Redis unavailable, using per-process limits; "
                    "Gemini calls are held until it returns",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            self._next_probe = time.monotonic() + self._backoff
            METRICS["rate_limiter_degraded"] = 1

    def succeeded(self) -> None:
        if not self._degraded:
            METRICS["rate_limiter_degraded"] = 0  # the latest observation in this process
            return
        with self._lock:
            if self._degraded:
                self._degraded = False
                self._backoff = self.initial_backoff
                METRICS["rate_limiter_degraded"] = 0
                log.warning("rate limiter recovered: Redis answers again")


# --- In-memory fallback --------------------------------------------------------------------


class MemoryWindows:
    """Per-process sliding logs and leases, used only while Redis is unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def hit(self, checks: Sequence[tuple[str, str, RateLimit]]) -> Decision:
        with self._lock:
            now = time.monotonic()
            logs = []
            for _name, key, rule in checks:
                entries = self._logs.setdefault(key, deque())
                while entries and entries[0] <= now - rule.window_seconds:
                    entries.popleft()
                logs.append(entries)
            allowed = all(len(e) < r.limit for e, (_, _, r) in zip(logs, checks, strict=True))
            states = []
            for entries, (name, _key, rule) in zip(logs, checks, strict=True):
                retry = 0.0
                if allowed:
                    entries.append(now)
                elif len(entries) >= rule.limit:
                    index = len(entries) - rule.limit
                    retry = (
                        rule.window_seconds
                        if rule.limit == 0
                        else entries[index] + rule.window_seconds - now
                    )
                count = len(entries)
                if count < rule.limit:
                    reset = rule.window_seconds if allowed else 0.0
                elif rule.limit == 0:
                    reset = rule.window_seconds
                else:
                    reset = entries[count - rule.limit] + rule.window_seconds - now
                states.append(_state(name, rule, count, reset, max(retry, 0.0)))
            if len(self._logs) > 10_000:
                self._logs = {k: v for k, v in self._logs.items() if v}
        return Decision(allowed, tuple(states), degraded=True)

    def acquire(self, key: str, holder: str, cap: ConcurrencyCap, renew_only: bool) -> Lease:
        with self._lock:
            now = time.monotonic()
            holders = {h: exp for h, exp in self._leases.get(key, {}).items() if exp > now}
            self._leases[key] = holders
            if holder in holders or (not renew_only and len(holders) < cap.limit):
                holders[holder] = now + cap.lease_seconds
                return Lease(True, len(holders))
            retry = min(holders.values()) - now if holders and not renew_only else 0.0
            return Lease(False, len(holders), retry)

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            self._leases.get(key, {}).pop(holder, None)

    def reset(self, key: str) -> None:
        with self._lock:
            self._logs.pop(key, None)
            self._leases.pop(key, None)


def _state(name: str, rule: RateLimit, count: int, reset: float, retry: float) -> LimitState:
    return LimitState(
        name=name,
        limit=rule.limit,
        window_seconds=rule.window_seconds,
        scope=rule.scope,
        remaining=max(0, rule.limit - count),
        reset_seconds=retry if retry > 0 else max(reset, 0.0),
        retry_after=retry,
    )


# --- The service ---------------------------------------------------------------------------


class _Plan(NamedTuple):
    """The distinct limits of one check, and what the hit script needs about them."""

    limits: tuple[tuple[str, str, RateLimit], ...]  # name, key without the subject, rule
    args: tuple[bytes, ...]  # limit and window (us) of each, encoded once for redis-py


_GEMINI_PAUSE_KEY = key_for(GEMINI_PAUSE, GLOBAL_SUBJECT)
# A refused Gemini reservation while Redis is down asks to come back within this range.
_DEGRADED_GEMINI_RETRY = (1.0, 5.0)
# The limiter's own connection: short timeouts and one immediate retry, so a dead Redis costs
# a request milliseconds, never the client library's multi-second retry schedule.
LIMITER_SOCKET_TIMEOUT = 0.5


def build_limiter_redis(settings: Settings, fallback: Callable[[], redis.Redis]) -> redis.Redis:
    """A Redis client tuned for the limiter, or `fallback()` for the embedded server."""
    if not settings.redis_url:
        return fallback()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=LIMITER_SOCKET_TIMEOUT,
        socket_timeout=LIMITER_SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
    )


class RateLimiter:
    """Checks limits, reserves the Gemini quota and hands out concurrency slots."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit | ConcurrencyCap],
        redis_factory: Callable[[], redis.Redis],
        *,
        enabled: bool = True,
        health: RedisHealth | None = None,
    ) -> None:
        self.limits = dict(limits)
        self.enabled = enabled
        self.health = health or RedisHealth()
        self.memory = MemoryWindows()
        self._redis_factory = redis_factory
        self._client: redis.Redis | None = None
        self._client_lock = threading.Lock()
        self._pid: int | None = None
        self._shas: dict[str, str] = {}
        self._local = threading.local()
        self._member_prefix = f"{os.getpid()}.{random.getrandbits(32):08x}"  # noqa: S311
        self._members = itertools.count()
        self._plans: dict[tuple[str, ...], _Plan] = {}
        for name in (GEMINI_MINUTE, GEMINI_DAY):
            if not isinstance(self.limits.get(name), RateLimit):
                raise ConfigError(f"{name} must be a window limit")
        self._gemini_plan = self._plan((GEMINI_MINUTE, GEMINI_DAY))

    # Redis plumbing

    @property
    def redis(self) -> redis.Redis:
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            # One client per process: threads that arrive together must not each build one,
            # or the replaced clients close, on collection, connections still in use.
            with self._client_lock:
                if self._client is None or self._pid != pid:
                    self._client = self._redis_factory()
                    self._shas = {}
                    self._member_prefix = f"{pid}.{random.getrandbits(32):08x}"  # noqa: S311
                    self._pid = pid
        return self._client

    def _connection(self) -> Any:
        """This thread's own connection for the limiter's scripts.

        In redis-py, checking a connection out of the pool and back costs about as much as
        the script itself; the limiter runs on every request, so each thread keeps one.
        """
        pool = self.redis.connection_pool  # a new process gets a new client, hence a new pool
        local = self._local
        if getattr(local, "pool", None) is not pool:
            # Checked out for good; the pool still knows it, so closing the pool closes it.
            local.conn = pool.get_connection()
            local.pool = pool
        return local.conn

    def _call(self, *command: Any) -> Any:
        """Send one command on this thread's connection; reconnect once if it went stale."""
        conn = self._connection()
        for attempt in (1, 2):
            try:
                conn.send_command(*command)
                return conn.read_response()
            except redis.ConnectionError:
                conn.disconnect()
                if attempt == 2:
                    raise
            except redis.TimeoutError:
                conn.disconnect()  # a slow Redis is not retried: the request must not wait twice
                raise
        raise AssertionError("unreachable")

    def _eval(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA, loading the script once per process (and again after a flush)."""
        sha = self._shas.get(script)
        if sha is not None:
            try:
                return self._call("EVALSHA", sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                pass
        self._shas[script] = sha = self._call("SCRIPT", "LOAD", script)
        return self._call("EVALSHA", sha, len(keys), *keys, *args)

    def _with_redis(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run `action(*args)` against Redis, or raise `RedisUnavailable` (recording the failure)."""
        if not self.health.should_try():
            raise RedisUnavailable
        try:
            result = action(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Only an unreachable Redis is an outage; a script error is a bug and stays loud.
            self.health.failed(exc)
            raise RedisUnavailable from exc
        self.health.succeeded()
        return result

    def run_script(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a Lua script on this thread's limiter connection (RedisUnavailable if down)."""
        return self._with_redis(self._eval, script, keys, args)

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and limits are per process."""
        return self.health.degraded

    # Window limits

    def rule(self, name: str) -> RateLimit:
        """The window limit called `name` (KeyError when there is none)."""
        rule = self.limits.get(name)
        if not isinstance(rule, RateLimit):
            raise KeyError(name)
        return rule

    def subject_for(self, rule: RateLimit | ConcurrencyCap, subject: str | Mapping[str, str]):
        """The subject a limit of this scope is counted against."""
        if rule.scope == "global":
            return GLOBAL_SUBJECT
        if isinstance(subject, str):
            return subject
        return subject.get(rule.scope) or subject["ip"]

    def hit(self, names: Iterable[str], subject: str | Mapping[str, str]) -> Decision:
        """Admit one request against every named limit, all or nothing.

        `subject` is a user id or IP (a mapping of scope to subject when they differ); global
        limits always count against `global`.
        """
        plan = self.plan_for(names)
        if not plan.limits:
            return Decision(True, ())
        keys = self.keys_for(plan, subject)
        try:
            decision = self._with_redis(self._hit_redis, plan, keys)
        except RedisUnavailable:
            decision = self.hit_in_memory(plan, keys)
        self.note(decision)
        return decision

    def hit_in_memory(self, plan: _Plan, keys: Sequence[str]) -> Decision:
        """The per-process fallback's decision, while Redis is unreachable."""
        _count("rate_limiter_fallback_checks_total")
        limits = zip(plan.limits, keys, strict=True)
        return self.memory.hit([(name, key, rule) for (name, _prefix, rule), key in limits])

    @staticmethod
    def note(decision: Decision) -> None:
        """Count a refusal in the limiter's metrics."""
        if not decision.allowed:
            _count("rate_limiter_rejections_total")

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        """The distinct limits of a check and the script's arguments for them."""
        limits, args = [], []
        for name in dict.fromkeys(names):
            rule = self.rule(name)
            limits.append((name, f"{KEY_PREFIX}:{name}:", rule))
            args += (b"%d" % rule.limit, b"%d" % rule.window_us)
        return _Plan(tuple(limits), tuple(args))

    def run_hit(self, plan: _Plan, keys: Sequence[str]) -> Decision:
        """The hit script's decision (RedisUnavailable while Redis is down)."""
        return self._with_redis(self._hit_redis, plan, keys)

    def _hit_redis(self, plan: _Plan, keys: Sequence[str]) -> Decision:
        """Run the hit script: `keys` are the plan's window keys, then any pause keys."""
        reply = self._eval(_HIT_SCRIPT, keys, (self.new_member(), *plan.args)).split(" ")
        return self.decision_from_reply(plan, reply)

    def new_member(self) -> str:
        """A member suffix for the hit script, unique to this admission."""
        return f"{self._member_prefix}.{next(self._members)}"

    def plan_for(self, names: Iterable[str]) -> _Plan:
        """The (cached) plan of a check of these limits."""
        names = tuple(names)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = self._plan(names)
        return plan

    def keys_for(self, plan: _Plan, subject: str | Mapping[str, str]) -> list[str]:
        """The window keys of a plan for this subject."""
        return [prefix + self.subject_for(rule, subject) for _name, prefix, rule in plan.limits]

    def decision_from_reply(self, plan: _Plan, reply: Sequence[str]) -> Decision:
        """The decision the hit script's reply (split on spaces) says."""
        allowed = reply[0] != "-"
        states = []
        for i, (name, _prefix, rule) in enumerate(plan.limits):
            count, wait = int(reply[2 + 2 * i]), int(reply[3 + 2 * i]) / 1e6
            if allowed:  # wait is 0 while there is room: the quota is whole a window from now
                reset, retry = wait or rule.window_seconds, 0.0
            else:
                reset = retry = wait
            remaining = rule.limit - count if count < rule.limit else 0
            states.append(
                LimitState(
                    name, rule.limit, rule.window_seconds, rule.scope, remaining, reset, retry
                )
            )
        token = reply[0] if allowed else None
        return Decision(allowed, tuple(states), int(reply[1]) / 1e6, token)

    def usage(self, subject: str, scope: str | None = None) -> list[dict[str, Any]]:
        """How much `subject` has used of every limit and cap (of one scope when given).

        Global limits count `global` whatever the subject.
        """
        chosen = [(n, r) for n, r in self.limits.items() if scope is None or r.scope == scope]
        windows = [(n, r) for n, r in chosen if isinstance(r, RateLimit)]
        caps = [(n, c) for n, c in chosen if isinstance(c, ConcurrencyCap)]
        keys = [key_for(n, self.subject_for(r, subject)) for n, r in windows]

        def read():
            reply = self._eval(_PEEK_SCRIPT, keys, [len(keys), *(r.window_us for _, r in windows)])
            cap_replies = [
                self._eval(
                    _CAP_SCRIPT, [key_for(n, self.subject_for(c, subject))], ["count", "", 0, 0]
                )
                for n, c in caps
            ]
            return reply, cap_replies

        try:
            reply, cap_replies = self._with_redis(read)
        except RedisUnavailable:
            raise ServiceUnavailable("The rate-limit store (Redis) is unavailable") from None
        rows: list[dict[str, Any]] = []
        for i, (name, rule) in enumerate(windows):
            count, reset = int(reply[2 + 2 * i]), reply[3 + 2 * i] / 1e6
            rows.append(
                _usage_row(name, "window", rule, keys[i], count, reset, rule.window_seconds)
            )
        for (name, cap), (_granted, holders, reset) in zip(caps, cap_replies, strict=True):
            key = key_for(name, self.subject_for(cap, subject))
            rows.append(_usage_row(name, "concurrency", cap, key, int(holders), reset / 1e6, None))
        return rows

    def reset(self, name: str, subject: str) -> dict[str, Any]:
        """Forget every admission (or holder) of one limit for one subject."""
        rule = self.limits.get(name)
        if rule is None:
            raise NotFound(
                f"No limit called {name!r}",
                resource="rate_limit",
                details={"known_limits": sorted(self.limits)},
            )
        key = key_for(name, self.subject_for(rule, subject))
        self.memory.reset(key)
        try:
            deleted = self._with_redis(lambda: self.redis.delete(key))
        except RedisUnavailable:
            raise ServiceUnavailable("The rate-limit store (Redis) is unavailable") from None
        log.info("rate limit reset", extra={"limit": name, "key": key})
        return {"limit": name, "subject": subject, "key": key, "deleted": bool(deleted)}

    # Gemini quota

    def reserve_gemini_call(self) -> Reservation:
        """Take one slot of both Gemini windows atomically, or say how long until one frees.

        Fails closed: while Redis is unreachable, or a pause is set, nothing is granted.
        """
        plan = self._gemini_plan
        keys = [prefix + GLOBAL_SUBJECT for _name, prefix, _rule in plan.limits]
        try:
            decision = self._with_redis(self._hit_redis, plan, [*keys, _GEMINI_PAUSE_KEY])
        except RedisUnavailable:
            _count("gemini_reservations_refused_total")
            low, high = _DEGRADED_GEMINI_RETRY
            retry = min(high, max(low, self.health.seconds_to_probe()))
            return Reservation(False, retry, None, "rate-limit store unavailable")
        if decision.allowed:
            _count("gemini_reservations_granted_total")
            return Reservation(True, 0.0, decision.token)
        _count("gemini_reservations_refused_total")
        if decision.paused_seconds > 0:
            reason = "Gemini calls are paused"
        else:
            reason = ", ".join(s.name for s in decision.refused_by) + " reached"
        return Reservation(False, decision.retry_after, None, reason)

    def release_gemini_call(self, reservation: Reservation) -> bool:
        """Refund a granted reservation whose call was never made."""
        if not reservation.granted or not reservation.token:
            return False

        def refund():
            pipe = self.redis.pipeline(transaction=True)
            for name in (GEMINI_MINUTE, GEMINI_DAY):
                pipe.zrem(key_for(name, GLOBAL_SUBJECT), reservation.token)
            return pipe.execute()

        try:
            removed = self._with_redis(refund)
        except RedisUnavailable:
            log.warning("could not refund a Gemini reservation: Redis unavailable")
            return False
        return any(removed)

    def pause_gemini(self, seconds: float, reason: str) -> float:
        """Hold every Gemini call, in every process, for `seconds` (never shortens a pause)."""
        ms = max(1, math.ceil(seconds * 1000))
        try:
            left = self._with_redis(
                lambda: self._eval(_PAUSE_SCRIPT, [_GEMINI_PAUSE_KEY], [ms, reason])
            )
        except RedisUnavailable:
            # Gemini is held anyway while Redis is down.
            log.warning("could not record a Gemini pause: Redis unavailable")
            return seconds
        log.warning("Gemini calls paused", extra={"seconds": round(seconds, 3), "reason": reason})
        return int(left) / 1000

    def record_gemini_error(self, error: Any) -> float | None:
        """Pause Gemini after a quota error (429); returns the pause in seconds, or None."""
        try:
            now = self._with_redis(lambda: self.redis.time())
            now_epoch = now[0] + now[1] / 1e6
        except RedisUnavailable:
            now_epoch = time.time()
        pause = gemini_pause_for(error, now_epoch=now_epoch)
        if pause is None:
            return None
        return self.pause_gemini(*pause)

    def gemini_quota_status(self) -> dict[str, Any]:
        """Used, limit and remaining of both Gemini windows, and any pause, for system status."""
        names = (GEMINI_MINUTE, GEMINI_DAY)
        rules = [self.rule(n) for n in names]
        keys = [key_for(n, GLOBAL_SUBJECT) for n in names]

        def read():
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(_GEMINI_PAUSE_KEY)
            reason = pipe.execute()[0]
            reply = self._eval(
                _PEEK_SCRIPT, [*keys, _GEMINI_PAUSE_KEY], [2, *(r.window_us for r in rules)]
            )
            return reply, reason

        status: dict[str, Any] = {"degraded": False, "paused_until": None, "pause_reason": None}
        try:
            reply, reason = self._with_redis(read)
        except RedisUnavailable:
            status["degraded"] = True
            for name, rule in zip(names, rules, strict=True):
                status[name] = {
                    "used": None,
                    "limit": rule.limit,
                    "remaining": 0,
                    "window_seconds": rule.window_seconds,
                }
            return status
        now_us, paused_us = int(reply[0]), int(reply[1])
        for i, (name, rule) in enumerate(zip(names, rules, strict=True)):
            used = int(reply[2 + 2 * i])
            status[name] = {
                "used": used,
                "limit": rule.limit,
                "remaining": max(0, rule.limit - used),
                "window_seconds": rule.window_seconds,
                "reset_seconds": round(reply[3 + 2 * i] / 1e6, 3),
            }
        if paused_us > 0:
            until = datetime.fromtimestamp((now_us + paused_us) / 1e6, UTC)
            status["paused_until"] = until.isoformat().replace("+00:00", "Z")
            status["pause_seconds"] = round(paused_us / 1e6, 3)
            status["pause_reason"] = reason
        return status

    # Concurrency caps

    def cap(self, name: str) -> ConcurrencyCap:
        """The concurrency cap called `name` (KeyError when there is none)."""
        cap = self.limits.get(name)
        if not isinstance(cap, ConcurrencyCap):
            raise KeyError(name)
        return cap

    def acquire(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
        """Take (or keep) a slot of a cap for `holder_id`, leased for the cap's lease time."""
        return self._lease(cap_name, holder_id, subject, "acquire")

    def renew(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
        """Extend a held slot's lease; not acquired when the lease was already lost."""
        return self._lease(cap_name, holder_id, subject, "renew")

    def release(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> None:
        """Give a slot back."""
        cap = self.cap(cap_name)
        key = key_for(cap_name, self.subject_for(cap, subject))
        self.memory.release(key, holder_id)
        try:
            self._with_redis(lambda: self.redis.zrem(key, holder_id))
        except RedisUnavailable:
            pass  # the lease expires on its own

    def _lease(self, cap_name: str, holder_id: str, subject: str, mode: str) -> Lease:
        cap = self.cap(cap_name)
        key = key_for(cap_name, self.subject_for(cap, subject))
        lease_us = int(cap.lease_seconds * 1_000_000)
        try:
            granted, holders, retry = self._with_redis(
                lambda: self._eval(_CAP_SCRIPT, [key], [mode, holder_id, cap.limit, lease_us])
            )
        except RedisUnavailable:
            return self.memory.acquire(key, holder_id, cap, renew_only=(mode == "renew"))
        return Lease(bool(granted), int(holders), retry / 1e6)


def _usage_row(name, kind, rule, key, used, reset, window) -> dict[str, Any]:
    return {
        "limit": name,
        "kind": kind,
        "scope": rule.scope,
        "key": key,
        "limit_value": rule.limit,
        "window_seconds": window,
        "used": used,
        "remaining": max(0, rule.limit - used),
        "reset_seconds": round(max(reset, 0.0), 3),
    }


# --- Flask wiring --------------------------------------------------------------------------


def rate_limit(*names: str) -> Callable[[Callable], Callable]:
    """Check the named limits (all or nothing, with the request's other limits) on a view.

    The subject is the authenticated user, else the client IP. Stacking adds names.
    """
    for name in names:
        if not isinstance(LIMITS.get(name), RateLimit):
            raise ValueError(f"@rate_limit: no window limit called {name!r}")

    def decorate(view: Callable) -> Callable:
        existing = getattr(view, "_rate_limits", ())
        view._rate_limits = tuple(dict.fromkeys((*names, *existing)))  # type: ignore[attr-defined]
        return view

    return decorate


def cheap_read(view: Callable) -> Callable:
    """Count a view against `api_reads_per_user_per_minute` instead of
    `api_requests_per_user_per_minute`: for cheap reads of the caller's own objects."""
    view._per_user_limit = API_READS_PER_USER  # type: ignore[attr-defined]
    return view


def get_rate_limiter(app: Flask | None = None) -> RateLimiter:
    """The limiter of this app (the current app by default)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions[EXTENSION_KEY]


def init_app(app: Flask) -> None:
    """Build the limiter from settings and install the per-request check and headers.

    Call after `auth.init_app`, so the check runs once the user is known.
    """
    from server.redis_client import get_redis

    settings: Settings = app.config["SETTINGS"]
    limiter = RateLimiter(
        limits_from_settings(settings),
        functools.partial(build_limiter_redis, settings, functools.partial(get_redis, app)),
        enabled=settings.rate_limit_enabled,
    )
    app.extensions[EXTENSION_KEY] = limiter
    if not limiter.enabled:
        return

    from server.request_hooks import client_subject
    from server.routes.health import PROBE_ENDPOINTS

    @app.after_request
    def _rate_limit_headers(response):
        decision = g.get("rate_limit_decision")
        if decision is None and request.endpoint not in PROBE_ENDPOINTS:
            # Turned away before the request gate counted it (the gate counts the requests it
            # refuses itself): it still counts against its address.
            if not g.get("ip_blocked") and not g.get("rate_limit_counted"):
                limiter.hit(_ADDRESS_ONLY, {"ip": client_subject()})
        elif decision is not None:
            response.headers.update(rate_limit_headers(decision))
        return response


_ADDRESS_ONLY = (API_PER_IP,)


def limits_of_request(app: Flask, *, authenticated: bool) -> tuple[str, ...]:
    """The limits of this request: its address's, then the /api budget and the view's own."""
    if request.method == "OPTIONS":
        return _ADDRESS_ONLY
    path = request.path
    names = [API_PER_IP]
    view = app.view_functions.get(request.endpoint) if request.endpoint else None
    if (path == "/api" or path.startswith("/api/")) and not path.startswith(EXEMPT_PATH_PREFIXES):
        names.append(API_GLOBAL)
        if authenticated:
            names.append(getattr(view, "_per_user_limit", API_PER_USER))
    names.extend(getattr(view, "_rate_limits", ()))
    return tuple(names)


def _retry_after_header(seconds: float) -> str:
    """Whole seconds, never before the real free time, with up to a second of jitter."""
    return str(math.ceil(seconds + random.random()))  # noqa: S311 - jitter, not a secret


def refusal(decision: Decision, *, anonymous: bool) -> Exception:
    """The 429 (or 503 when only the global budget refused) for a refused decision."""
    refused = [s for s in decision.refused_by if s.scope != "global"]
    retry = decision.retry_after
    headers = {"Retry-After": _retry_after_header(retry)}
    if not refused:
        _count("rate_limiter_load_shed_total")
        return ServiceUnavailable(
            "The service is overloaded; try again shortly",
            code="overloaded",
            details={"retry_after": round(retry, 3)},
            headers=headers,
        )
    worst = max(refused, key=lambda s: s.retry_after)
    # An anonymous client's per-user limits count its address (see `subject_for`).
    per_address = any(s.scope == "ip" or anonymous for s in refused)
    return TooManyRequests(
        f"Rate limit {worst.name} exceeded: {worst.limit} per {_window_text(worst)}; "
        f"retry in {math.ceil(retry)} s",
        details={
            "limit": worst.name,
            "limit_value": worst.limit,
            "window_seconds": worst.window_seconds,
            "retry_after": math.ceil(retry * 1000) / 1000,
        },
        headers=headers,
        per_address=per_address,
    )


def _window_text(state: LimitState) -> str:
    seconds = state.window_seconds
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds == size:
            return unit
    return f"{seconds:g} s"


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """IETF draft `RateLimit-Policy`/`RateLimit` and `X-RateLimit-*` (delta seconds)."""
    top = decision.most_constraining
    if top is None:
        return {}
    policy = ", ".join(
        f'"{s.name}";q={s.limit};w={_number(s.window_seconds)}' for s in decision.states
    )
    reset = math.ceil(top.reset_seconds)
    return {
        "RateLimit-Policy": policy,
        "RateLimit": f'"{top.name}";r={top.remaining};t={reset}',
        "X-RateLimit-Limit": str(top.limit),
        "X-RateLimit-Remaining": str(top.remaining),
        "X-RateLimit-Reset": str(reset),
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# Module-level shortcuts on the current app's limiter, for services, handlers and workers.


def reserve_gemini_call() -> Reservation:
    """Take one Gemini call slot (both windows), or learn how long until one frees."""
    return get_rate_limiter().reserve_gemini_call()


def release_gemini_call(reservation: Reservation) -> bool:
    """Refund a reservation whose Gemini call was never made."""
    return get_rate_limiter().release_gemini_call(reservation)


def pause_gemini(seconds: float, reason: str) -> float:
    """Hold every Gemini call for `seconds`."""
    return get_rate_limiter().pause_gemini(seconds, reason)


def record_gemini_error(error: Any) -> float | None:
    """Pause Gemini as a quota error asks; None when it is not a quota error."""
    return get_rate_limiter().record_gemini_error(error)


def gemini_quota_status() -> dict[str, Any]:
    """The Gemini quota's use and any pause."""
    return get_rate_limiter().gemini_quota_status()


def acquire(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
    """Take a concurrency slot."""
    return get_rate_limiter().acquire(cap_name, holder_id, subject)


def renew(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
    """Extend a concurrency slot's lease."""
    return get_rate_limiter().renew(cap_name, holder_id, subject)


def release(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> None:
    """Give a concurrency slot back."""
    get_rate_limiter().release(cap_name, holder_id, subject)


def usage(subject: str, scope: str | None = None) -> list[dict[str, Any]]:
    """Every limit's use by `subject` (only the limits of `scope` when given)."""
    return get_rate_limiter().usage(subject, scope)


def reset(*, limit: str, subject: str) -> dict[str, Any]:
    """Reset one limit for one subject."""
    return get_rate_limiter().reset(limit, subject)


def degraded() -> bool:
    """True while the current app's limiter runs on per-process limits (Redis unreachable)."""
    return get_rate_limiter().degraded


__all__ = [
    "LIMITS",
    "ConcurrencyCap",
    "Decision",
    "Lease",
    "RateLimit",
    "RateLimiter",
    "Reservation",
    "acquire",
    "cheap_read",
    "degraded",
    "gemini_quota_status",
    "limits_from_settings",
    "pause_gemini",
    "rate_limit",
    "record_gemini_error",
    "release",
    "release_gemini_call",
    "renew",
    "reserve_gemini_call",
    "reset",
    "usage",
]
