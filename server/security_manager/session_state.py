"""What authorization needs of a user (active, role, session generation), cached in Redis.

PostgreSQL is the truth. Redis holds one hash per user, `user_auth:<id>` (fields `active`,
`role`, `sgen`), which the request gate reads in its one round trip, so an authenticated request
needs no query for its user. The hash is:

- written through after every commit that changes one of those columns or deletes a user
  (SQLAlchemy session events, so no service can forget it); a deleted user leaves a tombstone
  that refuses its tokens;
- rebuilt on a miss from one query, written only if still missing, so a rebuild that read the
  row before a change cannot overwrite the change's own write;
- expired after `CACHE_SECONDS`, which bounds how long a lost write-through could go unseen.
  A write-through that fails (Redis unreachable) also queues the user's key for deletion at
  this process's next request.

A flushed Redis therefore costs one query per user, never a wrong answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from flask import has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from server.core.extensions import db
from server.models import Role, User

log = logging.getLogger("server.security")

KEY_PREFIX = "user_auth:"
CACHE_SECONDS = 3600
WATCHED_COLUMNS = ("is_active", "role", "session_generation")
_PENDING_KEY = "session_state_changes"

_lost_writes: set[int] = set()
_lost_writes_lock = threading.Lock()


@dataclass(frozen=True)
class SessionState:
    """A user as authorization sees it. A missing user is an inactive one."""

    user_id: int
    active: bool
    role: str
    session_generation: int

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    def fields(self) -> dict[str, str]:
        return {
            "active": "1" if self.active else "0",
            "role": self.role,
            "sgen": str(self.session_generation),
        }


def key_for(user_id: int) -> str:
    """The Redis key of one user's session state."""
    return f"{KEY_PREFIX}{user_id}"


def from_fields(user_id: int, active: str, role: str, sgen: str) -> SessionState:
    """The state that a cached hash's fields describe."""
    return SessionState(user_id, active == "1", role, int(sgen))


def _missing(user_id: int) -> SessionState:
    return SessionState(user_id, False, "", -1)


def load(user_id: int) -> SessionState:
    """The user's state from PostgreSQL (one query)."""
    row = db.session.execute(
        select(User.is_active, User.role, User.session_generation).where(User.id == user_id)
    ).first()
    if row is None:
        return _missing(user_id)
    return SessionState(user_id, bool(row[0]), row[1], row[2] or 0)


def store_if_missing(conn: redis.Redis, state: SessionState) -> None:
    """Cache a state rebuilt from PostgreSQL, unless a write-through got there first."""
    key = key_for(state.user_id)
    pipe = conn.pipeline(transaction=True)
    for field, value in state.fields().items():
        pipe.hsetnx(key, field, value)
    pipe.expire(key, CACHE_SECONDS)
    pipe.execute()


def write_through(conn: redis.Redis, states: Sequence[SessionState]) -> None:
    """Cache committed states (overwriting); on failure, have this process drop them later."""
    try:
        pipe = conn.pipeline(transaction=False)
        for state in states:
            pipe.hset(key_for(state.user_id), mapping=state.fields())
            pipe.expire(key_for(state.user_id), CACHE_SECONDS)
        pipe.execute()
    except redis.RedisError:
        with _lost_writes_lock:
            _lost_writes.update(state.user_id for state in states)
        log.warning(
            "account change saved in the database but not in Redis; its cache entry will be "
            "dropped",
            extra={"users": [state.user_id for state in states]},
        )


def lost_writes_pending() -> bool:
    """True while some cache entry's write-through failed and is not dropped yet."""
    return bool(_lost_writes)


def drop_lost_writes(conn: redis.Redis) -> None:
    """Delete the cache entries whose write-through failed (so they are rebuilt on a miss)."""
    if not _lost_writes:
        return
    with _lost_writes_lock:
        user_ids = list(_lost_writes)
    conn.delete(*(key_for(user_id) for user_id in user_ids))
    with _lost_writes_lock:
        _lost_writes.difference_update(user_ids)


def _note_changes(session: Session, _flush_context) -> None:
    """After a flush: remember the new state of every user whose watched columns changed."""
    changed: dict[int, SessionState] = session.info.setdefault(_PENDING_KEY, {})
    for obj in session.dirty:
        if not isinstance(obj, User) or obj.id is None:
            continue
        history = [db.inspect(obj).attrs[name].history for name in WATCHED_COLUMNS]
        if any(h.has_changes() for h in history):
            changed[obj.id] = SessionState(
                obj.id, bool(obj.is_active), obj.role, obj.session_generation or 0
            )
    for obj in session.deleted:
        if isinstance(obj, User) and obj.id is not None:
            changed[obj.id] = _missing(obj.id)


def _write_changes(session: Session) -> None:
    changed = session.info.pop(_PENDING_KEY, None)
    if not changed:
        return
    if not has_app_context():
        log.warning("account change committed outside an app: its cache entry is not updated")
        return
    from server.core.redis_client import get_redis

    write_through(get_redis(), list(changed.values()))


def _forget_changes(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


event.listen(Session, "after_flush", _note_changes)
event.listen(Session, "after_commit", _write_changes)
event.listen(Session, "after_soft_rollback", lambda session, _tx: _forget_changes(session))
