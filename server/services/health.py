"""Dependency checks for the readiness probe."""

from __future__ import annotations

import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.core.extensions import db
from server.core.outages import outage_log
from server.core.redis_client import get_redis


def check_dependencies() -> dict[str, str]:
    """'ok' or a short error per dependency."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        outage_log("database").recovered()
    except SQLAlchemyError as exc:
        db.session.rollback()
        outage_log("database").failed("readiness check", exc)
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
        outage_log("redis").recovered()
    except (redis.RedisError, OSError) as exc:
        outage_log("redis").failed("readiness check", exc)
        checks["redis"] = f"error: {type(exc).__name__}"
    return checks
