"""Manifests: what a backup holds, signed under the backup key, and checked before use.

Whoever can write to a store can write a manifest, so nothing in one is trusted before it is
checked: every file is one of the names a backup writes (a plain name inside the backup's
folder, with the part and format that name has), the id is the backup's own, and with
BACKUP_ENCRYPTION_KEY set the manifest must say its files are encrypted and carry a valid
HMAC-SHA256 (under a key derived from BACKUP_ENCRYPTION_KEY) over all of its other fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from server.backup_manager.errors import BackupError, BackupIntegrityError

FORMAT = 1
# Every file a backup may hold: its name, its part and its format.
FILES = {
    "database.dump": ("database", "pg_dump-custom"),
    "database.sqlite3": ("database", "sqlite3"),
    "globals.sql": ("database", "pg_dumpall-globals"),
    "files.tar.gz": ("files", "tar.gz"),
    "logs.tar.gz": ("logs", "tar.gz"),
}
PARTS = {
    "database": ("database",),
    "files": ("files",),
    "logs": ("logs",),
    "full": ("database", "files", "logs"),
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _mac_key(secret: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # Its own key, apart from the files' keys (which are derived with a salt per file).
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"job-agent backup manifest v1"
    ).derive(secret.encode())


def _signed_bytes(manifest: dict[str, Any]) -> bytes:
    body = {key: value for key, value in manifest.items() if key != "hmac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(manifest: dict[str, Any], secret: str) -> str:
    """The HMAC-SHA256 (hex) of every field of a manifest but `hmac` itself."""
    return hmac.new(_mac_key(secret), _signed_bytes(manifest), hashlib.sha256).hexdigest()


def check(data: bytes, backup_id: str, secret: str) -> dict[str, Any]:
    """The manifest of `backup_id` from its stored bytes, refused unless every name in it is
    one a backup writes and (with a backup key) it is encrypted and its HMAC is valid."""
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BackupIntegrityError(f"{backup_id}: the manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise BackupIntegrityError(f"{backup_id}: the manifest is not a JSON object")
    if secret:
        if manifest.get("encrypted") is not True:
            raise BackupIntegrityError(
                f"{backup_id} is not encrypted, but BACKUP_ENCRYPTION_KEY is set: an "
                "unencrypted backup is refused (unset the key only to restore a backup made "
                "without one)"
            )
        given = manifest.get("hmac")
        if not isinstance(given, str) or not hmac.compare_digest(given, sign(manifest, secret)):
            raise BackupIntegrityError(
                f"{backup_id}: the manifest's HMAC is missing or does not match: wrong "
                "BACKUP_ENCRYPTION_KEY, or the manifest was changed"
            )
    elif manifest.get("encrypted"):
        raise BackupError(f"{backup_id} is encrypted and BACKUP_ENCRYPTION_KEY is unset")
    _check_shape(manifest, backup_id)
    return manifest


def _check_shape(manifest: dict[str, Any], backup_id: str) -> None:
    def refuse(why: str) -> BackupIntegrityError:
        return BackupIntegrityError(f"{backup_id}: the manifest is refused: {why}")

    if manifest.get("id") != backup_id:
        raise refuse(f"it is the manifest of {manifest.get('id')!r}")
    kind = manifest.get("type")
    if kind not in PARTS or backup_id.split("-")[1] != kind:
        raise refuse(f"type {kind!r} is not this backup's")
    entries = manifest.get("files")
    if not isinstance(entries, list) or not entries:
        raise refuse("it lists no files")
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in FILES or name in seen:
            raise refuse(f"{name!r} is not a file a backup holds, or is listed twice")
        seen.add(name)
        part, fmt = FILES[name]
        if entry.get("part") != part or entry.get("format") != fmt or part not in PARTS[kind]:
            raise refuse(f"{name} is listed with part {entry.get('part')!r}")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
            raise refuse(f"{name} has no SHA-256")
        if part == "database":
            database = manifest.get("database")
            if not isinstance(database, dict) or not isinstance(database.get("row_counts"), dict):
                raise refuse("the database's row counts are missing")
        else:
            archives = manifest.get("archives")
            if not isinstance(archives, dict) or not isinstance(archives.get(part), dict):
                raise refuse(f"the {part} archive's entry count is missing")
