"""IP blocking: a secondary control on top of per-account lockout, never instead of it.

Redis holds the live set (`ip_block:<subject>` keys whose TTL is the time left), checked first
in every request but the health probes; PostgreSQL keeps the record of every block and unblock,
from which the set is rebuilt when Redis lost it (`security_cache`: until then, an address
missing from the set is looked up in PostgreSQL).
The subject of an IPv4 client is its address; an IPv6 client is one /64 network
(`2001:db8:1:2::/64`), since one host is routinely given a whole /64 to pick addresses from.
Allowlisted addresses and networks (IP_ALLOWLIST) are never blocked, nor, by hand, loopback or
the admin's own address. If Redis is down, nothing is blocked (fail open) and a warning is
logged.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import redis
from sqlalchemy import func, insert, select, update

from server.core.config import Settings
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.extensions import db
from server.core.outages import outage_log
from server.models import IpBlock, utcnow
from server.models.base import as_utc
from server.security_manager import security_cache
from server.security_manager.events import record_event

log = logging.getLogger("server.security")

BLOCK_PREFIX = "ip_block:"
ERROR_BURST_PREFIX = "ip_signal:errors:"
THROTTLED_BURST_PREFIX = "ip_signal:throttled:"
MAX_BLOCK_SECONDS = 90 * 86400
IPV6_SUBJECT_PREFIX = 64
# Responses that, in a burst from one address, mean probing or abuse rather than use.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 415})


@functools.lru_cache(maxsize=4096)  # every request asks, for the few addresses of its clients
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


@functools.lru_cache(maxsize=4096)
def address_subject(value: str) -> str:
    """What per-address limits and blocks count: an IPv4 address, or an IPv6 address's /64.

    Also takes a subject back (`2001:db8::/64`). Raises ValueError for anything else.
    """
    text = value.strip()
    if "/" in text:
        network = ipaddress.ip_network(text, strict=True)
        if network.version != 6 or network.prefixlen != IPV6_SUBJECT_PREFIX:
            raise ValueError(f"{value!r} is not an IPv6 /{IPV6_SUBJECT_PREFIX} network")
        return str(network)
    address = ipaddress.ip_address(canonical_ip(text))
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/{IPV6_SUBJECT_PREFIX}", strict=False))


def normalise_subject(value: str) -> str:
    """`address_subject`, or 422 when the text is not an address."""
    try:
        return address_subject(value)
    except ValueError:
        raise ValidationFailed(
            "ip: not a valid IPv4 or IPv6 address", details={"ip": ["not a valid IP address"]}
        ) from None


def is_loopback(subject: str) -> bool:
    """True for 127.0.0.0/8, and for ::1 or the /64 holding it."""
    network = ipaddress.ip_network(subject)
    return network.network_address.is_loopback or _LOOPBACK_V6 in network


_LOOPBACK_V6 = ipaddress.ip_address("::1")


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


def block_ttl(conn: redis.Redis, subject: str | None) -> int:
    """Seconds left on the subject's block, or 0 (also when Redis cannot be reached)."""
    if not subject:
        return 0
    try:
        return max(0, conn.ttl(BLOCK_PREFIX + subject))
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
    caller_ip: str | None = None,
) -> dict[str, Any] | None:
    """Block an address (an IPv6 address's /64) for a while; returns the record.

    Never blocks loopback (every client looks like loopback when a local proxy's hops are not
    trusted), an allowlisted address, or the caller's own: an automatic block returns None, a
    manual one answers 409 saying why, since such a block would lock out everyone or the admin.
    """
    address = ip.strip()
    if automatic:
        try:
            ip = address_subject(address)
        except ValueError:
            return None  # a peer that is no IP address (a unix socket): nothing to block
    else:
        ip = normalise_subject(address)
    refusal = None
    if is_loopback(ip):
        refusal = (
            "loopback",
            "it is a loopback address: blocking it would block every client behind a local proxy",
        )
    elif is_allowlisted(address, settings) or is_allowlisted(ip, settings):
        refusal = ("allowlisted", "it is on the allowlist (IP_ALLOWLIST)")
    elif not automatic and caller_ip and _same_subject(ip, caller_ip):
        refusal = ("own_address", "it is the address this request comes from")
    if refusal:
        if automatic:
            log.warning(
                "not blocking an address automatically",
                extra={"client_ip": ip, "reason": reason, "refused": refusal[0]},
            )
            return None
        raise Conflict(
            f"{ip} cannot be blocked: {refusal[1]}",
            code="ip_not_blockable",
            details={"ip": ip, "reason": refusal[0]},
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


def _same_subject(subject: str, other_ip: str) -> bool:
    try:
        return address_subject(other_ip) == subject
    except ValueError:
        return False


def unblock_ip(conn: redis.Redis, *, ip: str, lifted_by_user_id: int | None) -> str:
    """Lift a block now (an IPv6 address lifts its /64); returns the subject, 404 if none."""
    ip = normalise_subject(ip)
    removed = conn.delete(BLOCK_PREFIX + ip)
    # Older records may name one IPv6 address of the /64: they are this block too.
    ids = [block.id for block in get_active_blocks() if _same_subject(ip, block.ip)]
    if ids:
        db.session.execute(
            update(IpBlock)
            .where(IpBlock.id.in_(ids))
            .values(lifted_at=utcnow(), lifted_by_user_id=lifted_by_user_id)
        )
    db.session.commit()
    if not removed and not ids:
        raise NotFound("This address is not blocked", resource="ip_block")
    record_event(action="ip_unblocked", outcome="success", object_type="ip", object_id=ip)
    return ip


def restore_blocks(conn: redis.Redis) -> int:
    """Put every block in force back into Redis (after a wipe); returns how many were missing.

    PostgreSQL keeps the record, Redis the set the request path checks: this rebuilds the set.
    """
    now = utcnow()
    restored = 0
    for block in get_active_blocks():
        seconds = int((as_utc(block.expires_at) - now).total_seconds())
        try:
            subject = address_subject(block.ip)  # a single IPv6 address from older records
        except ValueError:
            continue
        if seconds > 0 and conn.set(BLOCK_PREFIX + subject, block.reason, ex=seconds, nx=True):
            restored += 1
    if restored:
        log.info("IP blocks restored to Redis", extra={"restored": restored})
    return restored


def cache_entries(now: datetime) -> Iterator[tuple[str, str, int]]:
    """The set's keys for every block in force: (key, reason, seconds left)."""
    newest: dict[str, tuple[datetime, str]] = {}
    for block in get_active_blocks():
        try:
            subject = address_subject(block.ip)  # a single IPv6 address from older records
        except ValueError:
            continue
        expires_at = as_utc(block.expires_at)
        if subject not in newest or expires_at > newest[subject][0]:
            newest[subject] = (expires_at, block.reason)
    for subject, (expires_at, reason) in newest.items():
        yield BLOCK_PREFIX + subject, reason, security_cache.seconds_left(expires_at, now)


def block_seconds_in_database(subject: str) -> int:
    """Seconds left on the subject's block as PostgreSQL records it, or 0."""
    now = utcnow()
    expires_at = db.session.scalar(
        select(func.max(IpBlock.expires_at)).where(
            IpBlock.ip == subject, IpBlock.lifted_at.is_(None), IpBlock.expires_at > now
        )
    )
    if expires_at is None:
        return 0
    return security_cache.seconds_left(as_utc(expires_at), now)


def get_active_blocks() -> list[IpBlock]:
    """Blocks in force (not expired, not lifted), newest first."""
    return list(
        db.session.scalars(
            select(IpBlock)
            .where(IpBlock.lifted_at.is_(None), IpBlock.expires_at > utcnow())
            .order_by(IpBlock.id.desc())
        )
    )


class ErrorSignal(NamedTuple):
    """One response that counts toward an automatic block of its address."""

    subject: str
    key: str
    limit: int
    window_seconds: int
    reason: str


def error_signal(
    *, ip: str | None, status: int, settings: Settings, address_throttled: bool = False
) -> ErrorSignal | None:
    """What a response counts toward blocking its address, or None when it counts nothing.

    Errors are `ERROR_STATUSES` (400, 401, 403, 404, 405, 413, 415). A 429 counts only when
    `address_throttled`: a limit on the address refused it. A user's own quota running out
    says nothing about the address, which a whole office may share.
    """
    if not ip or is_allowlisted(ip, settings):
        return None
    try:
        subject = address_subject(ip)
    except ValueError:
        return None  # not an address (a unix socket peer): nothing to block
    if status in ERROR_STATUSES:
        limit, window = settings.ip_block_error_burst, settings.ip_block_error_window_seconds
        return ErrorSignal(
            subject,
            ERROR_BURST_PREFIX + subject,
            limit,
            window,
            f"burst of 4xx error responses ({limit} in {window} s)",
        )
    if status == 429 and address_throttled:
        limit, window = (
            settings.ip_block_throttled_burst,
            settings.ip_block_throttled_window_seconds,
        )
        return ErrorSignal(
            subject,
            THROTTLED_BURST_PREFIX + subject,
            limit,
            window,
            f"repeated 429 responses ({limit} in {window} s)",
        )
    return None


def block_on_burst(
    conn: redis.Redis, signal: ErrorSignal, count: int, *, settings: Settings
) -> dict[str, Any] | None:
    """Block the signal's address when its counter has just reached the limit."""
    if count != signal.limit:
        return None
    return block_ip(
        conn,
        ip=signal.subject,
        reason=signal.reason,
        ttl_seconds=settings.ip_block_seconds,
        settings=settings,
        automatic=True,
    )


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


security_cache.register_source("ip_blocks", cache_entries)
