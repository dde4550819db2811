"""Passwords and the other security primitives the service applies everywhere."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

# bcrypt reads at most 72 bytes; passwords are pre-hashed with HMAC-SHA384 (64 base64 bytes)
# so long passphrases are verified exactly as typed, never truncated and never a 500.
_DUMMY_SALT_ROUNDS = 4


def _prehash(password: str, pepper: str) -> bytes:
    digest = hmac.new(pepper.encode(), password.encode("utf-8", "surrogatepass"), hashlib.sha384)
    return base64.b64encode(digest.digest())


def hash_password(password: str, *, rounds: int, pepper: str = "") -> str:
    """Hash a password with bcrypt at the given cost."""
    return bcrypt.hashpw(_prehash(password, pepper), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str, *, pepper: str = "") -> bool:
    """Check a password against a stored bcrypt hash; malformed input is simply a mismatch."""
    try:
        return bcrypt.checkpw(_prehash(password, pepper), password_hash.encode())
    except (ValueError, TypeError):
        return False


def hash_cost(password_hash: str) -> int | None:
    """The bcrypt cost recorded in a hash ("$2b$12$..." → 12)."""
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return None


_dummy_hashes: dict[int, str] = {}


def dummy_password_check(password: str, *, rounds: int, pepper: str = "") -> None:
    """Spend the same time as a real check, so a missing account cannot be told by timing."""
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("dummy-password-for-timing", rounds=rounds)
    verify_password(password, _dummy_hashes[rounds], pepper=pepper)
