"""What a backup, verify or restore raises."""

from __future__ import annotations

from server.core.errors import UserFacingError


class BackupError(UserFacingError):
    """A backup, verify or restore could not be done; the message says why."""


class BackupIntegrityError(BackupError):
    """Stored bytes do not match the manifest's SHA-256 (or fail to decrypt)."""


class UnsafeArchive(BackupError):
    """An archive member would land outside the target, or is a link or a device."""


class BackupNotFound(BackupError):
    """No store holds a backup with this id (or it has no manifest)."""
