"""The security audit trail: one row in `security_events` and one JSON line in security.log.

Events are written on their own connection and committed at once, so a request that fails and
rolls back still leaves its trail. Never pass passwords, tokens or secrets in `details`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from server.core import metrics
from server.core.extensions import db
from server.core.logging_config import SECURITY_LOGGER
from server.core.pagination import paginate
from server.models import SecurityEvent, User, utcnow
from server.models.base import isoformat

log = logging.getLogger(SECURITY_LOGGER)
app_log = logging.getLogger("server.security")

# Keys whose values never reach the trail, whatever a caller passes.
_REDACTED_KEYS = ("password", "token", "secret", "authorization", "key")


def _redact(details: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if any(word in key.lower() for word in _REDACTED_KEYS):
            clean[key] = "[redacted]"
        elif isinstance(value, Mapping):
            clean[key] = _redact(value)
        elif isinstance(value, str) and len(value) > 500:
            clean[key] = value[:500] + "…"
        else:
            clean[key] = value
    return clean


def request_client_ip() -> str | None:
    """The client address after ProxyFix: only the configured proxy hops are trusted."""
    return request.remote_addr if has_request_context() else None


def record_event(
    *,
    action: str,
    outcome: str,
    actor_user_id: int | None = None,
    actor_email: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    details: Mapping[str, Any] | None = None,
    client_ip: str | None = None,
) -> None:
    """Append an event to the trail. Who, where and which request default to the current ones."""
    if has_request_context():
        if actor_user_id is None and g.get("user_id") is not None:
            actor_user_id = g.user_id
            user = g.get("current_user")
            if user is None:
                with db.session.no_autoflush:
                    user = db.session.get(User, actor_user_id)
            actor_email = actor_email or (user.email if user is not None else None)
        client_ip = client_ip or request_client_ip()
        request_id = g.get("request_id")
    else:
        request_id = None
    row = {
        "created_at": utcnow(),
        "actor_user_id": actor_user_id,
        "actor_email": actor_email,
        "client_ip": client_ip,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "outcome": outcome,
        "request_id": request_id,
        "details": _redact(details or {}),
    }
    log.info(action, extra={**row, "created_at": isoformat(row["created_at"])})
    metrics.SECURITY_EVENTS.labels(action).inc()
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(SecurityEvent), row)
    except SQLAlchemyError:
        app_log.exception("could not store a security event", extra={"action": action})


def get_all(
    *,
    page: int,
    per_page: int,
    action: str | None = None,
    outcome: str | None = None,
    actor_user_id: int | None = None,
    client_ip: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """One page of events, newest first, filtered."""
    query = select(SecurityEvent)
    if action:
        query = query.where(SecurityEvent.action == action)
    if outcome:
        query = query.where(SecurityEvent.outcome == outcome)
    if actor_user_id is not None:
        query = query.where(SecurityEvent.actor_user_id == actor_user_id)
    if client_ip:
        query = query.where(SecurityEvent.client_ip == client_ip)
    if since:
        query = query.where(SecurityEvent.created_at >= since)
    if until:
        query = query.where(SecurityEvent.created_at < until)
    return paginate(query.order_by(SecurityEvent.id.desc()), page=page, per_page=per_page)


def count(*, action: str, outcome: str | None = None, since: datetime, until: datetime) -> int:
    """How many events of a kind happened in a period."""
    query = select(func.count(SecurityEvent.id)).where(
        SecurityEvent.action == action,
        SecurityEvent.created_at >= since,
        SecurityEvent.created_at < until,
    )
    if outcome:
        query = query.where(SecurityEvent.outcome == outcome)
    return db.session.scalar(query) or 0
