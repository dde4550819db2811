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

One module each: `catalogue` (the limits and their `RATE_LIMIT_<NAME>` overrides), `scripts`
(the Lua), `results`, `fallback` (per-process windows and the Redis health tracker), `limiter`
(the service) and `hooks` (view decorators, headers, refusals and the app's shortcuts).
"""

from __future__ import annotations

from server.rate_limiter.catalogue import (
    API_GLOBAL,
    API_PER_IP,
    API_PER_USER,
    API_READS_PER_USER,
    EXEMPT_PATH_PREFIXES,
    GEMINI_DAY,
    GEMINI_MINUTE,
    GEMINI_PAUSE,
    GEMINI_USER_DAY,
    GLOBAL_SUBJECT,
    JOB_ALLOWANCES,
    KEY_PREFIX,
    LIMITS,
    SCOPES,
    ConcurrencyCap,
    RateLimit,
    key_for,
    limits_from_settings,
)
from server.rate_limiter.fallback import (
    METRICS,
    MemoryWindows,
    RedisHealth,
    RedisUnavailable,
)
from server.rate_limiter.hooks import (
    EXTENSION_KEY,
    acquire,
    cheap_read,
    degraded,
    free_slots,
    gemini_quota_status,
    get_rate_limiter,
    give_back,
    give_back_thread_connection,
    init_app,
    leave_gemini_share,
    limits_for,
    limits_of_request,
    pause_gemini,
    rate_limit,
    rate_limit_headers,
    record_gemini_error,
    refusal,
    release,
    release_gemini_call,
    renew,
    reserve_gemini_call,
    reset,
    settle_gemini_call,
    spend_once,
    usage,
)
from server.rate_limiter.limiter import LIMITER_SOCKET_TIMEOUT, RateLimiter, build_limiter_redis
from server.rate_limiter.results import Decision, GeminiCaller, Lease, LimitState, Reservation
from server.rate_limiter.scripts import HIT_FUNCTION

__all__ = [
    "API_GLOBAL",
    "API_PER_IP",
    "API_PER_USER",
    "API_READS_PER_USER",
    "ConcurrencyCap",
    "Decision",
    "EXEMPT_PATH_PREFIXES",
    "EXTENSION_KEY",
    "GEMINI_DAY",
    "GEMINI_MINUTE",
    "GEMINI_PAUSE",
    "GEMINI_USER_DAY",
    "GeminiCaller",
    "GLOBAL_SUBJECT",
    "HIT_FUNCTION",
    "JOB_ALLOWANCES",
    "KEY_PREFIX",
    "LIMITER_SOCKET_TIMEOUT",
    "LIMITS",
    "Lease",
    "LimitState",
    "METRICS",
    "MemoryWindows",
    "RateLimit",
    "RateLimiter",
    "RedisHealth",
    "RedisUnavailable",
    "Reservation",
    "SCOPES",
    "acquire",
    "build_limiter_redis",
    "cheap_read",
    "degraded",
    "free_slots",
    "gemini_quota_status",
    "get_rate_limiter",
    "give_back",
    "give_back_thread_connection",
    "init_app",
    "leave_gemini_share",
    "key_for",
    "limits_from_settings",
    "limits_for",
    "limits_of_request",
    "pause_gemini",
    "rate_limit",
    "rate_limit_headers",
    "record_gemini_error",
    "refusal",
    "release",
    "release_gemini_call",
    "renew",
    "reserve_gemini_call",
    "reset",
    "settle_gemini_call",
    "spend_once",
    "usage",
]
