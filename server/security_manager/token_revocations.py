"""Token revocations: PostgreSQL holds the truth, Redis a cache that the request path reads.

A row of `token_revocations` is either a revoked token (its jti; state `access` or `refresh`
for a logout, `rotated` for a refresh token retired by a rotation) or a revoked family (every
token of one login; the state says why). Each row is kept until the token, or every token of
the family, would have expired anyway; `prune_expired_revocations()` deletes the rows past that.

Every revocation is committed to PostgreSQL first (on its own connection, so a request that
fails afterwards still leaves it in force), then written to the Redis cache:
`token_blocklist:<jti>` and `token_family_revoked:<family>`, with the same expiry.

The cache can tell "not revoked" from "lost": `{token_revocations}:cache_ready` is written
once the cache holds every row in force (with the IP blocks and account locks: one marker for
the whole copy, `security_cache`). The request path reads the token's key, its family's key and
that marker in one pipeline. Without the marker (Redis restarted without persistence, was
flushed or failed over), the token is checked against PostgreSQL and the cache is rebuilt once,
by whichever process takes the rebuild lock. While Redis cannot be reached, every token is
checked against PostgreSQL. A revocation whose cache write failed drops the marker at this
process's next contact with Redis, so the cache is rebuilt rather than trusted.

Rotation is decided by PostgreSQL alone (an insert that fails on a duplicate jti), so reuse of a
rotated refresh token is detected whatever Redis holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import and_, delete, or_, select

from server.core.config import Settings
from server.core.extensions import db
from server.models import TokenRevocation, utcnow
from server.models.base import as_utc
from server.security_manager import security_cache
from server.security_manager.events import record_event
from server.security_manager.security_cache import CACHE_READY_KEY

log = logging.getLogger("server.security")

KIND_TOKEN = "token"  # noqa: S105 - a row kind, not a secret
KIND_FAMILY = "family"
ROTATED = "rotated"
FAMILY_REVOKED = "family_revoked"
# Outcomes of a rotation.
REUSED = "reused"

BLOCKLIST_PREFIX = "token_blocklist:"
FAMILY_REVOKED_PREFIX = "token_family_revoked:"
REBUILD_BATCH = 1000
# A family outlives its newest refresh token by this much, to cover clock differences.
FAMILY_GRACE = timedelta(seconds=60)

_outage_logged = threading.Event()


@dataclass(frozen=True)
class Revocation:
    """One revoked token or family, as stored in PostgreSQL and mirrored in Redis."""

    kind: str
    identifier: str
    state: str
    expires_at: datetime
    user_id: int | None = None

    @property
    def cache_key(self) -> str:
        prefix = BLOCKLIST_PREFIX if self.kind == KIND_TOKEN else FAMILY_REVOKED_PREFIX
        return prefix + self.identifier

    def row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "identifier": self.identifier,
            "state": self.state[:64],
            "user_id": self.user_id,
            "created_at": utcnow(),
            "expires_at": self.expires_at,
        }


def _refresh_lifetime(settings: Settings) -> timedelta:
    return timedelta(days=settings.refresh_token_days)


def _user_id(payload: Mapping[str, Any]) -> int | None:
    subject = str(payload.get("sub", ""))
    return int(subject) if subject.isdigit() and int(subject) < 2**31 else None


def token_revocation(payload: Mapping[str, Any], *, state: str | None = None) -> Revocation:
    """The revocation of one token (by its jti) until it expires."""
    return Revocation(
        kind=KIND_TOKEN,
        identifier=str(payload["jti"]),
        state=state or str(payload.get("type", "access")),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        user_id=_user_id(payload),
    )


def family_revocation(
    payload: Mapping[str, Any], *, reason: str, settings: Settings
) -> Revocation | None:
    """The revocation of a token's whole family (its login), or None for a token without one.

    A family lives as long as its newest refresh token can: at most a refresh token's lifetime
    from now, since no token of it is issued after the revocation.
    """
    family = payload.get("family")
    if not family:
        return None
    return Revocation(
        kind=KIND_FAMILY,
        identifier=str(family),
        state=reason,
        expires_at=utcnow() + _refresh_lifetime(settings) + FAMILY_GRACE,
        user_id=_user_id(payload),
    )


def _insert_new(dialect: str, rows: Sequence[dict[str, Any]]):
    """INSERT that skips rows already present (the first revocation of a jti or family wins)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(TokenRevocation)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["kind", "identifier"])
    )


def _write_cache(conn: redis.Redis, revocations: Sequence[Revocation], *, overwrite: bool) -> None:
    """Mirror committed revocations in Redis; if that fails, have the cache rebuilt instead."""
    now = utcnow()
    try:
        pipe = conn.pipeline(transaction=False)
        for item in revocations:
            pipe.set(
                item.cache_key,
                item.state,
                ex=security_cache.seconds_left(item.expires_at, now),
                nx=not overwrite,
            )
        pipe.execute()
    except redis.RedisError:
        security_cache.mark_behind()
        log.warning(
            "token revocation saved in the database but not in Redis; the cache will be rebuilt",
            extra={"revocations": len(revocations)},
        )


def revoke(conn: redis.Redis, *, revocations: Sequence[Revocation | None]) -> None:
    """Revoke tokens and families: committed to the database at once, then cached in Redis."""
    items = [item for item in revocations if item is not None]
    if not items:
        return
    with db.engine.begin() as connection:
        connection.execute(_insert_new(connection.dialect.name, [item.row() for item in items]))
    _write_cache(conn, items, overwrite=False)


