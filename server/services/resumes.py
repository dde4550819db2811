"""Uploaded resumes: validated, stored under server-made names outside any served folder."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from server.agent.intake import fetch_resume
from server.agent.resume_parsing import PARSER_VERSION, ExtractionLimits, parse_document
from server.config import Settings, get_settings
from server.errors import ApiError, Conflict, NotFound
from server.extensions import db
from server.models import Resume, User
from server.security_manager.events import record_event
from server.security_manager.sanitising import sanitise_filename, strip_control_characters
from server.security_manager.uploads import ALLOWED_EXTENSIONS, validate_upload
from server.services.ownership import get_owned

log = logging.getLogger("server.resumes")
EXTENSION_BY_CONTENT_TYPE = {content_type: ext for ext, content_type in ALLOWED_EXTENSIONS.items()}


@dataclass(frozen=True)
class Download:
    """What a download sends: the stored bytes under a name a header can carry."""

    path: Path
    filename: str
    content_type: str


def storage_path(*, resume: Resume) -> Path:
    """Where a resume's bytes live: instance/uploads/<user_id>/<storage key>."""
    settings = get_settings()
    return settings.uploads_dir / str(resume.user_id) / resume.storage_key


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


def create(*, user_id: int, filename: str, data: bytes) -> Resume:
    """Validate, parse and store an upload; the user's filename is kept as metadata only.

    Parsing happens before the quota check takes its row lock, so a slow document never holds
    the lock; a document that cannot be parsed is refused (422) and nothing is stored.
    """
    settings = get_settings()
    checked = validate_upload(filename=filename, data=data, max_bytes=settings.upload_max_bytes)
    parsed = parse_document(extension=checked.extension, data=data, limits=parsing_limits(settings))
    _check_quota(user_id, len(data), settings)
    resume = Resume(
        id=uuid.uuid4(),
        user_id=user_id,
        original_filename=sanitise_filename(filename),
        storage_key=uuid.uuid4().hex,
        content_type=checked.content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        parsed=parsed,
    )
    path = storage_path(resume=resume)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
    db.session.add(resume)
    try:
        db.session.commit()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    record_event(
        action="resume_uploaded",
        outcome="success",
        object_type="resume",
        object_id=resume.id,
        details={"size_bytes": resume.size_bytes, "content_type": resume.content_type},
    )
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
        path = storage_path(resume=resume)
        try:
            extension = EXTENSION_BY_CONTENT_TYPE[resume.content_type]
            resume.parsed = parse_document(
                extension=extension, data=path.read_bytes(), limits=parsing_limits(settings)
            )
        except (OSError, ApiError) as exc:
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
    path = storage_path(resume=resume)
    if not path.is_file():
        log.error("resume file missing", extra={"resume_id": str(resume.id), "path": str(path)})
        raise NotFound("The resume's file is missing; upload it again", resource="resume")
    return Download(
        path=path,
        filename=strip_control_characters(resume.original_filename).strip() or "resume",
        content_type=resume.content_type,
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
    path = storage_path(resume=resume)
    db.session.delete(resume)
    db.session.commit()
    path.unlink(missing_ok=True)
    record_event(
        action="resume_deleted", outcome="success", object_type="resume", object_id=resume_id
    )
