"""The LLM response cache in Redis: an identical request is answered without spending quota.

The key is a hash of everything that shapes the answer (engine, model, system and user
prompts, response schema), so a change to any of them is a miss. Redis trouble is a miss,
never a failure: the cache only saves quota.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis

log = logging.getLogger("server.agent.engines")

KEY_PREFIX = "llm_cache:"


def cache_key(*, model: str, system: str, user: str, schema: dict[str, Any]) -> str:
    """The Redis key of one request."""
    material = json.dumps(
        {"model": model, "system": system, "user": user, "schema": schema},
        sort_keys=True,
        ensure_ascii=False,
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()


def get_cached(conn: redis.Redis, key: str) -> dict[str, Any] | None:
    """The cached output for `key`, or None."""
    try:
        raw = conn.get(key)
    except redis.RedisError as error:
        log.warning("LLM cache unavailable; treating as a miss", extra={"error": str(error)})
        return None
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def put_cached(conn: redis.Redis, key: str, output: dict[str, Any], ttl_seconds: int) -> None:
    """Keep an output for `ttl_seconds` (0 keeps nothing)."""
    if ttl_seconds <= 0:
        return
    try:
        conn.set(key, json.dumps(output, ensure_ascii=False), ex=ttl_seconds)
    except redis.RedisError as error:
        log.warning("could not cache an LLM reply", extra={"error": str(error)})
