"""Third-party credentials a user stores (Mimikree, job boards), encrypted at rest.

The API never returns a secret; `get_secret` is for the agent code that calls the service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.core.config import get_settings
from server.core.errors import NotFound, ValidationFailed
from server.core.extensions import db
from server.models import User, UserCredential
from server.schemas.user import KNOWN_SERVICES
from server.security_manager import encryption
from server.security_manager.events import record_event
from server.security_manager.sanitising import sanitise_text


def _check_service(service: str) -> str:
    if service not in KNOWN_SERVICES:
        raise ValidationFailed(
            f"service: must be one of {', '.join(KNOWN_SERVICES)}",
            details={"service": [f"must be one of {', '.join(KNOWN_SERVICES)}"]},
        )
    return service


def _find(user_id: int, service: str) -> UserCredential | None:
    return db.session.scalar(
        select(UserCredential).where(
            UserCredential.user_id == user_id, UserCredential.service == service
        )
    )


def put(*, user_id: int, service: str, username: str | None, secret: str) -> UserCredential:
    """Store or replace the user's credential for a service."""
    settings = get_settings()
    service = _check_service(service)
    # One store at a time per user: two first stores at once would both insert the row.
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    credential = _find(user_id, service)
    created = credential is None
    if credential is None:
        credential = UserCredential(user_id=user_id, service=service)
        db.session.add(credential)
    credential.username = sanitise_text(username) if username else None
    credential.secret_encrypted = encryption.encrypt(secret, keys=settings.encryption_keys)
    db.session.commit()
    record_event(
        action="credential_stored",
        outcome="success",
        object_type="credential",
        object_id=service,
        details={"created": created},
    )
    return credential


def get_all(*, user_id: int) -> list[UserCredential]:
    """The user's stored credentials (services and usernames; secrets stay encrypted)."""
    return list(
        db.session.scalars(
            select(UserCredential)
            .where(UserCredential.user_id == user_id)
            .order_by(UserCredential.service)
        )
    )


def delete(*, user_id: int, service: str) -> None:
    """Forget the user's credential for a service; 404 when there is none."""
    credential = _find(user_id, _check_service(service))
    if credential is None:
        raise NotFound("No credential stored for this service", resource="credential")
    db.session.delete(credential)
    db.session.commit()
    record_event(
        action="credential_deleted", outcome="success", object_type="credential", object_id=service
    )


def get_secret(*, user_id: int, service: str) -> dict[str, Any] | None:
    """The decrypted credential for agent code, or None. Never send this to a client."""
    settings = get_settings()
    credential = _find(user_id, service)
    if credential is None:
        return None
    secret = encryption.decrypt(credential.secret_encrypted, keys=settings.encryption_keys)
    return {"username": credential.username, "secret": secret}
