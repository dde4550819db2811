"""The applicant profile: what applications need beyond the resume."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import bindparam, select

from server.core.config import get_settings
from server.core.errors import Unauthorized, ValidationFailed
from server.core.extensions import db
from server.models import ApplicantProfile, User
from server.security_manager import encryption
from server.security_manager.sanitising import sanitise_text
from server.services.hot_reads import HotQuery, read_row

log = logging.getLogger("server.services.profiles")

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


_ACCOUNT_FIELDS = (
    "id",
    "email",
    "name",
    "role",
    "is_active",
    "created_at",
    "last_login_at",
    "email_verified_at",
)
_USERS = User.__table__.c
_PROFILES = ApplicantProfile.__table__.c
# The account and its applicant profile in one statement, read on the hot path (a client
# polls its profile): `server.services.hot_reads`.
_PROFILE_QUERY = HotQuery(
    select(
        *(_USERS[name] for name in _ACCOUNT_FIELDS),
        _PROFILES.details,
        _PROFILES.eeo_encrypted,
    )
    .select_from(User.__table__.outerjoin(ApplicantProfile.__table__))
    .where(_USERS.id == bindparam("user_id"))
)


def _view(user: Any, details: dict[str, Any] | None, eeo_encrypted: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {name: getattr(user, name) for name in _ACCOUNT_FIELDS}
    details = details or {}
    for field in APPLICANT_FIELDS:
        view[field] = details.get(field, [] if field in _LIST_FIELDS else None)
    view["eeo"], readable = _decrypt_eeo(eeo_encrypted, user_id=user.id)
    view["unreadable_fields"] = [] if readable else ["eeo"]
    return view


def _decrypt_eeo(eeo_encrypted: str | None, *, user_id: int) -> tuple[dict[str, Any] | None, bool]:
    """The EEO answers and whether they could be read. Answers stored under a key no longer in
    ENCRYPTION_KEY are answered as null and named in `unreadable_fields`, so the rest of the
    profile reads and the user can clear or replace them."""
    if not eeo_encrypted:
        return None, True
    keys = get_settings().encryption_keys
    try:
        return json.loads(encryption.decrypt(eeo_encrypted, keys=keys)), True
    except encryption.DecryptionFailed:
        _log_unreadable(user_id)
        return None, False


_logged_unreadable: set[int] = set()


def _log_unreadable(user_id: int) -> None:
    """Warn once per user and process: the profile is polled, the operator needs one line."""
    if user_id in _logged_unreadable or len(_logged_unreadable) >= 10_000:
        return
    _logged_unreadable.add(user_id)
    log.warning(
        "EEO answers cannot be decrypted with any key in ENCRYPTION_KEY; answered as unreadable",
        extra={"user_id": user_id, "column": "applicant_profiles.eeo_encrypted"},
    )


def get(*, user_id: int) -> dict[str, Any]:
    """The user's account with the applicant profile, read in one statement outside any
    transaction (`server.services.hot_reads`); 401 when the account is gone or disabled."""
    row = read_row(_PROFILE_QUERY, {"user_id": user_id})
    if row is None or not row.is_active:
        raise Unauthorized("User not found or disabled")
    return _view(row, row.details, row.eeo_encrypted)


def row_if_active(*, user_id: int) -> Any | None:
    """The row `get` describes, for the fast path (`server.web.fast_path`): None when the
    account is gone or disabled (the request then takes the usual path, which answers 401)."""
    row = read_row(_PROFILE_QUERY, {"user_id": user_id})
    return row if row is not None and row.is_active else None


def view_of(row: Any) -> dict[str, Any]:
    """The profile answer for a row of `row_if_active`."""
    return _view(row, row.details, row.eeo_encrypted)


def update(*, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply validated changes: absent fields stay, null clears one."""
    settings = get_settings()
    # One change at a time per user: two first changes at once would both insert the
    # profile row, and two later ones would each write back the details the other replaced.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    profile = db.session.get(ApplicantProfile, user.id, populate_existing=True)
    if profile is None:
        profile = ApplicantProfile(user_id=user.id, details={})
        db.session.add(profile)
    if "name" in changes:
        user.name = _clean(changes["name"], "name", 200)
    details = dict(profile.details or {})
    for field in APPLICANT_FIELDS:
        if field in changes:
            value = changes[field]
            if field == "location" and value:
                value = _clean(value, "location", 200)
            if field == "links" and value:
                value = [
                    {"label": _clean(v["label"], f"links.{i}.label", 50), "url": v["url"]}
                    for i, v in enumerate(value)
                ]
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
    return _view(user, profile.details, profile.eeo_encrypted)


def _clean(value: str, field: str, limit: int) -> str:
    """`value` without markup and control characters; 422 when nothing is left of it, or
    when the escaped text outgrows the field's documented length ("<" is stored as "&lt;")."""
    cleaned = sanitise_text(value)
    problem = None
    if not cleaned:
        problem = "must not be blank (markup and control characters are removed)"
    elif len(cleaned) > limit:
        problem = f"at most {limit} characters once markup is escaped"
    if problem:
        raise ValidationFailed(f"{field}: {problem}", details={"json": {field: [problem]}})
    return cleaned


def applicant_of(user_id: int) -> dict[str, Any]:
    """The profile as the application agent reads it (no commit; for job handlers)."""
    return get(user_id=user_id)
