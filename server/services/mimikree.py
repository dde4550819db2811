"""Which Mimikree account answers a user's questions: their linked one, else the deployment's."""

from __future__ import annotations

import logging

from server.agent.mimikree import MimikreeCredentials
from server.core.config import Settings
from server.core.extensions import db
from server.models import User
from server.security_manager.encryption import DecryptionFailed
from server.services import credentials

log = logging.getLogger("server.services.mimikree")


def credentials_for(user_id: int, settings: Settings) -> MimikreeCredentials | None:
    """The user's linked Mimikree account (`PUT /api/user/credentials/mimikree`; without a
    username, their account email), else MIMIKREE_EMAIL/MIMIKREE_PASSWORD, else None."""
    try:
        stored = credentials.get_secret(user_id=user_id, service="mimikree")
    except DecryptionFailed:
        log.warning("stored Mimikree credential cannot be decrypted", extra={"user_id": user_id})
        stored = None
    if stored and stored["secret"]:
        email = stored["username"]
        if not email:
            user = db.session.get(User, user_id)
            email = user.email if user is not None else None
        if email:
            return MimikreeCredentials(email=email, password=stored["secret"], source="user")
    if settings.mimikree_email and settings.mimikree_password:
        return MimikreeCredentials(
            email=settings.mimikree_email, password=settings.mimikree_password
        )
    return None
