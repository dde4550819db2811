"""The Redis copy of the security records PostgreSQL holds, and the one marker that says it is whole.

PostgreSQL keeps the token revocations (`token_revocations`), the IP blocks (`ip_blocking`)
and the account locks (`lockout`); the request gate and the login read their copies in Redis
(`token_blocklist:<jti>`, `token_family_revoked:<family>`, `ip_block:<subject>`,
`login_lock:account:<email>`). A missing key cannot tell "none" from "lost", so
`{token_revocations}:cache_ready` (named for the revocations, its first users) is written once
the copy holds every record in force. A reader that finds neither its key nor the marker (Redis
restarted without persistence, was flushed or failed over) asks PostgreSQL, and has the copy
rebuilt once, by whichever process takes `{token_revocations}:rebuild_lock`. A record committed
to PostgreSQL whose copy could not be written (Redis unreachable) drops the marker at this
process's next contact with Redis, so the copy is rebuilt rather than trusted.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

import redis

from server.models import utcnow

log = logging.getLogger("server.security")

CACHE_READY_KEY = "{token_revocations}:cache_ready"
REBUILD_LOCK_KEY = "{token_revocations}:rebuild_lock"
REBUILD_LOCK_SECONDS = 60
REBUILD_BATCH = 1000

# Set the marker only while the rebuild still holds its lock: a flush during the rebuild
# takes the lock with it, and the half-written copy must not be declared whole.
_FINISH_REBUILD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
  return 1
end
return 0
"""

# The records the copy holds, in the order a rebuild copies them. Each is read by its own
# module, which registers its reader here when imported (the package imports all three).
SOURCES = ("token_revocations", "ip_blocks", "account_locks")
_sources: dict[str, Callable[[datetime], Iterable[tuple[str, str, int]]]] = {}

_behind = threading.Event()


def register_source(name: str, entries: Callable[[datetime], Iterable[tuple[str, str, int]]]):
    """Name the reader of one kind of record: (key, value, seconds left) for each in force."""
    _sources[name] = entries


def seconds_left(expires_at: datetime, now: datetime) -> int:
    """A Redis TTL that ends no earlier than `expires_at`."""
    return max(1, int((expires_at - now).total_seconds()) + 1)


def mark_behind() -> None:
    """A record reached PostgreSQL but not Redis: the next contact must drop the marker."""
    _behind.set()


def behind() -> bool:
    """True when a record missed the copy and the marker is still to be dropped."""
    return _behind.is_set()


def marker_dropped() -> None:
    """Note that a pipeline or script has dropped the marker for a record that missed it."""
    _behind.clear()


def rebuild(conn: redis.Redis) -> dict[str, int] | None:
    """Copy every record in force into Redis, then mark the copy whole.

    Returns how many of each kind were copied, or None when another process is rebuilding it.
    """
    lock = secrets.token_hex(16)
    if not conn.set(REBUILD_LOCK_KEY, lock, nx=True, ex=REBUILD_LOCK_SECONDS):
        return None
    finish = conn.register_script(_FINISH_REBUILD)
    now = utcnow()
    copied: dict[str, int] = {}
    try:
        for name in SOURCES:
            copied[name] = _copy(conn, _sources[name](now))
    except BaseException:
        finish(keys=[REBUILD_LOCK_KEY, CACHE_READY_KEY], args=[lock, ""])
        raise
    if finish(keys=[REBUILD_LOCK_KEY, CACHE_READY_KEY], args=[lock, now.isoformat()]):
        log.info("security cache rebuilt from the database", extra={"copied": copied})
    return copied


def rebuild_after_a_miss(conn: redis.Redis) -> None:
    """`rebuild`, for a reader that already has its answer from PostgreSQL: a Redis error is
    logged, not raised."""
    try:
        rebuild(conn)
    except redis.RedisError:
        log.warning("security cache could not be rebuilt", exc_info=True)


def _copy(conn: redis.Redis, entries: Iterable[tuple[str, str, int]]) -> int:
    """SET each (key, value, seconds) with its expiry, a pipeline per batch."""
    copied = 0
    pipe = conn.pipeline(transaction=False)
    for key, value, seconds in entries:
        pipe.set(key, value, ex=seconds)
        copied += 1
        if copied % REBUILD_BATCH == 0:
            pipe.execute()
    pipe.execute()
    return copied
