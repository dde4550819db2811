"""The user's projects: create, read, update, delete; ranked for a job by `project_analysis`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from server.core.errors import ValidationFailed
from server.core.extensions import db
from server.core.pagination import paginate
from server.models import Posting, Project, User
from server.security_manager.sanitising import sanitise_text
from server.services import jobs, resumes
from server.services.ownership import get_owned

MAX_PROJECTS_PER_USER = 200
_TEXT_FIELDS = ("name", "description")
_LIST_FIELDS = ("technologies", "highlights")


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields without markup and control characters; 422 for a name or a list item
    that nothing is left of."""
    cleaned = dict(fields)
    blank: dict[str, list[str]] = {}
    for name in _TEXT_FIELDS:
        if cleaned.get(name):
            cleaned[name] = sanitise_text(cleaned[name])
    if "name" in cleaned and not cleaned["name"]:
        blank["name"] = ["must not be blank (markup and control characters are removed)"]
    for name in _LIST_FIELDS:
        if cleaned.get(name):
            cleaned[name] = [sanitise_text(item) for item in cleaned[name]]
            for index, item in enumerate(cleaned[name]):
                if not item:
                    blank[f"{name}.{index}"] = ["must not be blank"]
    if blank:
        raise ValidationFailed(
            "; ".join(f"{field}: {problems[0]}" for field, problems in blank.items()),
            details={"json": blank},
        )
    return cleaned


def _check_dates(project: Project) -> None:
    if project.start_date and project.end_date and project.end_date < project.start_date:
        db.session.rollback()
        raise ValidationFailed(
            "end_date: must not be before start_date",
            details={"json": {"end_date": ["must not be before start_date"]}},
        )


def create(*, user_id: int, fields: dict[str, Any]) -> Project:
    """Add a project for the user (at most `MAX_PROJECTS_PER_USER`)."""
    count = db.session.scalar(
        select(db.func.count()).select_from(Project).where(Project.user_id == user_id)
    )
    if count >= MAX_PROJECTS_PER_USER:
        raise ValidationFailed(
            f"At most {MAX_PROJECTS_PER_USER} projects per user; delete one first",
            code="too_many_projects",
        )
    project = Project(user_id=user_id, **_clean(fields))
    db.session.add(project)
    db.session.commit()
    return project


def get(*, user_id: int, project_id: int) -> Project:
    """One of the user's projects; 404 for anyone else's."""
    return get_owned(Project, object_id=project_id, user_id=user_id, object_type="project")


def get_all(*, user_id: int, page: int, per_page: int) -> dict[str, Any]:
    """One page of the user's projects, newest first."""
    query = (
        select(Project)
        .where(Project.user_id == user_id)
        .order_by(Project.created_at.desc(), Project.id.desc())
    )
    return paginate(query, page=page, per_page=per_page)


def all_of(user_id: int) -> list[Project]:
    """Every project of the user, oldest first (for the analysis)."""
    return list(
        db.session.scalars(select(Project).where(Project.user_id == user_id).order_by(Project.id))
    )


def update(*, user_id: int, project_id: int, changes: dict[str, Any]) -> Project:
    """Change the given fields of one of the user's projects."""
    project = get(user_id=user_id, project_id=project_id)
    for name, value in _clean(changes).items():
        setattr(project, name, value)
    _check_dates(project)
    db.session.commit()
    return project


def delete(*, user_id: int, project_id: int) -> None:
    """Delete one of the user's projects."""
    project = get(user_id=user_id, project_id=project_id)
    db.session.delete(project)
    db.session.commit()


def analyze(*, user: User, payload: dict[str, Any]) -> dict[str, Any]:
    """Queue a `project_analysis` job; 404 for a posting or a resume that is not the user's."""
    if payload.get("posting_id") is not None:
        get_owned(Posting, object_id=payload["posting_id"], user_id=user.id, object_type="posting")
    if payload.get("resume_id") is not None:
        resumes.get(user_id=user.id, resume_id=uuid.UUID(payload["resume_id"]))
    return jobs.submit(user=user, job_type="project_analysis", payload=payload)
