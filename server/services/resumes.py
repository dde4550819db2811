"""Uploaded resumes: validated, stored under server-made names outside any served folder."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from server import rate_limiter, storage
from server.agent.intake import fetch_resume
from server.agent.resume_parsing import (
    PARSER_VERSION,
    DocumentUnreadable,
    ExtractionLimits,
    parse_document,
)
from server.core.config import Settings, get_settings
from server.core.errors import ApiError, Conflict, NotFound, StorageUnavailable
from server.core.extensions import db
from server.jobs import job_queue
from server.models import Resume, ResumeParseStatus, User
from server.security_manager.events import record_event
from server.security_manager.sanitising import sanitise_filename, strip_control_characters
from server.security_manager.uploads import ALLOWED_EXTENSIONS, validate_upload
from server.services.ownership import get_owned

log = logging.getLogger("server.resumes")
EXTENSION_BY_CONTENT_TYPE = {content_type: ext for ext, content_type in ALLOWED_EXTENSIONS.items()}
LEGACY = "legacy"  # a resume's `storage` for a file written before the store


@dataclass(frozen=True)
class Download:
    """What a download sends: the stored bytes under a name a header can carry."""

    data: bytes
    filename: str
    content_type: str
    sha256: str
    created_at: datetime


def legacy_path(*, resume: Resume) -> Path:
    """Where a file written before the store lives: instance/uploads/<user_id>/<storage key>."""
    return get_settings().uploads_dir / str(resume.user_id) / resume.storage_key


def object_name(*, resume: Resume) -> str:
    """The resume's name in the file store."""
    return f"{storage.user_prefix(resume.user_id)}resumes/{resume.storage_key}"


def read_file(*, resume: Resume) -> bytes:
    """The resume's bytes, from wherever its row says they are (`MissingObject` when gone,
    `StorageUnavailable` when the store cannot be reached)."""
    if resume.storage == LEGACY:
        try:
            return legacy_path(resume=resume).read_bytes()
        except FileNotFoundError:
            raise storage.MissingObject(resume.storage_key) from None
    return storage.store_for(resume.storage).get(object_name(resume=resume))


def delete_file(*, resume: Resume) -> None:
    """Delete the resume's file from wherever it is (a missing one is no error)."""
    if resume.storage == LEGACY:
        legacy_path(resume=resume).unlink(missing_ok=True)
    else:
        storage.store_for(resume.storage).delete(object_name(resume=resume))


def _check_quota(user_id: int, size: int, settings: Settings) -> None:
    # Hold the account row until this upload commits, so simultaneous uploads of one user
    # are checked one after another rather than all against the same old total.
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    count, used = db.session.execute(
        select(func.count(Resume.id), func.coalesce(func.sum(Resume.size_bytes), 0)).where(
            Resume.user_id == user_id
        )
    ).one()
    if count >= settings.upload_max_files_per_user:
        raise Conflict(
            f"Upload quota reached: at most {settings.upload_max_files_per_user} files; "
            "delete one first",
            code="upload_quota_exceeded",
        )
    if used + size > settings.upload_quota_bytes_per_user:
        raise Conflict(
            f"Upload quota reached: at most {settings.upload_quota_bytes_per_user} bytes in all",
            code="upload_quota_exceeded",
        )


def parsing_limits(settings: Settings) -> ExtractionLimits:
    """The limits the document reader runs under, from the settings."""
    return ExtractionLimits(
        cpu_seconds=settings.resume_parse_cpu_seconds,
        memory_bytes=settings.resume_parse_memory_mb * 1024 * 1024,
        wall_seconds=settings.resume_parse_timeout_seconds,
        max_pages=settings.resume_parse_max_pages,
        max_concurrent=settings.resume_parse_max_concurrent,
    )


PARSE_JOB = "resume_parsing"
# How often a job whose resume is still being parsed (a `resume_parsing` job) looks again.
RESUME_PARSE_WAIT_SECONDS = 2.0
PARSE_LIMIT = "resume_parses_per_user_per_day"


