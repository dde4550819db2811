"""IP blocking: a secondary control on top of per-account lockout, never instead of it.

Redis holds the live set (`ip_block:<ip>` keys whose TTL is the time left), checked first in
every request; PostgreSQL keeps the record of every block and unblock. Allowlisted addresses
and networks (IP_ALLOWLIST) are never blocked. If Redis is down, nothing is blocked (fail
open) and a warning is logged.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import insert, select, update

from server.config import Settings
from server.errors import NotFound, ValidationFailed
from server.extensions import db
from server.models import IpBlock, utcnow
from server.models.base import as_utc
from server.outages import outage_log
from server.security_manager.counters import incr_in_window
from server.security_manager.events import record_event

log = logging.getLogger("server.security")

BLOCK_PREFIX = "ip_block:"
ERROR_BURST_PREFIX = "ip_signal:errors:"
THROTTLED_BURST_PREFIX = "ip_signal:throttled:"
MAX_BLOCK_SECONDS = 90 * 86400


def canonical_ip(value: str) -> str:
    """One spelling per address: compressed lower-case IPv6, IPv4-mapped IPv6 as IPv4.

    Raises ValueError for text that is not an address.
    """
    address = ipaddress.ip_address(value.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def normalise_ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address; 422 when it is not one."""
    try:
        return canonical_ip(value)
    except ValueError:
        raise ValidationFailed(
            "ip: not a valid IPv4 or IPv6 address", details={"ip": ["not a valid IP address"]}
        ) from None


@functools.lru_cache(maxsize=32)
def _networks(allowlist: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowlist)


def is_allowlisted(ip: str | None, settings: Settings) -> bool:
    """True when the address is in IP_ALLOWLIST (addresses or CIDR networks)."""
    if not ip or not settings.ip_allowlist:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(settings.ip_allowlist))


def block_ttl(conn: redis.Redis, ip: str | None) -> int:
    """Seconds left on the address's block, or 0 (also when Redis cannot be reached)."""
    if not ip:
        return 0
    try:
        return max(0, conn.ttl(BLOCK_PREFIX + ip))
    except redis.RedisError as exc:
        outage_log("redis").failed("IP block check (failing open)", exc)
        return 0


def block_ip(
    conn: redis.Redis,
    *,
    ip: str,
    reason: str,
    ttl_seconds: int,
    settings: Settings,
    automatic: bool,
    created_by_user_id: int | None = None,
) -> dict[str, Any] | None:
    """Block an address for a while; returns the record, or None for an allowlisted address."""
    ip = normalise_ip(ip)
    if automatic and ipaddress.ip_address(ip).is_loopback:
        # Every client looks like loopback when a local proxy's hops are not trusted
        # (TRUSTED_PROXY_COUNT): blocking it would block everyone.
        log.warning("not blocking a loopback address automatically", extra={"reason": reason})
        return None
    if is_allowlisted(ip, settings):
        if automatic:
            return None
        raise ValidationFailed(
            "ip: the address is on the allowlist (IP_ALLOWLIST) and cannot be blocked",
            details={"ip": ["on the allowlist"]},
        )
    ttl_seconds = max(1, min(ttl_seconds, MAX_BLOCK_SECONDS))
    now = utcnow()
    row = {
        "ip": ip,
        "reason": reason[:200],
        "automatic": automatic,
        "created_by_user_id": created_by_user_id,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_seconds),
    }
    conn.set(BLOCK_PREFIX + ip, reason[:200], ex=ttl_seconds)
    # Its own connection: automatic blocks happen while a request's session may hold work
    # that must not be committed with them.
    with db.engine.begin() as connection:
        row["id"] = connection.execute(insert(IpBlock).returning(IpBlock.id), row).scalar_one()
    record_event(
        action="ip_blocked",
        outcome="success",
        object_type="ip",
        object_id=ip,
        details={"reason": reason, "ttl_seconds": ttl_seconds, "automatic": automatic},
    )
    return row


def unblock_ip(conn: redis.Redis, *, ip: str, lifted_by_user_id: int | None) -> None:
    """Lift a block now; 404 when the address is not blocked."""
    ip = normalise_ip(ip)
    removed = conn.delete(BLOCK_PREFIX + ip)
    result = db.session.execute(
        update(IpBlock)
        .where(IpBlock.ip == ip, IpBlock.lifted_at.is_(None), IpBlock.expires_at > utcnow())
        .values(lifted_at=utcnow(), lifted_by_user_id=lifted_by_user_id)
    )
    db.session.commit()
    if not removed and not result.rowcount:
        raise NotFound("This address is not blocked", code="ip_not_blocked")
    record_event(action="ip_unblocked", outcome="success", object_type="ip", object_id=ip)


def restore_blocks(conn: redis.Redis) -> int:
    """Put every block in force back into Redis (after a wipe); returns how many were missing.

    PostgreSQL keeps the record, Redis the set the request path checks: this rebuilds the set.
    """
    now = utcnow()
    restored = 0
    for block in get_active_blocks():
        seconds = int((as_utc(block.expires_at) - now).total_seconds())
        if seconds > 0 and conn.set(BLOCK_PREFIX + block.ip, block.reason, ex=seconds, nx=True):
            restored += 1
    if restored:
        log.info("IP blocks restored to Redis", extra={"restored": restored})
    return restored


def get_active_blocks() -> list[IpBlock]:
    """Blocks in force (not expired, not lifted), newest first."""
    return list(
        db.session.scalars(
            select(IpBlock)
            .where(IpBlock.lifted_at.is_(None), IpBlock.expires_at > utcnow())
            .order_by(IpBlock.id.desc())
        )
    )


def note_response(conn: redis.Redis, *, ip: str | None, status: int, settings: Settings) -> None:
    """Watch for bursts of 401/403/404 or of 429 from one address and block it when they pile up."""
    if not ip or is_allowlisted(ip, settings):
        return
    if status in (401, 403, 404):
        prefix, limit, window = (
            ERROR_BURST_PREFIX,
            settings.ip_block_error_burst,
            settings.ip_block_error_window_seconds,
        )
        reason = f"burst of 401/403/404 responses ({limit} in {window} s)"
    elif status == 429:
        prefix, limit, window = (
            THROTTLED_BURST_PREFIX,
            settings.ip_block_throttled_burst,
            settings.ip_block_throttled_window_seconds,
        )
        reason = f"repeated 429 responses ({limit} in {window} s)"
    else:
        return
    try:
        if incr_in_window(conn, prefix + ip, window) == limit:
            block_ip(
                conn,
                ip=ip,
                reason=reason,
                ttl_seconds=settings.ip_block_seconds,
                settings=settings,
                automatic=True,
            )
    except redis.RedisError as exc:
        outage_log("redis").failed("IP signal counter", exc)


def note_failed_login_spread(
    conn: redis.Redis, *, ip: str | None, distinct_accounts: int, settings: Settings
) -> None:
    """Block an address that failed logins on many different accounts (password spraying)."""
    if ip and distinct_accounts == settings.ip_block_failed_accounts:
        try:
            block_ip(
                conn,
                ip=ip,
                reason=f"failed logins on {distinct_accounts} different accounts",
                ttl_seconds=settings.ip_block_seconds,
                settings=settings,
                automatic=True,
            )
        except redis.RedisError:
            log.warning("could not block a spraying address", extra={"client_ip": ip})


def count_blocked(conn: redis.Redis) -> int:
    """How many addresses Redis blocks right now."""
    try:
        return sum(1 for _ in conn.scan_iter(BLOCK_PREFIX + "*", count=500))
    except redis.RedisError:
        return 0
