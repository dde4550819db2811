"""Admin backup operations: list the catalogue, queue a backup or a verification."""

from __future__ import annotations

from typing import Any

from server import backup_manager
from server.core.errors import NotFound
from server.core.extensions import db
from server.jobs import job_queue
from server.models import Backup, JobPriority, User


def get_all() -> dict[str, Any]:
    """Every catalogued backup, newest first."""
    return {"backups": backup_manager.get_all()}


def _queued(job_id: str, backup_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "backup_id": backup_id,
        "status": "queued",
        "status_url": f"/api/jobs/{job_id}/status",
    }


def create(*, backup_type: str, admin: User) -> dict[str, Any]:
    """Queue a backup as a job of the admin (its status at `/api/jobs/<id>/status`)."""
    backup_id = backup_manager.new_backup_id(backup_type)
    job_id = job_queue.submit_job(
        user_id=admin.id,
        job_type="backup_create",
        payload={"type": backup_type, "backup_id": backup_id},
        priority=JobPriority.HIGH,
    )
    return _queued(job_id, backup_id)


def verify(*, backup_id: str, admin: User) -> dict[str, Any]:
    """Queue a verification (restore into a scratch database) of a catalogued backup."""
    # Anything not shaped like a backup id names none (and a NUL must not reach PostgreSQL).
    known = backup_manager.ID_PATTERN.fullmatch(backup_id)
    row = db.session.get(Backup, backup_id) if known else None
    if row is None or row.status != "completed":
        raise NotFound(f"No completed backup {backup_id}")
    job_id = job_queue.submit_job(
        user_id=admin.id,
        job_type="backup_verify",
        payload={"backup_id": backup_id},
        priority=JobPriority.HIGH,
    )
    return _queued(job_id, backup_id)
