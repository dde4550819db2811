"""Applications the agent prepares and submits, and every submission attempt's record."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import utcnow
from server.models.job import JsonType


class ApplicationState(enum.StrEnum):
    SAVED = "saved"
    NEEDS_DETAILS = "needs_details"  # a job URL whose title or company is unknown
    PREPARING = "preparing"
    READY_FOR_REVIEW = "ready_for_review"
    # The browser channel: required questions nobody could answer (the user answers them).
    NEEDS_REVIEW = "needs_review"
    # The browser channel: the page needs a person (CAPTCHA, account, unknown form, ...).
    NEEDS_HUMAN = "needs_human"
    # A send began and may have reached the company, unconfirmed (an e-mail whose SMTP reply
    # never came, a Submit click by a run that died before seeing the outcome): never sent
    # again until the user says whether it arrived.
    SUBMITTED_UNCONFIRMED = "submitted_unconfirmed"
    SUBMITTED = "submitted"
    RESPONDED = "responded"
    INTERVIEW = "interview"
    OFFER = "offer"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class SubmissionChannel(enum.StrEnum):
    RECRUITEE = "recruitee"
    EMAIL = "email"
    BROWSER = "browser"
    MANUAL = "manual"


class Application(db.Model):
    """One candidacy of a user for one posting (or job URL): its package and its state.

    `target_key` (`posting:<id>`, or `url:` and the SHA-256 of the job URL) is unique per user: one application per
    user and posting.
    """

    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("user_id", "target_key", name="uq_applications_user_id_target_key"),
        Index("ix_applications_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    posting_id: Mapped[int | None] = mapped_column(
        ForeignKey("postings.id", ondelete="SET NULL"), index=True
    )
    job_url: Mapped[str | None] = mapped_column(String(2048))
    target_key: Mapped[str] = mapped_column(String(100))
    resume_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("resumes.id", ondelete="SET NULL")
    )
    company: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    # A job URL's posting text (given, or read from its page); a posting has its own.
    job_description: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(10), default="review")
    state: Mapped[str] = mapped_column(String(30), default=ApplicationState.SAVED.value)
    channel: Mapped[str | None] = mapped_column(String(20))
    apply_email: Mapped[str | None] = mapped_column(String(320))
    # The job that prepares it, and the one that sends it (while one is pending).
    job_id: Mapped[str | None] = mapped_column(String(36))
    submission_job_id: Mapped[str | None] = mapped_column(String(36))
    # {cover_letter, answers: [...], tailored_resume, resume, engine}
    package: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Every state it went through, oldest first: [{state, from, at}] (see _record_state).
    state_history: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)


class ApplicationSubmission(db.Model):
    """One submission attempt, with its channel and outcome, kept server-side for good."""

    __tablename__ = "application_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))  # sent, failed, marked, retrying, unknown
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApplicationScreenshot(db.Model):
    """A full-page screenshot the browser channel took of an application's form (`page`) or
    of the ATS's answer after Submit (`confirmation`); numbered from 1 per application."""

    __tablename__ = "application_screenshots"
    __table_args__ = (UniqueConstraint("application_id", "number", name="uq_screenshot_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    # The image is in the file store (`storage`: `local` or `s3`, under `storage_key`), or,
    # for one taken while the store was unreachable or before it existed, here.
    png: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage: Mapped[str | None] = mapped_column(String(8))
    storage_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SavedAnswer(db.Model):
    """A user's answer to a form question, kept for the next form that asks it (matched by
    the question's normalised label)."""

    __tablename__ = "saved_answers"
    __table_args__ = (UniqueConstraint("user_id", "label_key", name="uq_saved_answer_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label_key: Mapped[str] = mapped_column(String(300))
    label: Mapped[str] = mapped_column(Text)
    answer: Mapped[Any] = mapped_column(JsonType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


@event.listens_for(Application.state, "set")
def _record_state(target: Application, value: str, oldvalue: Any, _initiator: Any) -> None:
    """Append each new state to `state_history`, whichever code path sets it (a new list, so
    the change is saved with the state in the same flush)."""
    if value == oldvalue:
        return
    change = {
        "state": value,
        "from": oldvalue if isinstance(oldvalue, str) else None,
        "at": utcnow().isoformat(),
    }
    target.state_history = [*(target.state_history or []), change]
