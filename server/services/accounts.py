"""Accounts: registration, login protection, tokens, email verification, password changes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from server import security_manager, storage
from server.core.config import Settings, get_settings
from server.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    StorageUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from server.core.extensions import db
from server.core.pagination import paginate
from server.core.redis_client import get_redis
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority
from server.models import OneTimeToken, Resume, Role, User, UserCredential, utcnow
from server.security_manager import ip_blocking, lockout, one_time_tokens, token_revocations
from server.security_manager.events import record_event
from server.security_manager.sanitising import sanitise_text

log = logging.getLogger("server.accounts")

GENERIC_LOGIN_FAILURE = "Invalid email or password"
RESET_REQUESTED = "If an account exists for this address, a message with a reset link is on its way"
RESET_COOLDOWN_PREFIX = "password_reset_cooldown:"
# One "you have an account already" mail an hour per address, however often it is registered.
REGISTERED_NOTICE_PREFIX = "registered_notice_cooldown:"
REGISTERED_NOTICE_SECONDS = 3600
MAIL_JOB = "send_email"


def normalise_email(email: str) -> str:
    """Trim and lower-case an address so one mailbox maps to one account."""
    return email.strip().lower()


def get_user_by_email(*, email: str) -> User | None:
    """The account with this address, if any."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user(*, user_id: int) -> User:
    """An account by id; 404 when there is none."""
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise NotFound("No such account", resource="user")
    return user


def check_new_password(
    *, password: str, email: str | None, field: str, name: str | None = None
) -> None:
    """422 naming the rule, and how to do better, when a new password is not acceptable."""
    settings = get_settings()
    problem = security_manager.password_problem(
        password,
        email=email,
        min_length=settings.password_min_length,
        min_strength=settings.password_min_strength,
        user_inputs=name.split() if name else (),
    )
    if problem:
        raise ValidationFailed(
            f"{field}: {problem}", code="weak_password", details={field: [problem]}
        )


# The public view of an account (schemas.auth.UserOut), and whether it is active. Built once
# (see `hot_reads.read_row`).
def _clean_name(name: str) -> str:
    cleaned = sanitise_text(name)
    if not cleaned:
        raise ValidationFailed("name: must not be blank", details={"name": ["must not be blank"]})
    return cleaned


def _hash(password: str, settings: Settings) -> str:
    return security_manager.hash_password(
        password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
    )


def _set_password(user: User, password: str, settings: Settings) -> None:
    """Store a new password and end every existing session of the user."""
    user.password_hash = _hash(password, settings)
    user.password_changed_at = utcnow()
    user.session_generation = (user.session_generation or 0) + 1


def create_user(*, email: str, password: str, name: str, role: Role = Role.USER) -> User:
    """Create an account; 422 for a weak password, 409 if the address is taken (for the CLI
    and admins: the public registration is `register`)."""
    settings = get_settings()
    email = normalise_email(email)
    name = _clean_name(name)
    check_new_password(password=password, email=email, field="password", name=name)
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict("An account with this email already exists", code="email_taken")
    return _insert_user(email=email, name=name, role=role, password_hash=_hash(password, settings))


def register(*, email: str, password: str, name: str) -> User:
    """Create an account; 422 for a weak password.

    An address that has an account already gets the same answer, and nothing is created: its
    owner is mailed instead, so the answer says nothing about which addresses have accounts.
    Both ways do the same work (the password's check and hash, one row written, one event).
    """
    settings = get_settings()
    email = normalise_email(email)
    name = _clean_name(name)
    check_new_password(password=password, email=email, field="password", name=name)
    password_hash = _hash(password, settings)
    if get_user_by_email(email=email) is None:
        try:
            return _insert_user(email=email, name=name, role=Role.USER, password_hash=password_hash)
        except Conflict:  # registered at the same moment by another request
            pass
    return _registered_already(email=email, name=name)


