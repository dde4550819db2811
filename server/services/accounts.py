"""Accounts: registration, authentication, tokens and admin creation."""

from __future__ import annotations

import logging
from typing import Any

from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server import security_manager
from server.config import Settings
from server.errors import Conflict, Unauthorized, ValidationFailed
from server.extensions import db
from server.models import Role, User, utcnow

log = logging.getLogger("server.accounts")

GENERIC_LOGIN_FAILURE = "Invalid email or password"


def normalise_email(email: str) -> str:
    """Trim and lower-case an address so one mailbox maps to one account."""
    return email.strip().lower()


def get_user_by_email(*, email: str) -> User | None:
    """The account with this address, if any."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    *, email: str, password: str, name: str, settings: Settings, role: Role = Role.USER
) -> User:
    """Create an account; 409 if the address is taken."""
    email = normalise_email(email)
    name = name.strip()
    if not name:
        raise ValidationFailed("name: must not be blank", details={"name": ["must not be blank"]})
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict("An account with this email already exists", code="email_taken")
    user = User(
        email=email,
        name=name,
        role=role.value,
        password_hash=security_manager.hash_password(
            password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
        ),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An account with this email already exists", code="email_taken") from None
    return user


def authenticate(*, email: str, password: str, settings: Settings) -> User:
    """Return the user for valid credentials; one generic 401 for every kind of failure."""
    user = get_user_by_email(email=email)
    if user is None:
        security_manager.dummy_password_check(
            password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
        )
        raise Unauthorized(GENERIC_LOGIN_FAILURE, code="invalid_credentials")
    valid = security_manager.verify_password(
        password, user.password_hash, pepper=settings.password_pepper
    )
    if not valid or not user.is_active:
        raise Unauthorized(GENERIC_LOGIN_FAILURE, code="invalid_credentials")
    if security_manager.hash_cost(user.password_hash) != settings.bcrypt_rounds:
        user.password_hash = security_manager.hash_password(
            password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
        )
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def issue_tokens(*, user: User, settings: Settings) -> dict[str, Any]:
    """A fresh access token and a refresh token for a user who just logged in."""
    return {
        "access_token": create_access_token(identity=user, fresh=True),
        "refresh_token": create_refresh_token(identity=user),
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
        "user": user,
    }


def refresh_access_token(*, user: User, settings: Settings) -> dict[str, Any]:
    """A new (non-fresh) access token for the holder of a valid refresh token."""
    return {
        "access_token": create_access_token(identity=user, fresh=False),
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
    }


def logout(*, access_payload: dict[str, Any], refresh_token: str | None) -> None:
    """Revoke the access token and, if given, the caller's refresh token."""
    from server.auth import revoke_token

    refresh_payload = None
    if refresh_token:
        try:
            refresh_payload = decode_token(refresh_token)
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
    revoke_token(access_payload)
    if refresh_payload is not None:
        revoke_token(refresh_payload)


def create_admin(*, email: str, password: str, name: str, settings: Settings) -> User:
    """Create an admin account, or promote an existing one and reset its password."""
    existing = get_user_by_email(email=email)
    if existing is None:
        return create_user(
            email=email, password=password, name=name, settings=settings, role=Role.ADMIN
        )
    existing.role = Role.ADMIN.value
    existing.password_hash = security_manager.hash_password(
        password, rounds=settings.bcrypt_rounds, pepper=settings.password_pepper
    )
    db.session.commit()
    return existing


def get_all_users(*, page: int, per_page: int, role: str | None = None) -> dict[str, Any]:
    """One page of accounts, newest first."""
    query = select(User)
    if role:
        query = query.where(User.role == role)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(User.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return {"items": items, "meta": {"page": page, "per_page": per_page, "total": total}}
