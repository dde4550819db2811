"""Admin views of the limiter: which subject, and the limits that apply to it."""

from __future__ import annotations

from typing import Any

from server import rate_limiter
from server.core.errors import ValidationFailed
from server.security_manager.ip_blocking import address_subject
from server.services.accounts import get_user

SUBJECT_HELP = "a user id, an IP address, or `global`"


def resolve_subject(*, subject: str) -> tuple[str, str]:
    """The scope of a subject and its counted form: an existing user id (404 when no account
    has it), an IP address (an IPv6 one counts as its /64), or `global`; else 422."""
    text = subject.strip()
    if text == rate_limiter.GLOBAL_SUBJECT:
        return "global", text
    if text.isascii() and text.isdigit():
        return "user", str(get_user(user_id=int(text)).id)
    try:
        return "ip", address_subject(text)
    except ValueError:
        raise ValidationFailed(
            f"subject: {subject[:100]!r} is not {SUBJECT_HELP}",
            details={"subject": [f"expected {SUBJECT_HELP}"]},
        ) from None


def get_usage(*, subject: str) -> dict[str, Any]:
    """A subject's use of each limit of its kind: per-user limits for a user, and so on."""
    scope, counted = resolve_subject(subject=subject)
    return {
        "subject": counted,
        "scope": scope,
        "degraded": rate_limiter.degraded(),
        "limits": rate_limiter.usage(counted, scope),
    }


def reset(*, limit: str, subject: str) -> dict[str, Any]:
    """Reset one limit for one subject; an IPv6 address resets its /64's count."""
    try:
        subject = address_subject(subject)
    except ValueError:
        pass  # a user id or `global`: counted as given
    return rate_limiter.reset(limit=limit, subject=subject)
