"""Passwords: the NIST/ASVS policy, bcrypt hashing with an HMAC pre-hash, timing-safe checks.

Strength is estimated with zxcvbn (sequences, keyboard walks, repeats, dates, dictionary words
and the user's own data); the shipped common list is checked first.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import bcrypt

# bcrypt reads at most 72 bytes; passwords are pre-hashed with HMAC-SHA384 (64 base64 bytes)
# so long passphrases are verified exactly as typed, never truncated and never a 500.
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
PRODUCT_WORDS = ("jobapplicationagent", "jobagent", "applicationagent")
MAX_PASSWORD_LENGTH = 1024
# zxcvbn's cost grows with length; past this many characters a password's prefix decides.
STRENGTH_CHECK_CHARACTERS = 72


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
    except (ValueError, TypeError, UnicodeEncodeError):
        return False


def hash_cost(password_hash: str) -> int | None:
    """The bcrypt cost recorded in a hash ("$2b$12$..." → 12)."""
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return None


def needs_rehash(password_hash: str, *, rounds: int) -> bool:
    """True when the stored hash was made at another cost than the configured one."""
    return hash_cost(password_hash) != rounds


_dummy_hashes: dict[int, str] = {}


def dummy_password_check(password: str, *, rounds: int, pepper: str = "") -> None:
    """Spend the same time as a real check, so a missing account cannot be told by timing."""
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("dummy-password-for-timing", rounds=rounds)
    verify_password(password, _dummy_hashes[rounds], pepper=pepper)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _is_common(lowered: str) -> bool:
    common = common_passwords()
    if lowered in common:
        return True
    # "password1234!", "2024monkey": a listed word padded with digits or symbols.
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", lowered)
    if core != lowered and len(core) >= 4 and core in common:
        return True
    # "passwordpassword", "abcabcabcabc", "aaaaaaaaaaaa": a short or listed unit repeated.
    repeated = re.fullmatch(r"(.+?)\1+", lowered)
    return bool(repeated and (len(repeated.group(1)) <= 4 or repeated.group(1) in common))


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _weakness(password: str, user_inputs: list[str], min_strength: int) -> str | None:
    """zxcvbn's verdict in words (its warning and suggestions), or None when strong enough."""
    from zxcvbn import zxcvbn  # imported when first used: its dictionaries take 20 ms to load

    estimate = zxcvbn(password[:STRENGTH_CHECK_CHARACTERS], user_inputs=user_inputs)
    if estimate["score"] >= min_strength:
        return None
    feedback = estimate["feedback"]
    advice = [feedback["warning"]] if feedback["warning"] else []
    advice += feedback["suggestions"] or ["Add another word or two. Uncommon words are better."]
    return "is too easy to guess. " + " ".join(advice)


def password_problem(
    password: str,
    *,
    email: str | None,
    min_length: int,
    min_strength: int = 0,
    user_inputs: Iterable[str] = (),
) -> str | None:
    """Why a new password is refused, or None: length, lists, the user's data, then estimated
    strength (zxcvbn score 0-4 below `min_strength`). No composition rules."""
    length = len(unicodedata.normalize("NFC", password))
    if length < min_length:
        return f"must be at least {min_length} characters long (it has {length})"
    if length > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    lowered = password.lower().strip()
    if _is_common(lowered):
        return "is too common; it appears in lists of passwords attackers try first"
    compact = _compact(password)
    if any(word in compact for word in PRODUCT_WORDS):
        return "must not contain the name of this service"
    own_data = [part for part in user_inputs if part]
    if email:
        local = email.split("@", 1)[0].lower()
        parts = {local, *re.split(r"[._+\-]+", local)}
        if any(len(part) >= 4 and part in lowered for part in parts):
            return "must not contain your email name"
        own_data += [email, *parts]
    if min_strength:
        return _weakness(password, [*own_data, *PRODUCT_WORDS], min_strength)
    return None
