"""Job postings found by a user's searches: one row per user and board posting."""

from __future__ import annotations

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
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Posting(db.Model):
    """A posting as the search normalised, scored and stored it for one user.

    `(user_id, source, external_id)` is the board's identity of the posting (a new search
    updates the row); `dedupe_key` is the board-independent identity (company, normalised
    title, location), so the same job seen on two boards is stored once.
    """

    __tablename__ = "postings"
    __table_args__ = (
        UniqueConstraint(
            "user_id", "source", "external_id", name="uq_postings_user_id_source_external_id"
        ),
        Index("ix_postings_user_id_score", "user_id", "score"),
        Index("ix_postings_user_id_dedupe_key", "user_id", "dedupe_key"),
    )

    # An integer id: `job_application` and `project_analysis` payloads name it as `posting_id`.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))  # "greenhouse", "lever", ...
    external_id: Mapped[str] = mapped_column(String(255))  # the board's own id
    company: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    location: Mapped[str | None] = mapped_column(String(500))
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    # "full_time", "part_time", "contract", "internship", "temporary", or None (not given)
    employment_type: Mapped[str | None] = mapped_column(String(32))
    salary_min: Mapped[int | None] = mapped_column(Integer)
    salary_max: Mapped[int | None] = mapped_column(Integer)
    salary_currency: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")  # plain text, HTML removed
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    apply_url: Mapped[str | None] = mapped_column(String(2048))
    # [{"id", "label", "type", "required", "options": [..]}]; [] when the board exposes none
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    score: Mapped[int] = mapped_column(Integer, default=0)  # 0-100 against the latest resume
    # {"skills": {"score", "weight", "matched", "missing"}, "title": {...}, ...}
    score_breakdown: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(64))  # sha256 hex
    # Other boards that listed the same job: [{"source", "external_id", "apply_url"}]
    also_on: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    # The job_search job that last stored it (no foreign key: jobs are pruned, postings stay).
    search_job_id: Mapped[str | None] = mapped_column(String(36))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    def __repr__(self) -> str:
        return f"<Posting {self.id} {self.source}:{self.external_id}>"
