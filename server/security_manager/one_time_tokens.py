"""Single-use tokens for email verification, email changes and password reset.

A token is 256 random bits from `secrets`; only its SHA-256 is stored, with a short expiry.
Issuing a new token for the same purpose voids the user's older ones. Callers commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from server.core.errors import BadRequest
from server.core.extensions import db
from server.models import OneTimeToken, User, utcnow
from server.models.base import as_utc

VERIFY_EMAIL = "verify_email"
CHANGE_EMAIL = "change_email"  # the token's `email` is the address the account moves to
PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a secret


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(*, user: User, purpose: str, lifetime: timedelta, email: str | None = None) -> str:
    """Create a token for a user (for `email`, by default the account's address) and return
    its plain value (shown once, in the mail)."""
    now = utcnow()
    db.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    db.session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(token),
            email=email or user.email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def find_valid(*, token: str, purpose: str | tuple[str, ...]) -> OneTimeToken:
    """The unused, unexpired token of the purpose (or one of the purposes), row-locked; 400
    `invalid_token` otherwise."""
    purposes = (purpose,) if isinstance(purpose, str) else purpose
    record = db.session.scalar(
        select(OneTimeToken)
        .where(OneTimeToken.token_hash == token_digest(token), OneTimeToken.purpose.in_(purposes))
        .with_for_update()
    )
    if record is None or record.used_at is not None or as_utc(record.expires_at) <= utcnow():
        raise BadRequest("The link is invalid, expired or already used", code="invalid_token")
    return record


def consume(*, token: str, purpose: str | tuple[str, ...]) -> OneTimeToken:
    """Mark a valid token used and return it; 400 `invalid_token` when unknown, used or expired."""
    record = find_valid(token=token, purpose=purpose)
    record.used_at = utcnow()
    return record
