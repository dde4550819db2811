"""Security records: the audit trail, one-time tokens, IP blocks, token revocations, failed
logins, stored secrets and uploads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import ENCRYPTED, utcnow


class SecurityEvent(db.Model):
    """One audited action: who, from where, did what to which object, and how it ended."""

    __tablename__ = "security_events"
    # Events of a kind in a period (the audit's trend, filtered pages).
    __table_args__ = (Index("ix_security_events_action_created_at", "action", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    # No foreign key: the trail outlives deleted accounts.
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_email: Mapped[str | None] = mapped_column(String(320))
    client_ip: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OneTimeToken(db.Model):
    """An email-verification or password-reset token; only its SHA-256 is stored."""

    __tablename__ = "one_time_tokens"
    # A user's unused tokens of a purpose are voided when a new one is issued.
    __table_args__ = (Index("ix_one_time_tokens_user_id_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IpBlock(db.Model):
    """The record of a block; Redis holds the live set the request path checks."""

    __tablename__ = "ip_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by_user_id: Mapped[int | None] = mapped_column(Integer)


class LoginFailure(db.Model):
    """An email's consecutive failed logins and its lock (also for emails without an account).

    The truth behind the Redis key `login_lock:account:<email>` the login reads: a Redis that
    lost its data or cannot be reached never lifts a lock or forgets a failure.
    """

    __tablename__ = "login_failures"

    # Text: lower-casing can lengthen an address past the login schema's 320 characters.
    email: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    # The count starts again after this: LOGIN_FAILURE_WINDOW_SECONDS from its first failure.
    window_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class UserCredential(db.Model):
    """A third-party secret a user stored (Mimikree password, job-board key), encrypted."""

    __tablename__ = "user_credentials"
    __table_args__ = (UniqueConstraint("user_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(50))
    username: Mapped[str | None] = mapped_column(String(320))
    secret_encrypted: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ResumeParseStatus(enum.StrEnum):
    PENDING = "pending"
    PARSED = "parsed"
    FAILED = "failed"


class Resume(db.Model):
    """An uploaded resume: stored under a server-made name, the user's filename is metadata."""

    __tablename__ = "resumes"
    # A user's resumes, newest first.
    __table_args__ = (Index("ix_resumes_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    original_filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Where the file is (`server.storage`): `local` or `s3`, sealed; `legacy` for a file
    # written before the store (plain, at instance/uploads/<user id>/<storage key>).
    storage: Mapped[str] = mapped_column(String(8), server_default="legacy")
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The structured resume (its own `parser_version` inside); None until it is parsed.
    parsed: Mapped[dict[str, Any] | None] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    # Parsing runs as a job (`resume_parsing`, its id below): `pending` until it ends, then
    # `parsed`, or `failed` with `parse_error` ({code, message}, as a 422 would say).
    parse_status: Mapped[str] = mapped_column(
        String(16), default=ResumeParseStatus.PARSED.value, server_default="parsed"
    )
    parse_error: Mapped[dict[str, Any] | None] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    parse_job_id: Mapped[str | None] = mapped_column(String(36))


class TokenRevocation(db.Model):
    """A revoked JWT (by jti) or token family, kept until the token could no longer be used.

    The truth behind the Redis blocklist: a wiped Redis is rebuilt from these rows, so a
    revoked token never comes back.
    """

    __tablename__ = "token_revocations"
    __table_args__ = (UniqueConstraint("kind", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "token" (a jti) or "family"
    identifier: Mapped[str] = mapped_column(String(64))
    # For a token: "access", "refresh", or "rotated" (retired by a refresh); for a family: why.
    state: Mapped[str] = mapped_column(String(64))
    # No foreign key: revocations outlive deleted accounts.
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
