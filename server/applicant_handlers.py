"""Job handlers of the applicant's work: `project_analysis` (and `job_application`).

Imported by `server.job_handlers`, which registers them by type.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from server.agent import project_analysis
from server.agent.engines import get_engine
from server.extensions import db
from server.job_handlers import JobContext, register_handler
from server.models import Resume
from server.schemas.jobs import ProjectAnalysisPayload
from server.services import projects

log = logging.getLogger("server.applicant_handlers")


class PostingUnavailable(Exception):  # noqa: N818 - reads as an outcome
    """The posting a job names is gone (deleted) or not the user's: the job cannot run."""


def newest_parsed_resume(user_id: int) -> dict[str, Any] | None:
    """The structure of the user's newest parsed resume, or None."""
    return db.session.scalar(
        select(Resume.parsed)
        .where(Resume.user_id == user_id, Resume.parsed.is_not(None))
        .order_by(Resume.created_at.desc())
        .limit(1)
    )


def posting_description(user_id: int, posting_id: int) -> str:
    """The text of one of the user's postings that a job is ranked against."""
    from server.services import postings_lookup

    return postings_lookup.description_of(user_id=user_id, posting_id=posting_id)


def _project_dict(project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "technologies": list(project.technologies or []),
        "highlights": list(project.highlights or []),
        "url": project.url,
        "start_date": project.start_date,
        "end_date": project.end_date,
    }


@register_handler(
    "project_analysis",
    max_attempts=3,
    timeout_seconds=300.0,
    payload_schema=ProjectAnalysisPayload,
)
def run_project_analysis(job: JobContext) -> dict[str, Any]:
    """Rank every project of the user for the job; say which to feature or swap in."""
    payload = job.payload
    if payload.get("posting_id") is not None:
        description = posting_description(job.user_id, int(payload["posting_id"]))
    else:
        description = payload["job_description"]
    items = [_project_dict(p) for p in projects.all_of(job.user_id)]
    resume = newest_parsed_resume(job.user_id) or {}
    names = [str(p.get("name") or "") for p in resume.get("projects") or [] if isinstance(p, dict)]
    db.session.rollback()  # no transaction stays open during the engine call
    job.check_cancelled()
    job.report_progress(20, f"ranking {len(items)} projects")
    result = project_analysis.analyse(
        job_description=description,
        projects=items,
        engine=get_engine(),
        resume_project_names=names,
    )
    log.info(
        "projects ranked",
        extra={"job_id": job.job_id, "projects": len(items), "engine": result["engine"]},
    )
    return result