def revoke_family_after_reuse(
    conn: redis.Redis, *, payload: Mapping[str, Any], settings: Settings
) -> None:
    """A retired refresh token came back, so it leaked: revoke every token of its login."""
    revoke(
        conn,
        revocations=[
            family_revocation(payload, reason="refresh token reuse", settings=settings)
            or token_revocation(payload)
        ],
    )
    record_event(
        action="refresh_token_reuse",
        outcome="denied",
        actor_user_id=_user_id(payload),
        object_type="token_family",
        object_id=payload.get("family"),
        details={"effect": "every token of the login revoked"},
    )


def rotate_refresh_token(conn: redis.Redis, *, payload: Mapping[str, Any]) -> str:
    """Retire a refresh token that is being exchanged.

    Returns ROTATED when it was live, REUSED when it had been retired or revoked before (it
    leaked), FAMILY_REVOKED when its login was revoked. The database decides, so two
    concurrent exchanges of one token cannot both succeed, whatever Redis holds.
    """
    retired = token_revocation(payload, state=ROTATED)
    family = payload.get("family")
    with db.engine.begin() as connection:
        if family and connection.scalar(
            select(TokenRevocation.id).where(
                TokenRevocation.kind == KIND_FAMILY,
                TokenRevocation.identifier == str(family),
                TokenRevocation.expires_at > utcnow(),
            )
        ):
            return FAMILY_REVOKED
        inserted = connection.execute(
            _insert_new(connection.dialect.name, [retired.row()]).returning(TokenRevocation.id)
        ).first()
    if inserted is None:
        return REUSED
    _write_cache(conn, [retired], overwrite=True)
    return ROTATED


def state_in_database(*, jti: str, family: str | None) -> str | None:
    """What PostgreSQL says about a token: FAMILY_REVOKED, its revoked state, or None."""
    wanted = and_(TokenRevocation.kind == KIND_TOKEN, TokenRevocation.identifier == jti)
    if family:
        wanted = or_(
            wanted, and_(TokenRevocation.kind == KIND_FAMILY, TokenRevocation.identifier == family)
        )
    rows = db.session.execute(
        select(TokenRevocation.kind, TokenRevocation.state).where(
            wanted, TokenRevocation.expires_at > utcnow()
        )
    ).all()
    states = {kind: state for kind, state in rows}
    if KIND_FAMILY in states:
        return FAMILY_REVOKED
    return states.get(KIND_TOKEN)


def cache_keys(payload: Mapping[str, Any]) -> tuple[str, str, str]:
    """The keys the request gate reads for a token: its own, its family's, the marker."""
    family = str(payload["family"]) if payload.get("family") else ""
    return (BLOCKLIST_PREFIX + str(payload["jti"]), FAMILY_REVOKED_PREFIX + family, CACHE_READY_KEY)


def cache_reached() -> None:
    """Note that a check read the cache (logs the end of an outage once)."""
    if _outage_logged.is_set():
        _outage_logged.clear()
        log.info("token revocation cache reachable again")


def state_in_database_for(payload: Mapping[str, Any]) -> str | None:
    """`state_in_database` for a token's claims, logging once that the cache is unreachable."""
    if not _outage_logged.is_set():
        _outage_logged.set()
        log.warning("token revocation cache unavailable; checking tokens in the database")
    family = str(payload["family"]) if payload.get("family") else None
    return state_in_database(jti=str(payload["jti"]), family=family)


def check_token(conn: redis.Redis, *, payload: Mapping[str, Any]) -> str | None:
    """Why a token is refused (FAMILY_REVOKED or its revoked state), or None if it is not.

    One Redis round trip when the cache is whole; PostgreSQL otherwise (see the module doc).
    """
    jti = str(payload["jti"])
    family = str(payload["family"]) if payload.get("family") else None
    behind = security_cache.behind()
    try:
        pipe = conn.pipeline(transaction=False)
        if behind:
            pipe.delete(CACHE_READY_KEY)
        pipe.get(BLOCKLIST_PREFIX + jti)
        if family:
            pipe.exists(FAMILY_REVOKED_PREFIX + family)
        else:
            pipe.echo("0")
        pipe.exists(CACHE_READY_KEY)
        *_, state, family_revoked, ready = pipe.execute()
    except redis.RedisError:
        if not _outage_logged.is_set():
            _outage_logged.set()
            log.warning("token revocation cache unavailable; checking tokens in the database")
        return state_in_database(jti=jti, family=family)
    if behind:
        security_cache.marker_dropped()
    cache_reached()
    if int(family_revoked):
        return FAMILY_REVOKED
    if state is not None:
        return state
    if ready:
        return None
    found = state_in_database(jti=jti, family=family)
    security_cache.rebuild_after_a_miss(conn)
    return found


def cache_entries(now: datetime) -> Iterator[tuple[str, str, int]]:
    """The cache's keys for every revocation in force: (key, state, seconds left)."""
    rows = db.session.execute(
        select(
            TokenRevocation.kind,
            TokenRevocation.identifier,
            TokenRevocation.state,
            TokenRevocation.expires_at,
        )
        .where(TokenRevocation.expires_at > now)
        .execution_options(yield_per=REBUILD_BATCH)
    )
    for kind, identifier, state, expires_at in rows:
        item = Revocation(kind, identifier, state, as_utc(expires_at))
        yield item.cache_key, state, security_cache.seconds_left(item.expires_at, now)


def prune_expired_revocations() -> int:
    """Delete the revocations of tokens that have expired anyway; returns how many went."""
    with db.engine.begin() as connection:
        result = connection.execute(
            delete(TokenRevocation).where(TokenRevocation.expires_at <= utcnow())
        )
    return result.rowcount or 0


security_cache.register_source("token_revocations", cache_entries)
