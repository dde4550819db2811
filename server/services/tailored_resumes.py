"""Tailored resumes: made by the `resume_tailoring` job, stored per user, listed, downloaded."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server import storage
from server.agent import docx_in_place, mimikree, rendering, tailoring
from server.agent.engines import get_engine
from server.core.config import get_settings
from server.core.errors import QuotaWait, UserFacingError, ValidationFailed
from server.core.extensions import db
from server.core.pagination import paginate
from server.core.redis_client import get_redis
from server.models import Resume, ResumeParseStatus, TailoredResume
from server.schemas.tailored_resumes import ORIGINAL
from server.security_manager.uploads import ALLOWED_EXTENSIONS
from server.services import mimikree as mimikree_accounts
from server.services import resumes
from server.services.ownership import get_owned

log = logging.getLogger("server.tailoring")

# What the job's result carries besides the resume itself (stored as the row's meta).
RESULT_KEYS = (
    "diff",
    "keywords",
    "match_score",
    "dropped_claims",
    "rejected_edits",
    "requirements",
    "evidence",
    "job",
    "mimikree",
    "engine",
    "model",
    "engine_calls",
)


class TailoringFailed(UserFacingError):
    """The tailoring cannot be done, and trying again will not help (no such resume...)."""


@dataclass(frozen=True)
class Download:
    data: bytes
    filename: str
    content_type: str


def create(
    *,
    user_id: int,
    source_resume_id: uuid.UUID | None,
    result: dict[str, Any],
    job_title: str | None = None,
    company: str | None = None,
    job_id: str | None = None,
) -> TailoredResume:
    """Store a tailoring's result (what `tailoring.tailor` returned) for a user.

    With a `job_id`, a second call for the same job returns the first row: a job that runs
    again stores nothing twice.
    """
    if job_id is not None:
        existing = db.session.scalar(select(TailoredResume).where(TailoredResume.job_id == job_id))
        if existing is not None:
            return existing
    row = TailoredResume(
        id=uuid.uuid4(),
        user_id=user_id,
        source_resume_id=source_resume_id,
        job_id=job_id,
        job_title=(job_title or (result.get("job") or {}).get("title") or None),
        company=company,
        structure=result["tailored_resume"],
        result_meta={key: result.get(key) for key in RESULT_KEYS},
    )
    if row.job_title:
        row.job_title = row.job_title[:200]
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        # Another run of the same job stored it first.
        db.session.rollback()
        existing = db.session.scalar(select(TailoredResume).where(TailoredResume.job_id == job_id))
        if job_id is None or existing is None:
            raise
        return existing
    return row


def get(*, user_id: int, tailored_id: uuid.UUID) -> TailoredResume:
    """One of the user's tailored resumes; 404 for a missing one or someone else's."""
    return get_owned(
        TailoredResume, object_id=tailored_id, user_id=user_id, object_type="tailored_resume"
    )


def get_all(*, user_id: int, page: int, per_page: int) -> dict[str, Any]:
    """One page of the user's tailored resumes, newest first."""
    query = (
        select(TailoredResume)
        .where(TailoredResume.user_id == user_id)
        .order_by(TailoredResume.created_at.desc(), TailoredResume.id)
    )
    return paginate(query, page=page, per_page=per_page)


def describe(row: TailoredResume, *, full: bool = False) -> dict[str, Any]:
    """The client view of a stored tailored resume (`full`: with the resume and findings)."""
    meta = row.result_meta or {}
    view = {
        "id": row.id,
        "source_resume_id": row.source_resume_id,
        "job_id": row.job_id,
        "job_title": row.job_title,
        "company": row.company,
        "engine": meta.get("engine"),
        "match_score": meta.get("match_score"),
        "created_at": row.created_at,
    }
    if full:
        view.update(
            tailored_resume=row.structure,
            diff=meta.get("diff") or [],
            keywords=meta.get("keywords") or {},
            dropped_claims=meta.get("dropped_claims") or [],
        )
    return view


def job_result(row: TailoredResume) -> dict[str, Any]:
    """The `resume_tailoring` job's result for a stored row."""
    meta = row.result_meta or {}
    return {
        "tailored_resume_id": str(row.id),
        "tailored_resume": row.structure,
        **{key: meta.get(key) for key in RESULT_KEYS},
    }


def get_download(
    *, user_id: int, tailored_id: uuid.UUID, fmt: str, template: str | None = None
) -> Download:
    """A tailored resume as a Markdown, DOCX or PDF file (the same content in each).

    `template`: `original` (the user's own DOCX with the changed text replaced; the default
    for a DOCX download of a DOCX source), `classic` (the default otherwise) or `compact`.
    """
    row = get(user_id=user_id, tailored_id=tailored_id)
    data = None
    if fmt == "docx" and template in (None, ORIGINAL):
        data = _in_place(row, asked=template == ORIGINAL)
    elif template == ORIGINAL:
        raise ValidationFailed(
            "template: original is the user's own DOCX: ask for format=docx, or choose "
            f"one of {', '.join(rendering.TEMPLATES)}",
            details={"template": ["original needs format=docx"]},
        )
    if data is None:
        data = rendering.render(
            row.structure,
            fmt,
            settings=get_settings(),
            template=None if template == ORIGINAL else template,
        )
    return Download(
        data=data, filename=f"{_file_stem(row)}.{fmt}", content_type=rendering.MEDIA_TYPES[fmt]
    )


