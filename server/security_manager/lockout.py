"""Login protection in Redis: failures per account (tiered temporary locks) and per client IP.

Keys (all expire on their own):
- `login_failures:account:<email>`  consecutive failures, reset by a successful login
- `login_lock:account:<email>`      present while the account is locked; TTL = time left
- `login_failures:ip:<ip>`          failures from one address in the IP window (throttle)
- `login_failures:ip_accounts:<ip>` distinct emails tried from one address (spraying signal)

Failures are counted for unknown emails too, so a lock says nothing about whether an account
exists. If Redis is down the checks fail open (logins are served) and a warning is logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from server.config import Settings
from server.outages import outage_log
from server.security_manager.counters import add_in_window, incr_in_window

ACCOUNT_FAILURES = "login_failures:account:"
ACCOUNT_LOCK = "login_lock:account:"
IP_FAILURES = "login_failures:ip:"
IP_ACCOUNTS = "login_failures:ip_accounts:"


@dataclass(frozen=True)
class FailureOutcome:
    account_failures: int = 0
    locked_for_seconds: int = 0
    ip_failures: int = 0
    ip_distinct_accounts: int = 0


def lock_seconds_for(failures: int, settings: Settings) -> int:
    """The lock a number of consecutive failures earns under the configured tiers (0: none)."""
    seconds = 0
    for threshold, duration in settings.login_lockout_tiers:
        if failures >= threshold:
            seconds = duration
    return seconds


def ip_throttle_seconds(conn: redis.Redis, *, ip: str | None, settings: Settings) -> int:
    """Seconds until this address may try again, or 0 when it is not throttled."""
    if not ip:
        return 0
    try:
        key = IP_FAILURES + ip
        failures = int(conn.get(key) or 0)
        if failures < settings.login_ip_threshold:
            return 0
        return max(1, conn.ttl(key))
    except redis.RedisError as exc:
        outage_log("redis").failed("login throttle (failing open)", exc)
        return 0


def account_lock_seconds(conn: redis.Redis, *, email: str) -> int:
    """Seconds left on the account's lock, or 0."""
    try:
        ttl = conn.ttl(ACCOUNT_LOCK + email)
    except redis.RedisError as exc:
        outage_log("redis").failed("account lockout (failing open)", exc)
        return 0
    return max(0, ttl)


def register_failure(
    conn: redis.Redis, *, email: str, ip: str | None, settings: Settings, count_account: bool
) -> FailureOutcome:
    """Count a failed login; lock the account when it reaches a tier."""
    account_failures = ip_failures = distinct = locked_for = 0
    try:
        if count_account:
            account_failures = incr_in_window(
                conn, ACCOUNT_FAILURES + email, settings.login_failure_window_seconds
            )
            locked_for = lock_seconds_for(account_failures, settings)
        if ip:
            ip_failures = incr_in_window(conn, IP_FAILURES + ip, settings.login_ip_window_seconds)
            distinct = add_in_window(
                conn, IP_ACCOUNTS + ip, email, settings.ip_block_failed_accounts_window_seconds
            )
        if locked_for:
            conn.set(ACCOUNT_LOCK + email, account_failures, ex=locked_for)
    except redis.RedisError as exc:
        outage_log("redis").failed("login failure counter (failing open)", exc)
        return FailureOutcome()
    return FailureOutcome(account_failures, locked_for, ip_failures, distinct)


def clear_account(conn: redis.Redis, *, email: str) -> bool:
    """Forget an account's failures and lift its lock; True if it was locked."""
    try:
        return bool(conn.delete(ACCOUNT_LOCK + email)) | bool(conn.delete(ACCOUNT_FAILURES + email))
    except redis.RedisError as exc:
        outage_log("redis").failed("clearing login failures", exc)
        return False


def locked_accounts(conn: redis.Redis, *, limit: int = 1000) -> list[str]:
    """Emails whose accounts are locked right now (for the audit)."""
    try:
        return [key[len(ACCOUNT_LOCK) :] for key in conn.scan_iter(ACCOUNT_LOCK + "*", count=500)][
            :limit
        ]
    except redis.RedisError:
        return []
