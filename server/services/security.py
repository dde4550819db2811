"""Admin security operations: the audit trail, IP blocks and the audit."""

from __future__ import annotations

from typing import Any

from server import backup_manager
from server.core.config import get_settings
from server.core.redis_client import get_redis
from server.models import User
from server.security_manager import audit, events, ip_blocking
from server.security_manager.events import record_event


def get_events(**filters: Any) -> dict[str, Any]:
    """One filtered page of the audit trail."""
    return events.get_all(**filters)


def get_active_blocks():
    """Blocks in force."""
    return ip_blocking.get_active_blocks()


def block_ip(
    *,
    ip: str,
    reason: str,
    ttl_seconds: int,
    admin: User,
    caller_ip: str | None,
) -> dict[str, Any]:
    """A manual block by an admin; 409 for loopback, allowlisted and the caller's own address."""
    conn = get_redis()
    settings = get_settings()
    row = ip_blocking.block_ip(
        conn,
        ip=ip,
        reason=reason,
        ttl_seconds=ttl_seconds,
        settings=settings,
        automatic=False,
        created_by_user_id=admin.id,
        caller_ip=caller_ip,
    )
    assert row is not None  # manual blocks that cannot be made raise instead
    return row


def unblock_ip(*, ip: str, admin: User) -> None:
    """Lift a block."""
    conn = get_redis()
    ip_blocking.unblock_ip(conn, ip=ip, lifted_by_user_id=admin.id)


def run_audit(*, debug: bool) -> dict[str, Any]:
    """Run the audit and record that it ran."""
    conn = get_redis()
    settings = get_settings()
    report = audit.run_audit(
        settings=settings,
        conn=conn,
        debug=debug,
        backup_age=backup_manager.last_verified_backup_age,
    )
    record_event(
        action="security_audit",
        outcome="success",
        details={k: v for k, v in report["summary"].items() if k != "total"},
    )
    return report
