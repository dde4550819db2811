"""The backup catalogue: one row per backup this service made or found in its stores.

The stores (a local folder, S3) hold the truth: a backup exists once its manifest is written.
This table indexes them for the API and records what the stores cannot: verifications.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Backup(db.Model):
    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    # running, completed, failed
    status: Mapped[str] = mapped_column(String(20), default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # SHA-256 of the manifest, which holds each file's own SHA-256.
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage: Mapped[str | None] = mapped_column(String(20))  # local, s3, local+s3
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_error: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
