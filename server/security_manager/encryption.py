"""Field encryption for secrets at rest: Fernet with MultiFernet, so ENCRYPTION_KEY can rotate.

Every column that holds such values is declared with `info=ENCRYPTED` (`server.models.base`),
which puts it in the one registry (`encrypted_columns()`) that the key rotation and the
deployment check go through.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column

_HKDF_INFO = b"job-application-agent field encryption v1"


class DecryptionFailed(Exception):
    """The stored value cannot be decrypted with any configured key."""


def _fernet_for(key: str) -> Fernet:
    """A Fernet key is used as is; any other strong secret is stretched into one with HKDF."""
    try:
        return Fernet(key.encode())
    except ValueError:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            key.encode()
        )
        return Fernet(base64.urlsafe_b64encode(derived))


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[Fernet, ...]:
    if not keys:
        raise ValueError("ENCRYPTION_KEY is not set")
    return tuple(_fernet_for(key) for key in keys)


@functools.lru_cache(maxsize=8)
def field_cipher(keys: tuple[str, ...]) -> MultiFernet:
    """The cipher for the configured keys, newest first (it encrypts with the first)."""
    return MultiFernet(list(_fernets(keys)))


def key_index(token: str, *, keys: tuple[str, ...]) -> int | None:
    """Which configured key made the token (0: the newest), or None when none of them did."""
    for index, fernet in enumerate(_fernets(keys)):
        try:
            fernet.decrypt(token.encode())
        except (InvalidToken, ValueError):
            continue
        return index
    return None


def encrypted_columns() -> list[Column]:
    """Every column declared with `info=ENCRYPTED`, in table order."""
    import server.models  # noqa: F401 - every table declared
    from server.core.extensions import db

    return [
        column
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.info.get("encrypted")
    ]


def encrypt(plaintext: str, *, keys: tuple[str, ...]) -> str:
    """Encrypt a secret with the newest key."""
    return field_cipher(keys).encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, keys: tuple[str, ...]) -> str:
    """Decrypt with whichever configured key made the token."""
    try:
        return field_cipher(keys).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise DecryptionFailed(
            "stored secret cannot be decrypted with the configured keys"
        ) from None


def rotate(token: str, *, keys: tuple[str, ...]) -> str:
    """Re-encrypt a token with the newest key."""
    try:
        return field_cipher(keys).rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionFailed(
            "stored secret cannot be decrypted with the configured keys"
        ) from None
