"""Queued jobs: PostgreSQL holds the record; Redis only dispatches."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.extensions import db
from server.models.base import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPriority(enum.IntEnum):
    """A job's priority band: lower runs first."""

    CRITICAL = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4
    BULK = 5


WAITING_STATUSES = (JobStatus.QUEUED.value, JobStatus.SCHEDULED.value)
TERMINAL_STATUSES = (
    JobStatus.SUCCEEDED.value,
    JobStatus.FAILED.value,
    JobStatus.CANCELLED.value,
)


def new_job_id() -> str:
    return str(uuid.uuid4())


# A job's place in line within its priority band (PostgreSQL only; see `Job.queue_seq`). It
# starts above any number the Redis-side counter it replaces could have reached, so jobs
# recorded after the change queue behind those Redis held already.
QUEUE_SEQUENCE = Sequence("jobs_queue_seq", start=2**32)


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_id_idempotency_key"),
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        # Indexes the queries need (migration 0011): waiting jobs by priority in line order
        # (reconciler, stats, running-job scans), a user's jobs filtered by status or type,
        # finished jobs by time (throughput, retention).
        Index("ix_jobs_status_priority_created_at", "status", "priority", "created_at"),
        Index("ix_jobs_user_id_status_created_at", "user_id", "status", "created_at"),
        Index("ix_jobs_user_id_job_type_created_at", "user_id", "job_type", "created_at"),
        Index("ix_jobs_finished_at", "finished_at"),
    )
    # The INSERT returns `queue_seq` (drawn from its sequence), so a submit can enqueue the job
    # without reading its row again after the commit.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_job_id)
    # None for the service's own jobs (mail): they belong to no user, count against no
    # user's cap and appear in no user's list.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_type: Mapped[str] = mapped_column(String(50))
    priority: Mapped[int] = mapped_column(Integer)
    # Its place in line within the priority band (the queue's score is band * 2^40 + this),
    # drawn from a PostgreSQL sequence when the row is inserted: the line survives Redis losing
    # its data, and a job enqueued again takes its old place. None on SQLite, where the Redis
    # counter `jobq:{default}:seq` numbers jobs as they are enqueued.
    queue_seq: Mapped[int | None] = mapped_column(BigInteger, QUEUE_SEQUENCE)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    progress_percent: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[Any | None] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lost_leases: Mapped[int] = mapped_column(Integer, default=0)
    # Runs cut short by a lost connection to Redis or PostgreSQL; like lost leases, they do not
    # count as attempts.
    outage_retries: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The lease of the current run; every write of a worker is guarded by it (fencing).
    lease_token: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.job_type} {self.status}>"


class SideEffectState(enum.StrEnum):
    STARTED = "started"  # recorded before the effect; left so if the run died during it
    DONE = "done"


class SideEffect(db.Model):
    """An effect outside our databases (a mail, a submitted application), recorded under a key
    before it is made, so a job that runs again does not make it twice."""

    __tablename__ = "side_effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(20), default=SideEffectState.STARTED.value)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
