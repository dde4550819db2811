"""Short-lived tokens that open one object, for clients that cannot send an `Authorization`
header (a browser's `EventSource`), which pass them as `?token=`.

A scoped token is a JWT carrying an `aud` (audience) claim, the id of the one object it opens
(`obj`), and the session generation (`sgen`) and login family of the access token it was issued
for. It is signed with a key derived from the JWT secret for its audience alone, so it is no
access token (the access-token check would otherwise take any non-refresh JWT signed with the
secret), an access token is no scoped token, and a token of one audience opens nothing of
another.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

JOB_EVENTS = "job-events"  # the audience of a token that opens one job's event stream
ALGORITHM = "HS256"


def _key(secret: str, audience: str) -> bytes:
    return hmac.new(secret.encode(), f"scoped-token:{audience}".encode(), hashlib.sha256).digest()


def issue(
    *,
    secret: str,
    audience: str,
    object_id: str,
    user_id: int,
    session_generation: int,
    family: str | None,
    seconds: int,
) -> str:
    """A token that lets this user open this one object, for `seconds`."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "aud": audience,
        "obj": object_id,
        "sgen": session_generation,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(seconds=seconds),
    }
    if family:
        claims["family"] = family
    return jwt.encode(claims, _key(secret, audience), algorithm=ALGORITHM)


def decode(token: str, *, secret: str, audience: str) -> dict[str, Any]:
    """The claims of a valid, unexpired token for `audience` (PyJWT's errors otherwise)."""
    return jwt.decode(
        token,
        _key(secret, audience),
        algorithms=[ALGORITHM],
        audience=audience,
        options={"require": ["sub", "aud", "obj", "jti", "exp"]},
    )
