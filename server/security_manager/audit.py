"""The security audit: real checks of configuration and state, each a finding with a severity."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import or_, select

from server.core.config import PROJECT_ROOT, Settings, weak_secret_reason
from server.core.durations import duration_text
from server.core.extensions import db
from server.models import Role, User, utcnow
from server.security_manager import events, ip_blocking, lockout

SEVERITIES = ("info", "low", "medium", "high", "critical")
ADMIN_INACTIVITY_DAYS = 90


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str


def _secrets(settings: Settings) -> list[Finding]:
    found = []
    for name, value, severity in (
        ("JWT_SECRET_KEY", settings.jwt_secret_key, "critical"),
        (
            "ENCRYPTION_KEY",
            settings.encryption_keys[0] if settings.encryption_keys else "",
            "critical",
        ),
    ):
        reason = weak_secret_reason(value)
        if reason:
            found.append(Finding("secrets", severity, f"{name} {reason}"))
        else:
            found.append(Finding("secrets", "info", f"{name} is set and strong enough"))
    if not settings.password_pepper:
        found.append(
            Finding("secrets", "low", "PASSWORD_PEPPER is not set; password hashes are unpeppered")
        )
    return found


def _runtime(settings: Settings, debug: bool) -> list[Finding]:
    found = [
        Finding("debug", "critical", "Debug mode is on")
        if debug
        else Finding("debug", "info", "Debug mode is off")
    ]
    if settings.is_production and settings.trusted_proxy_count == 0:
        found.append(
            Finding(
                "trusted_proxy",
                "medium",
                "TRUSTED_PROXY_COUNT is 0 in production: behind a proxy every client shares the "
                "proxy's address, so lockout and IP blocks hit everybody",
            )
        )
    else:
        found.append(
            Finding(
                "trusted_proxy", "info", f"TRUSTED_PROXY_COUNT is {settings.trusted_proxy_count}"
            )
        )
    if settings.smtp_host:
        found.append(Finding("smtp", "info", f"Mail goes out through {settings.smtp_host}"))
    else:
        found.append(
            Finding(
                "smtp",
                "high" if settings.is_production else "low",
                "SMTP_HOST is not set: verification and reset mails go to instance/outbox/",
            )
        )
    if settings.is_production and "*" in settings.cors_origins:
        found.append(Finding("cors", "high", "CORS_ORIGINS allows every origin"))
    return found


def _accounts(conn: redis.Redis) -> list[Finding]:
    found = []
    cutoff = utcnow() - timedelta(days=ADMIN_INACTIVITY_DAYS)
    stale = db.session.scalars(
        select(User.email).where(
            User.role == Role.ADMIN.value,
            User.is_active.is_(True),
            or_(User.last_login_at.is_(None), User.last_login_at < cutoff),
        )
    ).all()
    if stale:
        found.append(
            Finding(
                "stale_admins",
                "medium",
                f"{len(stale)} admin account(s) without a login in {ADMIN_INACTIVITY_DAYS} days: "
                + ", ".join(stale[:10]),
            )
        )
    else:
        found.append(Finding("stale_admins", "info", "Every admin logged in recently"))
    locked = lockout.locked_accounts()
    found.append(
        Finding(
            "locked_accounts",
            "medium" if len(locked) >= 10 else ("low" if locked else "info"),
            f"{len(locked)} account(s) locked after failed logins",
        )
    )
    blocked = ip_blocking.count_blocked(conn)
    found.append(
        Finding(
            "blocked_ips",
            "low" if blocked else "info",
            f"{blocked} address(es) blocked right now",
        )
    )
    return found


def _trends() -> list[Finding]:
    now = utcnow()
    day = timedelta(hours=24)
    last = events.count(action="login", outcome="failure", since=now - day, until=now)
    before = events.count(action="login", outcome="failure", since=now - 2 * day, until=now - day)
    if last > max(50, 3 * before):
        severity = "high"
    elif last > max(10, 2 * before):
        severity = "medium"
    else:
        severity = "info"
    return [
        Finding(
            "failed_login_trend",
            severity,
            f"{last} failed logins in the last 24 h (previous 24 h: {before})",
        )
    ]


def _backups(backup_age: Callable[[], timedelta | None] | None) -> list[Finding]:
    if backup_age is None:
        return [Finding("backups", "info", "Backup recency is not reported by the backup module")]
    age = backup_age()
    if age is None:
        return [Finding("backups", "high", "No verified backup exists")]
    severity = "high" if age > timedelta(hours=26) else "info"
    return [
        Finding(
            "backups",
            severity,
            f"The last verified backup is {duration_text(age.total_seconds())} old",
        )
    ]


_PINNED = re.compile(r"^[A-Za-z0-9_.\-\[\]]+==[^=\s;]+(\s*;.*)?$")


def unpinned_requirements(path: Path) -> list[str]:
    """Requirement lines that do not pin an exact version."""
    loose = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        if not _PINNED.match(line):
            loose.append(line)
    return loose


def _dependencies(root: Path) -> list[Finding]:
    path = root / "requirements_production.txt"
    if not path.exists():
        return [Finding("pinned_dependencies", "medium", "requirements_production.txt is missing")]
    loose = unpinned_requirements(path)
    if loose:
        return [
            Finding(
                "pinned_dependencies",
                "medium",
                "Unpinned runtime dependencies: " + ", ".join(loose),
            )
        ]
    return [Finding("pinned_dependencies", "info", "Every runtime dependency is pinned (==)")]


def run_audit(
    *,
    settings: Settings,
    conn: redis.Redis,
    debug: bool,
    root: Path = PROJECT_ROOT,
    backup_age: Callable[[], timedelta | None] | None = None,
) -> dict[str, Any]:
    """Run every check; findings sorted from most to least severe, and a count per severity.

    `backup_age`: the age of the newest verified backup (None: there is none)."""
    findings = [
        *_secrets(settings),
        *_runtime(settings, debug),
        *_accounts(conn),
        *_trends(),
        *_backups(backup_age),
        *_dependencies(root),
    ]
    findings.sort(key=lambda f: -SEVERITIES.index(f.severity))
    summary = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        summary[finding.severity] += 1
    worst = findings[0].severity if findings else "info"
    return {
        "findings": [asdict(f) for f in findings],
        "summary": {**summary, "worst": worst, "total": len(findings)},
        "ran_at": utcnow(),
    }