def _registered_already(*, email: str, name: str) -> User:
    """Mail the owner of a registered address, and answer as a new account would (an unsaved
    account with the id the next one would take: PostgreSQL spends it, as an insert does)."""
    if get_redis().set(REGISTERED_NOTICE_PREFIX + email, 1, nx=True, ex=REGISTERED_NOTICE_SECONDS):
        _queue_mails({"kind": "registered_already", "email": email})
    record_event(action="registration_refused", outcome="mailed_owner", actor_email=email)
    if db.session.get_bind().dialect.name == "postgresql":
        next_id = db.session.scalar(text("SELECT nextval(pg_get_serial_sequence('users', 'id'))"))
    else:  # the development database: not spent
        next_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    db.session.rollback()
    return User(
        id=next_id,
        email=email,
        name=name,
        role=Role.USER.value,
        is_active=True,
        created_at=utcnow(),
        last_login_at=None,
        email_verified_at=None,
    )


def _insert_user(*, email: str, name: str, role: Role, password_hash: str) -> User:
    user = User(
        email=email,
        name=name,
        role=role.value,
        password_hash=password_hash,
        password_changed_at=utcnow(),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An account with this email already exists", code="email_taken") from None
    record_event(
        action="account_created",
        outcome="success",
        actor_user_id=user.id,
        actor_email=user.email,
        object_type="user",
        object_id=user.id,
        details={"role": user.role},
    )
    return user


def authenticate(*, email: str, password: str, client_ip: str | None = None) -> User:
    """Return the user for valid credentials.

    Unknown account, wrong password, locked account and disabled account all get the same
    401, after the same bcrypt work. Only the per-address throttle answers 429 (it says
    nothing about any account).
    """
    settings = get_settings()
    email = normalise_email(email)
    conn = get_redis()
    wait = lockout.ip_throttle_seconds(conn, ip=client_ip, settings=settings)
    if wait:
        record_event(
            action="login", outcome="throttled", actor_email=email, details={"retry_after": wait}
        )
        raise TooManyRequests(
            "Too many failed logins from this address; try again later",
            code="login_throttled",
            headers={"Retry-After": str(wait)},
            per_address=True,
        )
    locked_for = lockout.account_lock_seconds(conn, email=email)
    user = get_user_by_email(email=email)
    if user is None:
        security_manager.dummy_password_check(
            password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
        )
        valid = False
    else:
        valid = security_manager.verify_password(
            password, user.password_hash, pepper=settings.password_pepper
        )
    if user is not None and valid and user.is_active and not locked_for:
        return _login_succeeded(user, password, conn, settings)

    if user is None:
        reason = "unknown_account"
    elif locked_for:
        reason = "account_locked"
    elif not valid:
        reason = "wrong_password"
    else:
        reason = "account_disabled"
    outcome = lockout.register_failure(
        conn, email=email, ip=client_ip, settings=settings, count_account=not locked_for
    )
    record_event(
        action="login",
        outcome="failure",
        actor_user_id=user.id if user else None,
        actor_email=email,
        details={"reason": reason, "consecutive_failures": outcome.account_failures},
    )
    _record_lock(outcome, user_id=user.id if user else None, email=email)
    ip_blocking.note_failed_login_spread(
        conn, ip=client_ip, distinct_accounts=outcome.ip_distinct_accounts, settings=settings
    )
    raise Unauthorized(GENERIC_LOGIN_FAILURE, code="invalid_credentials")


def _record_lock(outcome: lockout.FailureOutcome, *, user_id: int | None, email: str) -> None:
    if outcome.locked_for_seconds:
        record_event(
            action="account_locked",
            outcome="success",
            actor_user_id=user_id,
            actor_email=email,
            object_type="account",
            object_id=email,
            details={
                "failures": outcome.account_failures,
                "lock_seconds": outcome.locked_for_seconds,
            },
        )


def _login_succeeded(user: User, password: str, conn, settings: Settings) -> User:
    lockout.clear_account(conn, email=user.email)
    if security_manager.needs_rehash(user.password_hash, rounds=settings.bcrypt_rounds):
        user.password_hash = _hash(password, settings)
    user.last_login_at = utcnow()
    db.session.commit()
    record_event(action="login", outcome="success", actor_user_id=user.id, actor_email=user.email)
    return user


def _token_body(user: User, settings: Settings, *, family: str, fresh: bool) -> dict[str, Any]:
    claims = {"family": family}
    return {
        "access_token": create_access_token(identity=user, fresh=fresh, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
    }


def issue_tokens(*, user: User) -> dict[str, Any]:
    """A fresh access token and a refresh token, starting a new token family (one login)."""
    settings = get_settings()
    body = _token_body(user, settings, family=uuid.uuid4().hex, fresh=True)
    return {**body, "user": user}


def refresh_tokens(*, user: User, refresh_payload: dict[str, Any]):
    """Rotate: retire the presented refresh token, return a new (non-fresh) access token and a
    new refresh token of the same family. A token retired before means it leaked: 401, and the
    whole family is revoked. PostgreSQL decides, so this holds whatever Redis lost."""
    settings = get_settings()
    conn = get_redis()
    outcome = token_revocations.rotate_refresh_token(conn, payload=refresh_payload)
    if outcome == token_revocations.FAMILY_REVOKED:
        raise Unauthorized("Token has been revoked")
    if outcome == token_revocations.REUSED:
        token_revocations.revoke_family_after_reuse(
            conn, payload=refresh_payload, settings=settings
        )
        raise Unauthorized("Token has been revoked", code="refresh_token_reused")
    family = refresh_payload.get("family") or uuid.uuid4().hex
    return _token_body(user, settings, family=family, fresh=False)


def logout(*, access_payload: dict[str, Any], refresh_token: str | None) -> None:
    """Revoke the access token, the given refresh token and every token of the same login."""
    settings = get_settings()
    refresh_payload = None
    if refresh_token:
        try:
            # An expired refresh token still identifies the login being ended.
            refresh_payload = decode_token(refresh_token, allow_expired=True)
        except (PyJWTError, JWTExtendedException) as exc:
            raise ValidationFailed(
                f"refresh_token: not a valid token ({exc})",
                details={"refresh_token": ["not a valid token"]},
            ) from None
        if refresh_payload.get("type") != "refresh":
            raise ValidationFailed(
                "refresh_token: not a refresh token",
                details={"refresh_token": ["not a refresh token"]},
            )
        if refresh_payload.get("sub") != access_payload.get("sub"):
            raise ValidationFailed(
                "refresh_token: belongs to another account",
                details={"refresh_token": ["belongs to another account"]},
            )
    token_revocations.revoke(
        get_redis(),
        revocations=[
            token_revocations.token_revocation(access_payload),
            token_revocations.token_revocation(refresh_payload) if refresh_payload else None,
            token_revocations.family_revocation(access_payload, reason="logout", settings=settings),
        ],
    )
    record_event(
        action="logout",
        outcome="success",
        object_type="token_family",
        object_id=access_payload.get("family"),
    )


@dataclass(frozen=True)
class AdminOutcome:
    """What `create_admin` did, so the operator is told."""

    user: User
    created: bool
    promoted: bool
    password_reset: bool


def create_admin(
    *,
    email: str,
    name: str,
    password: str | None = None,
    reset_password: bool = False,
) -> AdminOutcome:
    """Create an admin account, or promote an existing one.

    An existing account keeps its password and sessions unless `reset_password` is set: a
    mistyped or reused address must not lock its owner out.
    """
    settings = get_settings()
    existing = get_user_by_email(email=email)
    if existing is None:
        if password is None:
            raise ValidationFailed(
                "password: required for a new account", details={"password": ["required"]}
            )
        user = create_user(email=email, password=password, name=name, role=Role.ADMIN)
        outcome = AdminOutcome(user, created=True, promoted=True, password_reset=False)
    else:
        if reset_password:
            if password is None:
                raise ValidationFailed(
                    "password: required to reset the password", details={"password": ["required"]}
                )
            check_new_password(
                password=password,
                email=existing.email,
                field="password",
                name=existing.name,
            )
            _set_password(existing, password, settings)
        promoted = existing.role != Role.ADMIN.value
        existing.role = Role.ADMIN.value
        db.session.commit()
        outcome = AdminOutcome(
            existing, created=False, promoted=promoted, password_reset=reset_password
        )
    record_event(
        action="admin_created",
        outcome="success",
        object_type="user",
        object_id=outcome.user.id,
        details={
            "created": outcome.created,
            "promoted": outcome.promoted,
            "password_reset": outcome.password_reset,
        },
    )
    return outcome


def get_all_users(*, page: int, per_page: int, role: str | None = None) -> dict[str, Any]:
    """One page of accounts, newest first."""
    query = select(User)
    if role:
        query = query.where(User.role == role)
    return paginate(query.order_by(User.id.desc()), page=page, per_page=per_page)


# Email verification and password reset -----------------------------------------------------


def _link(settings: Settings, purpose: str, token: str) -> str:
    return f"{settings.public_base_url}/{purpose}?token={token}"


def _queue_mails(*payloads: dict[str, Any]) -> None:
    """Queue mails for the `send_email` job: a worker composes and sends each, with retries,
    at most once, so no request waits for (or is timed by) the mail server."""
    job_queue.submit_jobs(
        jobs=[
            job_queue.NewJob(
                user_id=None, job_type=MAIL_JOB, payload=payload, priority=JobPriority.HIGH
            )
            for payload in payloads
        ]
    )


def compose_mail(*, payload: dict[str, Any]) -> dict[str, str] | None:
    """The mail a queued `send_email` job sends (`to`, `subject`, `body`), or None when there is
    nothing to send any more. Issues and commits the single-use token the mail's link needs."""
    settings = get_settings()
    kind = payload.get("kind")
    if kind == "verify_email":
        return _verification_mail(payload, settings)
    if kind == "password_reset":
        return _password_reset_mail(payload, settings)
    if kind == "email_changed":
        return {
            "to": payload["old_email"],
            "subject": "Your email address was changed",
            "body": (
                f"The address of your account was changed to {payload['new_email']}. If it was "
                "not you, reset your password and contact support.\n"
            ),
        }
    if kind == "email_change_requested":
        return {
            "to": payload["old_email"],
            "subject": "A change of your email address was asked for",
            "body": (
                f"Someone signed in to your account asked to move it to {payload['new_email']}. "
                "It moves only when the link mailed to that address is followed. If it was not "
                "you, change your password.\n"
            ),
        }
    if kind == "confirm_email_change":
        return _email_change_mail(payload, settings)
    if kind == "registered_already":
        return _owner_notice(
            payload["email"],
            "Someone tried to register with your address",
            f"someone asked to create an account at {settings.public_base_url} with this "
            "address, which has an account already: yours. Nothing was created or changed. If "
            "it was you, log in as usual (or ask for a password reset if you forgot it); if "
            "not, you can ignore this message.",
        )
    if kind == "address_in_use":
        return _owner_notice(
            payload["email"],
            "Someone tried to move an account to your address",
            "someone signed in to another account asked to move it to this address, which has "
            "an account already: yours. Nothing was changed, and your account is as it was.",
        )
    raise ValueError(f"unknown mail kind {kind!r}")


def _owner_notice(email: str, subject: str, text: str) -> dict[str, str] | None:
    """A mail to the owner of an address (None when it has no account any more)."""
    user = get_user_by_email(email=email)
    if user is None:
        return None
    return {"to": user.email, "subject": subject, "body": f"Hello {user.name},\n\n{text}\n"}


def _email_change_mail(payload: dict[str, Any], settings: Settings) -> dict[str, str] | None:
    user = db.session.get(User, payload["user_id"])
    new_email = payload["new_email"]
    if user is None or user.email == new_email or get_user_by_email(email=new_email):
        return None  # deleted, moved there already, or the address was taken meanwhile
    hours = settings.email_verification_hours
    token = one_time_tokens.issue(
        user=user,
        purpose=one_time_tokens.CHANGE_EMAIL,
        lifetime=timedelta(hours=hours),
        email=new_email,
    )
    db.session.commit()
    return {
        "to": new_email,
        "subject": "Confirm your new email address",
        "body": (
            f"Hello {user.name},\n\nto move your account to this address, confirm it with this "
            f"code:\n\n{token}\n\nor open {_link(settings, 'verify-email', token)}\n\n"
            f"It works once, for {hours} hours. If you did not ask for it, ignore this message.\n"
        ),
    }


def _token_mail(
    *,
    user: User,
    purpose: str,
    lifetime: timedelta,
    subject: str,
    compose: Callable[[str], str],
) -> dict[str, str]:
    token = one_time_tokens.issue(user=user, purpose=purpose, lifetime=lifetime)
    db.session.commit()
    return {"to": user.email, "subject": subject, "body": compose(token)}


def _verification_mail(payload: dict[str, Any], settings: Settings) -> dict[str, str] | None:
    user = db.session.get(User, payload["user_id"])
    if user is None or user.email != payload["email"] or user.email_verified_at is not None:
        return None  # deleted, moved to another address, or verified meanwhile
    hours = settings.email_verification_hours
    return _token_mail(
        user=user,
        purpose=one_time_tokens.VERIFY_EMAIL,
        lifetime=timedelta(hours=hours),
        subject="Confirm your email address",
        compose=lambda token: (
            f"Hello {user.name},\n\nconfirm your email address with this code:\n\n{token}\n\n"
            f"or open {_link(settings, 'verify-email', token)}\n\n"
            f"It works once, for {hours} hours. If you did not ask for it, ignore this message.\n"
        ),
    )


def _password_reset_mail(payload: dict[str, Any], settings: Settings) -> dict[str, str] | None:
    email = payload["email"]
    user = get_user_by_email(email=email)
    if user is None or not user.is_active:
        record_event(
            action="password_reset_mail",
            outcome="ignored",
            actor_email=email,
            details={"reason": "unknown or disabled account"},
        )
        return None
    minutes = settings.password_reset_minutes
    mail = _token_mail(
        user=user,
        purpose=one_time_tokens.PASSWORD_RESET,
        lifetime=timedelta(minutes=minutes),
        subject="Reset your password",
        compose=lambda token: (
            f"Hello {user.name},\n\nsomeone asked to reset the password of this account. "
            f"Use this code:\n\n{token}\n\nor open {_link(settings, 'reset-password', token)}\n\n"
            f"It works once, for {minutes} minutes. If it was not you, ignore this message: "
            "your password stays as it is.\n"
        ),
    )
    record_event(
        action="password_reset_mail", outcome="success", actor_user_id=user.id, actor_email=email
    )
    return mail


def request_email_verification(*, user: User) -> bool:
    """Queue a verification mail for the user; False when the address is verified already."""
    if user.email_verified_at is not None:
        return False
    _queue_mails({"kind": "verify_email", "user_id": user.id, "email": user.email})
    record_event(action="email_verification_requested", outcome="success")
    return True


def confirm_email_verification(*, token: str) -> User:
    """Mark the address verified, or move the account to the address an email change asked
    for; 400 `invalid_token` for an unknown, used or expired token."""
    record = one_time_tokens.consume(
        token=token, purpose=(one_time_tokens.VERIFY_EMAIL, one_time_tokens.CHANGE_EMAIL)
    )
    user = db.session.get(User, record.user_id)
    if user is not None and record.purpose == one_time_tokens.CHANGE_EMAIL:
        return _move_email(user, record.email)
    if user is None or user.email != record.email:
        db.session.rollback()
        raise BadRequest("The link is invalid, expired or already used", code="invalid_token")
    user.email_verified_at = utcnow()
    db.session.commit()
    record_event(
        action="email_verified", outcome="success", actor_user_id=user.id, actor_email=user.email
    )
    return user


def request_password_reset(*, email: str) -> None:
    """Queue a reset mail for the address; the caller answers the same either way.

    The request does the same work whether or not the address has an account (a cooldown
    check and one queued job); the worker looks the address up, so neither the answer nor its
    timing says whether an account exists.
    """
    settings = get_settings()
    email = normalise_email(email)
    cooldown = settings.password_reset_cooldown_seconds
    if cooldown and not get_redis().set(RESET_COOLDOWN_PREFIX + email, 1, nx=True, ex=cooldown):
        record_event(action="password_reset_requested", outcome="throttled", actor_email=email)
        return
    _queue_mails({"kind": "password_reset", "email": email})
    record_event(action="password_reset_requested", outcome="queued", actor_email=email)


def confirm_password_reset(*, token: str, new_password: str) -> None:
    """Set a new password with a reset token; ends every session and lifts a lockout."""
    settings = get_settings()
    record = one_time_tokens.find_valid(token=token, purpose=one_time_tokens.PASSWORD_RESET)
    user = db.session.get(User, record.user_id)
    if user is None or user.email != record.email or not user.is_active:
        db.session.rollback()
        raise BadRequest("The link is invalid, expired or already used", code="invalid_token")
    try:
        check_new_password(
            password=new_password,
            email=user.email,
            field="new_password",
            name=user.name,
        )
    except ValidationFailed:
        db.session.rollback()  # the token stays usable for a better password
        raise
    record.used_at = utcnow()
    _set_password(user, new_password, settings)
    # Following the emailed link proves the mailbox is the user's.
    user.email_verified_at = user.email_verified_at or utcnow()
    db.session.commit()
    lockout.clear_account(get_redis(), email=user.email)
    record_event(
        action="password_reset", outcome="success", actor_user_id=user.id, actor_email=user.email
    )


# Changes by the signed-in user (need a fresh login) -----------------------------------------


def _require_current_password(
    user: User, password: str, settings: Settings, action: str, client_ip: str | None
) -> None:
    """Check a re-entered password under the login lockout: failures count like failed logins
    (same counter, same tiers), and a locked account is refused even the right password."""
    conn = get_redis()
    locked_for = lockout.account_lock_seconds(conn, email=user.email)
    valid = security_manager.verify_password(
        password, user.password_hash, pepper=settings.password_pepper
    )
    if valid and not locked_for:
        lockout.clear_account(conn, email=user.email)
        return
    outcome = lockout.register_failure(
        conn, email=user.email, ip=client_ip, settings=settings, count_account=not locked_for
    )
    record_event(
        action=action,
        outcome="failure",
        details={
            "reason": "account locked" if locked_for else "wrong password",
            "consecutive_failures": outcome.account_failures,
        },
    )
    _record_lock(outcome, user_id=user.id, email=user.email)
    locked_for = locked_for or outcome.locked_for_seconds
    if locked_for:
        # The caller holds a fresh token of this account, so saying "locked" reveals nothing.
        raise TooManyRequests(
            f"Too many wrong passwords: the account is locked for {locked_for} more seconds",
            code="account_locked",
            headers={"Retry-After": str(locked_for)},
        )
    raise Forbidden("The current password is not correct", code="invalid_password")


def change_password(
    *,
    user: User,
    current_password: str,
    new_password: str,
    client_ip: str | None = None,
) -> None:
    """Change the password; every session of the user ends, so the client logs in again."""
    settings = get_settings()
    _require_current_password(user, current_password, settings, "password_changed", client_ip)
    check_new_password(
        password=new_password,
        email=user.email,
        field="new_password",
        name=user.name,
    )
    if security_manager.verify_password(
        new_password, user.password_hash, pepper=settings.password_pepper
    ):
        raise ValidationFailed(
            "new_password: must differ from the current password",
            code="weak_password",
            details={"new_password": ["must differ from the current password"]},
        )
    _set_password(user, new_password, settings)
    db.session.commit()
    record_event(action="password_changed", outcome="success")
    record_event(
        action="sessions_revoked", outcome="success", object_type="user", object_id=user.id
    )


def change_email(
    *,
    user: User,
    new_email: str,
    current_password: str,
    client_ip: str | None = None,
) -> User:
    """Ask to move the account to a new address: it moves when the link mailed there is
    followed (the address is then verified), and the current address is told of the request.

    An address that belongs to another account gets the same answer and changes nothing: its
    owner is mailed instead, so the answer says nothing about which addresses have accounts.
    """
    settings = get_settings()
    _require_current_password(user, current_password, settings, "email_changed", client_ip)
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise ValidationFailed(
            "new_email: is already the account's address",
            details={"new_email": ["is already the account's address"]},
        )
    taken = get_user_by_email(email=new_email) is not None
    record_event(
        action="email_change_requested",
        outcome="mailed_owner" if taken else "success",
        object_type="user",
        object_id=user.id,
        details={"new_email": new_email},
    )
    _queue_mails(
        {"kind": "email_change_requested", "old_email": user.email, "new_email": new_email},
        {"kind": "address_in_use", "email": new_email}
        if taken
        else {"kind": "confirm_email_change", "user_id": user.id, "new_email": new_email},
    )
    return user


def _move_email(user: User, new_email: str) -> User:
    """Move the account to an address its owner confirmed (a CHANGE_EMAIL token's)."""
    taken = BadRequest("This address belongs to another account now", code="invalid_token")
    if get_user_by_email(email=new_email) is not None:
        db.session.rollback()
        raise taken
    old_email = user.email
    user.email = new_email
    user.email_verified_at = utcnow()  # following the mailed link proves the mailbox
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise taken from None
    record_event(
        action="email_changed",
        outcome="success",
        actor_user_id=user.id,
        actor_email=new_email,
        object_type="user",
        object_id=user.id,
        details={"old_email": old_email, "new_email": new_email},
    )
    _queue_mails({"kind": "email_changed", "old_email": old_email, "new_email": new_email})
    return user


def delete_account(*, user: User, current_password: str, client_ip: str | None = None) -> None:
    """Delete the account with its resumes, stored credentials and tokens."""
    settings = get_settings()
    _require_current_password(user, current_password, settings, "account_deleted", client_ip)
    user_id, email = user.id, user.email
    # The account's waiting and running jobs are cancelled in this transaction, and taken out
    # of the queue only once it has committed: a failed delete leaves them as they were.
    # The files go first: a bucket that cannot be reached (503) leaves the account as it was,
    # rather than an account gone with its files left behind.
    storage.delete_user(user_id, settings)
    cancelled = job_queue.cancel_open_jobs(user_id=user_id)
    for model in (Resume, UserCredential, OneTimeToken):
        db.session.execute(delete(model).where(model.user_id == user_id))
    db.session.delete(user)
    db.session.commit()
    job_queue.withdraw_cancelled(job_ids=cancelled)
    try:  # again: a job that was running may have stored a file meanwhile
        storage.delete_user(user_id, settings)
    except StorageUnavailable:
        log.warning(
            "files stored during the account's deletion are left", extra={"user_id": user_id}
        )
    lockout.clear_account(get_redis(), email=email)
    record_event(
        action="account_deleted",
        outcome="success",
        actor_user_id=user_id,
        actor_email=email,
        object_type="user",
        object_id=user_id,
    )


# Admin actions ------------------------------------------------------------------------------


def set_active(*, user_id: int, active: bool, admin: User) -> User:
    """Enable or disable an account; disabling ends its sessions at once."""
    user = get_user(user_id=user_id)
    if not active and user.id == admin.id:
        raise ValidationFailed("An admin cannot disable their own account", code="self_disable")
    if user.is_active != active:
        user.is_active = active
        if not active:
            user.session_generation = (user.session_generation or 0) + 1
        db.session.commit()
    record_event(
        action="account_enabled" if active else "account_disabled",
        outcome="success",
        object_type="user",
        object_id=user.id,
    )
    return user


def unlock_email(*, email: str) -> bool:
    """Lift the login lock of an address (with an account or not, as failures count for both)
    and forget its failures; True if it was locked."""
    email = normalise_email(email)
    was_locked = lockout.clear_account(get_redis(), email=email)
    record_event(
        action="account_unlocked",
        outcome="success",
        object_type="account",
        object_id=email,
        details={"was_locked": was_locked},
    )
    return was_locked


def unlock(*, user_id: int) -> User:
    """Lift a login lockout and forget the account's failed logins."""
    user = get_user(user_id=user_id)
    was_locked = lockout.clear_account(get_redis(), email=user.email)
    record_event(
        action="account_unlocked",
        outcome="success",
        object_type="user",
        object_id=user.id,
        details={"was_locked": was_locked},
    )
    return user
