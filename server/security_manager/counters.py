"""Windowed counters in Redis that work on Redis 6.2 (the embedded server) and 7.

Each script touches one key, so it runs unchanged on Redis Cluster. Like every script outside
the limiter, they run through redis-py's `register_script` (EVALSHA, loading on NOSCRIPT).
"""

from __future__ import annotations

import redis

_INCR = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_ADD = """
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SCARD', KEYS[1])
"""


def incr_in_window(conn: redis.Redis, key: str, window_seconds: int) -> int:
    """Add one to a counter that starts its window at the first hit; returns the new count."""
    return int(conn.register_script(_INCR)(keys=[key], args=[window_seconds]))


def add_in_window(conn: redis.Redis, key: str, member: str, window_seconds: int) -> int:
    """Add a member to a set that expires a window after its first member; returns its size."""
    return int(conn.register_script(_ADD)(keys=[key], args=[member, window_seconds]))
