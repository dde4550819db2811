"""What an applicant tells us beyond the resume: the applicant profile and the projects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import ENCRYPTED, utcnow
from server.models.job import JsonType


class ApplicantProfile(db.Model):
    """One row per user, created on the first change.

    `details` holds the validated fields applications read (phone, location, links, work
    authorisation, sponsorship, relocation, salary expectation, notice period); the optional
    EEO answers are special-category data, so they are kept encrypted in `eeo_encrypted`.
    """

    __tablename__ = "applicant_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    eeo_encrypted: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Project(db.Model):
    """A project the user did; ranked for a job by `project_analysis`."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    technologies: Mapped[list[str]] = mapped_column(JsonType, default=list)
    url: Mapped[str | None] = mapped_column(String(2048))
    # "YYYY-MM" or "YYYY", as the resume parser writes dates.
    start_date: Mapped[str | None] = mapped_column(String(7))
    end_date: Mapped[str | None] = mapped_column(String(7))
    highlights: Mapped[list[str]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
