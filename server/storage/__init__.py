"""User files (uploaded resumes, the browser channel's screenshots): one store, two back ends.

`get_store()` is the store new files go to: the local folder by default (`make run`), or an
S3-compatible bucket when STORAGE_S3_BUCKET is set. Every file is sealed (AES-256-GCM, see
`sealing`) before it leaves the process, whichever back end keeps it, so a copied folder or a
leaked bucket shows nothing. Rows record where their file is (`storage`: `local` or `s3`), so
files written before a switch of back end stay readable from where they are until
`flask storage-migrate` moves them.

Names are `users/<user id>/<kind>/<...>`: deleting an account deletes `users/<user id>/`.
"""

from __future__ import annotations

import threading

from server.core.config import Settings, get_settings
from server.storage import sealing
from server.storage.backends import Backend, LocalBackend, MissingObject, S3Backend
from server.storage.sealing import SealBroken

__all__ = [
    "BACKENDS",
    "FileStore",
    "MissingObject",
    "SealBroken",
    "get_store",
    "store_for",
    "user_prefix",
]

BACKENDS = ("local", "s3")


def user_prefix(user_id: int) -> str:
    """The folder of every file one user has."""
    return f"users/{int(user_id)}/"


class FileStore:
    """Sealed files in one back end."""

    def __init__(self, backend: Backend, keys: tuple[str, ...]):
        self.backend = backend
        self.keys = keys

    @property
    def name(self) -> str:
        """`local` or `s3`: what a row records as its file's `storage`."""
        return self.backend.name

    def put(self, name: str, data: bytes) -> None:
        """Seal and store the whole file (or nothing: `StorageUnavailable`)."""
        self.backend.put(name, sealing.seal(data, name=name, keys=self.keys))

    def get(self, name: str) -> bytes:
        """The file's plaintext (`MissingObject`, `SealBroken`, `StorageUnavailable`)."""
        return sealing.open_sealed(self.backend.get(name), name=name, keys=self.keys)

    def key_index(self, name: str) -> int | None:
        """Which key of ENCRYPTION_KEY sealed the file (0: the newest; None: none of them),
        from its header alone."""
        return sealing.key_index(self.backend.get(name, head=sealing.HEADER_BYTES), keys=self.keys)

    def reseal(self, name: str) -> bool:
        """Seal the file again under the newest key; False when it already is."""
        blob = self.backend.get(name)
        if sealing.key_index(blob, keys=self.keys) == 0:
            return False
        data = sealing.open_sealed(blob, name=name, keys=self.keys)
        self.put(name, data)
        return True

    def delete(self, name: str) -> None:
        self.backend.delete(name)

    def delete_user(self, user_id: int) -> None:
        """Delete every file of the user."""
        self.backend.delete_prefix(user_prefix(user_id))

    def probe(self) -> None:
        """Write, read and delete a probe file; raises when the back end fails any step."""
        self.backend.probe()


_lock = threading.Lock()
_stores: dict[tuple[int, str], tuple[Settings, FileStore]] = {}


def store_for(backend: str, settings: Settings | None = None) -> FileStore:
    """The store of a named back end (`local`, `s3`), built once per settings."""
    settings = settings or get_settings()
    if backend not in BACKENDS:
        raise ValueError(f"unknown storage back end {backend!r}")
    cache_key = (id(settings), backend)
    with _lock:
        cached = _stores.get(cache_key)
        if cached is None or cached[0] is not settings:
            if backend == "s3":
                if not settings.storage_s3_bucket:
                    raise ValueError("a file is in S3 but STORAGE_S3_BUCKET is not set")
                made: Backend = S3Backend(settings)
            else:
                made = LocalBackend(settings.storage_root)
            cached = (settings, FileStore(made, settings.encryption_keys))
            _stores[cache_key] = cached
        return cached[1]


def get_store(settings: Settings | None = None) -> FileStore:
    """The store new files go to (STORAGE_S3_BUCKET set: S3; else the local folder)."""
    settings = settings or get_settings()
    return store_for(settings.storage_backend, settings)


def delete_user(user_id: int, settings: Settings | None = None) -> None:
    """Delete every file of the user in every configured back end, and those written before
    the store (instance/uploads/<user id>/); `StorageUnavailable` when the bucket cannot be
    reached."""
    import shutil

    settings = settings or get_settings()
    for backend in BACKENDS:
        if backend == "s3" and not settings.storage_s3_bucket:
            continue
        store_for(backend, settings).delete_user(user_id)
    shutil.rmtree(settings.uploads_dir / str(int(user_id)), ignore_errors=True)
