"""The applicant profile: what applications need beyond the resume."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from server.config import get_settings
from server.errors import NotFound
from server.extensions import db
from server.models import ApplicantProfile, User
from server.security_manager import encryption
from server.security_manager.sanitising import sanitise_text

# Every applicant field, null when not given; `eeo` is kept apart, encrypted.
APPLICANT_FIELDS = (
    "phone",
    "location",
    "links",
    "work_authorization",
    "requires_sponsorship",
    "willing_to_relocate",
    "salary_expectation",
    "notice_period_days",
)
_LIST_FIELDS = ("links", "work_authorization")


def _view(user: User, profile: ApplicantProfile | None) -> dict[str, Any]:
    details = profile.details if profile else {}
    view: dict[str, Any] = {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "email_verified_at": user.email_verified_at,
    }
    for field in APPLICANT_FIELDS:
        view[field] = details.get(field, [] if field in _LIST_FIELDS else None)
    view["eeo"] = _decrypt_eeo(profile)
    return view


def _decrypt_eeo(profile: ApplicantProfile | None) -> dict[str, Any] | None:
    if profile is None or not profile.eeo_encrypted:
        return None
    keys = get_settings().encryption_keys
    return json.loads(encryption.decrypt(profile.eeo_encrypted, keys=keys))


def get(*, user_id: int) -> dict[str, Any]:
    """The user's account with the applicant profile (one query)."""
    row = db.session.execute(
        select(User, ApplicantProfile)
        .outerjoin(ApplicantProfile, ApplicantProfile.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    if row is None:
        raise NotFound(resource="user")
    return _view(row[0], row[1])


def update(*, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply validated changes: absent fields stay, null clears one."""
    settings = get_settings()
    profile = db.session.get(ApplicantProfile, user.id)
    if profile is None:
        profile = ApplicantProfile(user_id=user.id, details={})
        db.session.add(profile)
    if "name" in changes:
        user.name = sanitise_text(changes["name"])
    details = dict(profile.details or {})
    for field in APPLICANT_FIELDS:
        if field in changes:
            value = changes[field]
            if field == "location" and value:
                value = sanitise_text(value)
            if field == "links" and value:
                value = [{"label": sanitise_text(v["label"]), "url": v["url"]} for v in value]
            details[field] = value
    profile.details = details
    if "eeo" in changes:
        answers = {k: v for k, v in (changes["eeo"] or {}).items() if v is not None}
        profile.eeo_encrypted = (
            encryption.encrypt(json.dumps(answers), keys=settings.encryption_keys)
            if answers
            else None
        )
    db.session.commit()
    return _view(user, profile)


def applicant_of(user_id: int) -> dict[str, Any]:
    """The profile as the application agent reads it (no commit; for job handlers)."""
    return get(user_id=user_id)
