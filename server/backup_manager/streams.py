"""Streams: SHA-256 while writing, and client-side encryption in chunks (AES-256-GCM)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from server.backup_manager.errors import BackupError, BackupIntegrityError

COPY_CHUNK = 1024 * 1024


class HashingWriter(io.RawIOBase):
    """A write-only stream that hashes (SHA-256) and counts what passes into `target`."""

    def __init__(self, target: BinaryIO):
        self.target = target
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self.target.write(view)
        self.sha256.update(view)
        self.bytes += len(view)
        return len(view)


_MAGIC = b"JAGBAK01"
_SALT_BYTES = 16
_PREFIX_BYTES = 7
_HEADER_BYTES = len(_MAGIC) + _SALT_BYTES + _PREFIX_BYTES
ENCRYPTION_CHUNK = 1024 * 1024
_TAG_BYTES = 16


def _file_key(secret: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"job-agent backup file v1"
    ).derive(secret.encode())


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 2**32:
        raise BackupError("file too large to encrypt (2^32 chunks)")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """Encrypts a stream into `target`: AES-256-GCM over chunks (the STREAM construction).

    Layout: magic, a random salt (the file key is HKDF(secret, salt)), a random nonce prefix;
    then chunks of `4-byte length || ciphertext+tag`. A chunk's nonce is the prefix, its
    counter and a last-chunk flag, and the header is authenticated with every chunk, so
    reordering, truncation and appending are all detected on decryption. Memory use is one
    chunk whatever the file's size (Fernet would need the whole file).
    """

    def __init__(self, target: BinaryIO, secret: str):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.target = target
        salt = secrets.token_bytes(_SALT_BYTES)
        self._prefix = secrets.token_bytes(_PREFIX_BYTES)
        self._aead = AESGCM(_file_key(secret, salt))
        self._header = _MAGIC + salt + self._prefix
        self._buffer = bytearray()
        self._counter = 0
        self.plain_bytes = 0
        target.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        self.plain_bytes += len(data)
        while len(self._buffer) > ENCRYPTION_CHUNK:
            self._emit(bytes(self._buffer[:ENCRYPTION_CHUNK]), last=False)
            del self._buffer[:ENCRYPTION_CHUNK]
        return len(data)

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._header)
        self._counter += 1
        self.target.write(struct.pack(">I", len(sealed)))
        self.target.write(sealed)

    def finish(self) -> None:
        """Write the last chunk (flagged as last); the writer is unusable afterwards."""
        self._emit(bytes(self._buffer), last=True)
        self._buffer = bytearray()


def decrypt_stream(source: BinaryIO, target: BinaryIO, secret: str) -> int:
    """Decrypt what `EncryptingWriter` wrote; returns the plain bytes written.

    Raises `BackupIntegrityError` for a wrong key, a changed, reordered or missing chunk.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = source.read(_HEADER_BYTES)
    if len(header) != _HEADER_BYTES or not header.startswith(_MAGIC):
        raise BackupIntegrityError("not an encrypted backup file (bad header)")
    salt = header[len(_MAGIC) : len(_MAGIC) + _SALT_BYTES]
    prefix = header[len(_MAGIC) + _SALT_BYTES :]
    aead = AESGCM(_file_key(secret, salt))

    def read_chunk() -> bytes | None:
        size_bytes = source.read(4)
        if not size_bytes:
            return None
        if len(size_bytes) != 4:
            raise BackupIntegrityError("encrypted backup file is truncated")
        (size,) = struct.unpack(">I", size_bytes)
        if size > ENCRYPTION_CHUNK + _TAG_BYTES:
            raise BackupIntegrityError("encrypted backup file has an oversized chunk")
        sealed = source.read(size)
        if len(sealed) != size:
            raise BackupIntegrityError("encrypted backup file is truncated")
        return sealed

    written, counter = 0, 0
    current = read_chunk()
    if current is None:
        raise BackupIntegrityError("encrypted backup file has no data")
    while current is not None:
        following = read_chunk()
        last = following is None
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), current, header)
        except InvalidTag:
            raise BackupIntegrityError(
                "cannot decrypt the backup: wrong BACKUP_ENCRYPTION_KEY, or the file was changed"
            ) from None
        target.write(plain)
        written += len(plain)
        counter += 1
        current = following
    return written


@dataclass
class WrittenFile:
    name: str
    part: str
    bytes: int
    sha256: str
    plain_bytes: int
    format: str

    def as_manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "part": self.part,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "plain_bytes": self.plain_bytes,
            "format": self.format,
        }


@contextlib.contextmanager
def stored_file(path: Path, secret: str) -> Iterator[tuple[Any, HashingWriter, list[int]]]:
    """Open `path` for a backup file: yields (writer for plain bytes, hasher, [plain size])."""
    with open(path, "wb") as raw:
        hasher = HashingWriter(raw)
        plain_size = [0]
        if secret:
            encrypting = EncryptingWriter(hasher, secret)
            yield encrypting, hasher, plain_size
            encrypting.finish()
            plain_size[0] = encrypting.plain_bytes
        else:
            yield hasher, hasher, plain_size
            plain_size[0] = hasher.bytes
        raw.flush()
        os.fsync(raw.fileno())


def write_from(path: Path, source: BinaryIO, *, secret: str, part: str, fmt: str) -> WrittenFile:
    with stored_file(path, secret) as (writer, hasher, plain):
        while chunk := source.read(COPY_CHUNK):
            writer.write(chunk)
    return WrittenFile(path.name, part, hasher.bytes, hasher.sha256.hexdigest(), plain[0], fmt)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
