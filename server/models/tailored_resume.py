"""Tailored resumes: a structured resume made for one job, with what the tailoring found."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")


class TailoredResume(db.Model):
    """One tailoring's output: the resume (same structure as a parsed one) and its findings."""

    __tablename__ = "tailored_resumes"
    __table_args__ = (Index("ix_tailored_resumes_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The resume it was made from; kept when that resume is deleted.
    source_resume_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("resumes.id", ondelete="SET NULL")
    )
    # The job that made it, so a job that runs again stores nothing twice.
    job_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    job_title: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    structure: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # Everything else the tailoring returned: diff, keywords, match score, dropped claims...
    result_meta: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
