"""Dependency checks for the readiness probe."""

from __future__ import annotations

import logging

import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.extensions import db
from server.redis_client import get_redis

log = logging.getLogger("server.health")


def check_dependencies() -> dict[str, str]:
    """'ok' or a short error per dependency."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("database check failed", extra={"error": str(exc)})
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except (redis.RedisError, OSError) as exc:
        log.warning("redis check failed", extra={"error": str(exc)})
        checks["redis"] = f"error: {type(exc).__name__}"
    return checks