def _in_place(row: TailoredResume, *, asked: bool) -> bytes | None:
    """The user's own DOCX with the tailoring's changes, or None when the source is not a
    stored DOCX (or the changes cannot be placed in it): then a template is used, unless
    `asked` for the original, which is a 422 saying why."""
    source = db.session.get(Resume, row.source_resume_id) if row.source_resume_id else None
    why = None
    if source is None or source.user_id != row.user_id:
        why = "the resume it was tailored from is gone"
    elif source.content_type != ALLOWED_EXTENSIONS["docx"] or not source.parsed:
        why = "the resume it was tailored from is not a DOCX"
    else:
        try:
            return docx_in_place.tailor_in_place(
                resumes.read_file(resume=source),
                source=source.parsed,
                tailored=row.structure,
                diff=(row.result_meta or {}).get("diff") or [],
            )
        except storage.MissingObject:
            why = "the original document's file is missing"
        except docx_in_place.NotInDocument as error:
            log.warning(
                "tailored DOCX not written in place",
                extra={"tailored_resume_id": str(row.id), "reason": str(error)},
            )
            why = f"the changes could not be placed in the original document ({error})"
    if asked:
        raise ValidationFailed(
            f"template: original is not available: {why}",
            details={"template": [why or "not available"]},
        )
    return None


def _file_stem(row: TailoredResume) -> str:
    name = str((row.structure.get("contact") or {}).get("name") or "resume")
    words = [w for w in "".join(c if c.isalnum() else " " for c in name).split() if w]
    return "-".join([*words[:4], "tailored"]).lower() or "resume-tailored"


def mimikree_asker(*, user_id: int, job_description: str) -> tailoring.AskMimikree | None:
    """How the tailoring puts questions to the user's Mimikree account (None: no account)."""
    settings = get_settings()
    credentials = mimikree_accounts.credentials_for(user_id, settings)
    if credentials is None:
        return None
    cache_key = mimikree.job_cache_key(job_description)
    redis_conn = get_redis()

    def ask(questions: list[str]) -> list[dict[str, Any]]:
        return mimikree.ask(settings, credentials, questions, cache_key, redis_conn)

    return ask


def tailor_for_job(job: Any) -> dict[str, Any]:
    """Run one `resume_tailoring` job: the pipeline, then the stored row; its result.

    Runs again safely (delivery is at least once): a job that stored its row already returns
    that row's result without calling an engine.
    """
    stored = db.session.scalar(select(TailoredResume).where(TailoredResume.job_id == job.job_id))
    if stored is not None:
        return job_result(stored)
    payload = job.payload
    resume = db.session.get(Resume, uuid.UUID(payload["resume_id"]))
    if resume is None or resume.user_id != job.user_id:
        raise TailoringFailed(f"resume {payload['resume_id']} not found")
    if resume.parse_status == ResumeParseStatus.PENDING.value:
        raise QuotaWait(resumes.RESUME_PARSE_WAIT_SECONDS, "the resume's parsing")  # then tailored
    if not resume.parsed:
        raise TailoringFailed("the resume could not be parsed; upload a readable version")
    parsed, resume_id = resume.parsed, resume.id
    ask_mimikree = mimikree_asker(user_id=job.user_id, job_description=payload["job_description"])
    db.session.rollback()  # hold no transaction open while engines work

    def progress(percent: int, message: str) -> None:
        job.check_cancelled()
        job.report_progress(percent, message)

    result = tailoring.tailor(
        get_engine(),
        resume=parsed,
        job_description=payload["job_description"],
        job_title=payload.get("job_title"),
        company=payload.get("company"),
        progress=progress,
        ask_mimikree=ask_mimikree,
        pdf_fonts=rendering.pdf_fonts_for(get_settings()),
    )
    job.check_cancelled()
    job.report_progress(95, "storing the tailored resume")
    row = create(
        user_id=job.user_id,
        source_resume_id=resume_id,
        result=result,
        job_title=payload.get("job_title"),
        company=payload.get("company"),
        job_id=job.job_id,
    )
    log.info(
        "resume tailored",
        extra={
            "tailored_resume_id": str(row.id),
            "engine": result["engine"],
            "engine_calls": result["engine_calls"],
            "dropped_claims": len(result["dropped_claims"]),
        },
    )
    return job_result(row)
