"""Login protection: failures per account (tiered temporary locks) and per client IP.

PostgreSQL counts each email's consecutive failures and holds its lock (`login_failures`), so a
Redis that lost its data or cannot be reached neither lifts a lock nor forgets a failure.
Redis keys (all expire on their own):
- `login_lock:account:<email>`      the lock's copy, read at every login; TTL = time left
  (rebuilt from PostgreSQL with the other security records: `security_cache`)
- `login_failures:ip:<ip>`          failures from one address in the IP window (throttle)
- `login_failures:ip_accounts:<ip>` distinct emails tried from one address (spraying signal)

Failures are counted for unknown emails too, so a lock says nothing about whether an account
exists. While Redis is down, locks are read from PostgreSQL and still counted there; the
per-address throttle and the spraying signal fail open, with a warning logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import case, delete, select, update

from server.core.config import Settings
from server.core.extensions import db
from server.core.outages import outage_log
from server.models import LoginFailure, utcnow
from server.models.base import as_utc
from server.security_manager import security_cache
from server.security_manager.counters import add_in_window, incr_in_window

ACCOUNT_LOCK = "login_lock:account:"
IP_FAILURES = "login_failures:ip:"
IP_ACCOUNTS = "login_failures:ip_accounts:"

_FAILURES = LoginFailure.__table__


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
    """Seconds left on the account's lock, or 0: from Redis when its copy is whole, else
    from PostgreSQL (and the copy is rebuilt)."""
    behind = security_cache.behind()
    try:
        pipe = conn.pipeline(transaction=False)
        if behind:
            pipe.delete(security_cache.CACHE_READY_KEY)
        pipe.ttl(ACCOUNT_LOCK + email)
        pipe.exists(security_cache.CACHE_READY_KEY)
        *_, ttl, ready = pipe.execute()
    except redis.RedisError as exc:
        outage_log("redis").failed("account lockout (read from the database)", exc)
        return lock_seconds_in_database(email)
    if behind:
        security_cache.marker_dropped()
    if ttl > 0:
        return ttl
    if ready:
        return 0
    seconds = lock_seconds_in_database(email)
    security_cache.rebuild_after_a_miss(conn)
    return seconds


def lock_seconds_in_database(email: str) -> int:
    """Seconds left on the account's lock as PostgreSQL holds it, or 0."""
    locked_until = db.session.scalar(
        select(LoginFailure.locked_until).where(LoginFailure.email == email)
    )
    now = utcnow()
    if locked_until is None or as_utc(locked_until) <= now:
        return 0
    return security_cache.seconds_left(as_utc(locked_until), now)


def register_failure(
    conn: redis.Redis, *, email: str, ip: str | None, settings: Settings, count_account: bool
) -> FailureOutcome:
    """Count a failed login; lock the account when it reaches a tier."""
    account_failures = locked_for = ip_failures = distinct = 0
    if count_account:
        account_failures, locked_for = _count_in_database(email, settings)
        if locked_for:
            try:
                conn.set(ACCOUNT_LOCK + email, account_failures, ex=locked_for)
            except redis.RedisError as exc:
                security_cache.mark_behind()
                outage_log("redis").failed("account lock (kept in the database)", exc)
    if ip:
        try:
            ip_failures = incr_in_window(conn, IP_FAILURES + ip, settings.login_ip_window_seconds)
            distinct = add_in_window(
                conn, IP_ACCOUNTS + ip, email, settings.ip_block_failed_accounts_window_seconds
            )
        except redis.RedisError as exc:
            outage_log("redis").failed("login failures per address (failing open)", exc)
    return FailureOutcome(account_failures, locked_for, ip_failures, distinct)


def _count_in_database(email: str, settings: Settings) -> tuple[int, int]:
    """Add one to the email's failures (a new window when the last has passed) and lock it
    when the count reaches a tier; returns the count and the lock's seconds (0: none).

    One statement decides the count, so concurrent failures are all counted. Its own
    transaction: the failed login's request commits nothing.
    """
    now = utcnow()
    window_end = now + timedelta(seconds=settings.login_failure_window_seconds)
    in_window = _FAILURES.c.window_ends_at > now
    with db.engine.begin() as connection:
        count = (
            _insert(connection.dialect.name)(_FAILURES)
            .values(email=email, failures=1, window_ends_at=window_end)
            .on_conflict_do_update(
                index_elements=[_FAILURES.c.email],
                set_={
                    "failures": case((in_window, _FAILURES.c.failures + 1), else_=1),
                    "window_ends_at": case(
                        (in_window, _FAILURES.c.window_ends_at), else_=window_end
                    ),
                },
            )
            .returning(_FAILURES.c.failures)
        )
        failures = connection.execute(count).scalar_one()
        seconds = lock_seconds_for(failures, settings)
        if seconds:
            connection.execute(
                update(_FAILURES)
                .where(_FAILURES.c.email == email)
                .values(locked_until=now + timedelta(seconds=seconds))
            )
    return failures, seconds


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def clear_account(conn: redis.Redis, *, email: str) -> bool:
    """Forget an account's failures and lift its lock; True if it was locked."""
    with db.engine.begin() as connection:
        locked_until = connection.execute(
            delete(_FAILURES).where(_FAILURES.c.email == email).returning(_FAILURES.c.locked_until)
        ).scalar()
    was_locked = locked_until is not None and as_utc(locked_until) > utcnow()
    try:
        was_locked = bool(conn.delete(ACCOUNT_LOCK + email)) or was_locked
    except redis.RedisError as exc:
        # Its copy may still refuse logins until it expires: failing closed, never open.
        outage_log("redis").failed("clearing an account lock", exc)
    return was_locked


def locked_accounts(*, limit: int = 1000) -> list[str]:
    """Emails whose accounts are locked right now (for the audit)."""
    return list(
        db.session.scalars(
            select(LoginFailure.email)
            .where(LoginFailure.locked_until > utcnow())
            .order_by(LoginFailure.email)
            .limit(limit)
        )
    )


def cache_entries(now: datetime) -> Iterator[tuple[str, str, int]]:
    """The Redis copy of every lock in force: (key, failures, seconds left)."""
    rows = db.session.execute(
        select(LoginFailure.email, LoginFailure.failures, LoginFailure.locked_until).where(
            LoginFailure.locked_until > now
        )
    )
    for email, failures, locked_until in rows:
        yield (
            ACCOUNT_LOCK + email,
            str(failures),
            security_cache.seconds_left(as_utc(locked_until), now),
        )


def prune_expired_login_failures(*, now: datetime) -> int:
    """Delete the rows whose window and lock have both passed; returns how many went."""
    with db.engine.begin() as connection:
        result = connection.execute(
            delete(_FAILURES).where(
                _FAILURES.c.window_ends_at <= now,
                (_FAILURES.c.locked_until.is_(None)) | (_FAILURES.c.locked_until <= now),
            )
        )
    return result.rowcount or 0


security_cache.register_source("account_locks", cache_entries)