def create(*, user_id: int, filename: str, data: bytes) -> Resume:
    """Validate and store an upload, and queue its parsing; the user's filename is kept as
    metadata only.

    Nothing is parsed here (a hostile document costs its reader seconds of CPU): the file is
    checked (type, size, archive limits), counted against the upload quota and against
    `resume_parses_per_user_per_day`, stored with `parse_status` `pending`, and a
    `resume_parsing` job reads it (`parse`). Refusals (413, 415, 422, 409, 429) store nothing.
    """
    settings = get_settings()
    checked = validate_upload(filename=filename, data=data, max_bytes=settings.upload_max_bytes)
    _check_quota(user_id, len(data), settings)
    store = storage.get_store(settings)
    resume = Resume(
        id=uuid.uuid4(),
        user_id=user_id,
        original_filename=sanitise_filename(filename),
        storage_key=uuid.uuid4().hex,
        storage=store.name,
        content_type=checked.content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        parse_status=ResumeParseStatus.PENDING.value,
    )
    _spend_parse(user_id, holder=resume.storage_key)
    name = object_name(resume=resume)
    # The file is stored whole before any row names it: a store that cannot be reached
    # (503) leaves no row and gives the parse back.
    try:
        store.put(name, data)
    except StorageUnavailable:
        db.session.rollback()
        _give_back_parse(user_id, holder=resume.storage_key)
        raise
    db.session.add(resume)
    resume_id = resume.id
    try:
        # Commits the resume and its job together (the job first in PostgreSQL, then queued).
        job_id = job_queue.submit(
            user_id=user_id, job_type=PARSE_JOB, payload={"resume_id": str(resume_id)}
        ).job_id
    except Exception:
        db.session.rollback()
        _forget(store, name)
        raise
    resume = db.session.get(Resume, resume_id)
    resume.parse_job_id = job_id
    db.session.commit()
    record_event(
        action="resume_uploaded",
        outcome="success",
        object_type="resume",
        object_id=resume.id,
        details={"size_bytes": resume.size_bytes, "content_type": resume.content_type},
    )
    return resume


def _spend_parse(user_id: int, *, holder: str) -> None:
    """Count one parse against the user's daily allowance before anything is stored (429)."""
    limiter = rate_limiter.get_rate_limiter()
    if not limiter.enabled:
        return
    decision = limiter.hit((PARSE_LIMIT,), str(user_id), holder=holder)
    if not decision.allowed:
        raise rate_limiter.refusal(decision, anonymous=False)


def _give_back_parse(user_id: int, *, holder: str) -> None:
    """Take back the parse `_spend_parse` counted for an upload that stored nothing."""
    limiter = rate_limiter.get_rate_limiter()
    if limiter.enabled:
        limiter.give_back(holder=holder, subject=str(user_id), names=(PARSE_LIMIT,))


def _forget(store: storage.FileStore, name: str) -> None:
    """Delete a file no row came to name (best effort: an orphan is harmless, only space)."""
    try:
        store.delete(name)
    except StorageUnavailable:
        log.warning("stored file left without a row", extra={"name": name})


def parse(*, resume_id: uuid.UUID) -> Resume | None:
    """Read a stored resume into its structure (the `resume_parsing` job's work): `parsed`, or
    `failed` with the reason a 422 would give, which is raised again (`DocumentUnreadable`).

    None when the resume is gone (deleted meanwhile); a resume parsed already is left as it is.
    """
    settings = get_settings()
    resume = db.session.get(Resume, resume_id)
    if resume is None or resume.parse_status != ResumeParseStatus.PENDING.value:
        return resume
    extension = EXTENSION_BY_CONTENT_TYPE[resume.content_type]
    try:
        data = read_file(resume=resume)
    except storage.MissingObject:
        db.session.rollback()
        error = {"code": "file_missing", "message": "The resume's file is missing"}
        _finish_parse(resume_id, error=error)
        raise NotFound("The resume's file is missing; upload it again", resource="resume") from None
    db.session.rollback()  # no transaction stays open while the document is read
    try:
        parsed = parse_document(extension=extension, data=data, limits=parsing_limits(settings))
    except DocumentUnreadable as exc:
        _finish_parse(resume_id, error={"code": exc.code, "message": str(exc.message)})
        raise
    return _finish_parse(resume_id, parsed=parsed)


