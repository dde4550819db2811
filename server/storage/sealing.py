"""Sealed files: AES-256-GCM under a key derived from ENCRYPTION_KEY, named by a key id.

A sealed file is `MAGIC | key id (8 bytes) | nonce (12 bytes) | ciphertext and tag`. The key
id says which of ENCRYPTION_KEY's keys sealed it, so a file under an older key stays readable
and `flask rotate-encryption-key` finds it and seals it again under the newest. The object's
name is authenticated with it (associated data), so a file copied under another name, or
another user's, does not open.
"""

from __future__ import annotations

import functools
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"JAF\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
_HKDF_INFO = b"job-application-agent file encryption v1"


class SealBroken(Exception):
    """The stored bytes are not a sealed file this service can open with its keys."""


@functools.lru_cache(maxsize=16)
def _derived(secret: str) -> tuple[bytes, AESGCM]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode()
    )
    # The id is a digest of the derived key: it names the key without revealing it.
    key_id = hashlib.sha256(b"file key id\x00" + key).digest()[:KEY_ID_BYTES]
    return key_id, AESGCM(key)


def key_id_of(secret: str) -> bytes:
    """The key id files sealed under this ENCRYPTION_KEY entry carry."""
    return _derived(secret)[0]


def seal(data: bytes, *, name: str, keys: tuple[str, ...]) -> bytes:
    """Encrypt `data`, stored as `name`, under the newest key."""
    if not keys:
        raise ValueError("ENCRYPTION_KEY is not set")
    key_id, cipher = _derived(keys[0])
    nonce = os.urandom(NONCE_BYTES)
    header = MAGIC + key_id + nonce
    return header + cipher.encrypt(nonce, data, header[:-NONCE_BYTES] + name.encode())


def sealed_key_id(blob: bytes) -> bytes:
    """The key id at the head of a sealed file (raises `SealBroken` for anything else)."""
    if len(blob) < HEADER_BYTES or not blob.startswith(MAGIC):
        raise SealBroken("not a sealed file")
    return blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]


def key_index(blob: bytes, *, keys: tuple[str, ...]) -> int | None:
    """Which configured key sealed the file (0: the newest), or None when none of them."""
    key_id = sealed_key_id(blob)
    for index, secret in enumerate(keys):
        if key_id_of(secret) == key_id:
            return index
    return None


def open_sealed(blob: bytes, *, name: str, keys: tuple[str, ...]) -> bytes:
    """The plaintext of a sealed file stored as `name`."""
    index = key_index(blob, keys=keys)
    if index is None:
        raise SealBroken("sealed under a key that is not in ENCRYPTION_KEY")
    _, cipher = _derived(keys[index])
    header = blob[:HEADER_BYTES]
    try:
        return cipher.decrypt(
            header[len(MAGIC) + KEY_ID_BYTES :],
            blob[HEADER_BYTES:],
            header[:-NONCE_BYTES] + name.encode(),
        )
    except InvalidTag:
        raise SealBroken("the file was changed, or stored under another name") from None