def _finish_parse(
    resume_id: uuid.UUID,
    *,
    parsed: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
) -> Resume | None:
    resume = db.session.get(Resume, resume_id, with_for_update=True)
    if resume is None:
        db.session.rollback()
        return None
    resume.parsed = parsed
    resume.parse_error = error
    failed = ResumeParseStatus.FAILED.value
    resume.parse_status = failed if error is not None else ResumeParseStatus.PARSED.value
    db.session.commit()
    return resume


def create_from_link(*, user_id: int, url: str) -> Resume:
    """Fetch a resume from a Google Docs or direct PDF/DOCX link, then store it as an upload."""
    fetched = fetch_resume(url=url, settings=get_settings())
    return create(user_id=user_id, filename=fetched.filename, data=fetched.data)


def reparse_outdated() -> tuple[int, int]:
    """Parse every stored resume whose structure is missing or older than the parser.

    One commit per resume, so a long run keeps what it did; a file that cannot be read is
    logged and skipped. Returns (parsed, failed).
    """
    settings = get_settings()
    ids = list(db.session.scalars(select(Resume.id).order_by(Resume.created_at)))
    parsed_count = failed = 0
    for resume_id in ids:
        resume = db.session.get(Resume, resume_id)
        if resume is None or (resume.parsed or {}).get("parser_version") == PARSER_VERSION:
            continue
        try:
            extension = EXTENSION_BY_CONTENT_TYPE[resume.content_type]
            resume.parsed = parse_document(
                extension=extension, data=read_file(resume=resume), limits=parsing_limits(settings)
            )
            resume.parse_status, resume.parse_error = ResumeParseStatus.PARSED.value, None
        except (OSError, ApiError, storage.MissingObject, storage.SealBroken) as exc:
            log.warning(
                "resume not reparsed", extra={"resume_id": str(resume_id), "error": str(exc)}
            )
            db.session.rollback()
            failed += 1
            continue
        db.session.commit()
        parsed_count += 1
    return parsed_count, failed


def get(*, user_id: int, resume_id: uuid.UUID) -> Resume:
    """One of the user's resumes; 404 for a missing one or someone else's."""
    return get_owned(Resume, object_id=resume_id, user_id=user_id, object_type="resume")


def get_download(*, user_id: int, resume_id: uuid.UUID) -> Download:
    """One of the user's resumes, ready to send; 404 when it or its stored file is missing.

    The name is cleaned again, for rows stored before upload names were made one line.
    """
    resume = get(user_id=user_id, resume_id=resume_id)
    try:
        data = read_file(resume=resume)
    except storage.MissingObject:
        log.error(
            "resume file missing", extra={"resume_id": str(resume.id), "storage": resume.storage}
        )
        raise NotFound("The resume's file is missing; upload it again", resource="resume") from None
    return Download(
        data=data,
        filename=strip_control_characters(resume.original_filename).strip() or "resume",
        content_type=resume.content_type,
        sha256=resume.sha256,
        created_at=resume.created_at,
    )


def get_all(*, user_id: int) -> list[Resume]:
    """The user's resumes, newest first."""
    return list(
        db.session.scalars(
            select(Resume).where(Resume.user_id == user_id).order_by(Resume.created_at.desc())
        )
    )


def delete(*, user_id: int, resume_id: uuid.UUID) -> None:
    """Delete one of the user's resumes and its file."""
    resume = get(user_id=user_id, resume_id=resume_id)
    # The file goes first: a store that cannot be reached (503) leaves the resume as it was,
    # never a row whose file is gone; a file deleted under a row that then stays is a 404
    # on download, as for any missing file.
    delete_file(resume=resume)
    db.session.delete(resume)
    db.session.commit()
    record_event(
        action="resume_deleted", outcome="success", object_type="resume", object_id=resume_id
    )
