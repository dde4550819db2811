"""The user files in a `files` backup: wherever the configured storage keeps them, as stored.

User files are sealed by the service (see `server.storage.sealing`) before they are stored, so
they are archived as stored and never opened: a backup is no more readable than the folder or
the bucket it copies. What the `files` archive holds:

- The configured back end's files, under `storage_folder`:
  - local (STORAGE_DIR, else instance/uploads): the folder itself, archived as `uploads/` when
    it is instance/uploads (the layout backups always had) and as `storage/` otherwise;
  - S3 (STORAGE_S3_BUCKET): every object under STORAGE_S3_PREFIX, streamed from the bucket
    into the archive one at a time, as `storage/<object key>`.
- instance/uploads, when it is not that folder (files written before the store, and with a
  bucket the files written to the local folder before the switch), as `uploads/`; with a bucket
  and a STORAGE_DIR of its own, that folder as `local/`; instance/documents as `documents/`.

`restore_into_storage` puts the configured back end's part back where the configured storage
keeps files: into the local folder, or uploaded into the bucket under the configured prefix;
a file already there with the same bytes is skipped, so a restore can be run again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from server.backup_manager.archives import check_archive_members
from server.backup_manager.errors import BackupError
from server.backup_manager.streams import COPY_CHUNK
from server.core.config import Settings

log = logging.getLogger("server.backup_manager")

# Folders under INSTANCE_DIR that the `files` backup archives besides the storage (when present).
DOCUMENTS_FOLDER = "documents"
# In memory up to this size while a file being restored into the bucket is hashed.
_SPOOL_BYTES = 8 * 1024 * 1024


def s3_client(settings: Settings):
    """A boto3 client on the file storage's bucket (STORAGE_S3_*)."""
    import boto3
    from botocore.config import Config

    timeout = settings.storage_s3_timeout_seconds
    return boto3.client(
        "s3",
        region_name=settings.storage_s3_region,
        endpoint_url=settings.storage_s3_endpoint_url,
        aws_access_key_id=settings.storage_s3_access_key_id,
        aws_secret_access_key=settings.storage_s3_secret_access_key,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=timeout,
            read_timeout=max(timeout, 30.0),
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def storage_folder(settings: Settings) -> str:
    """The archive folder that holds the configured back end's files."""
    if settings.storage_backend == "local" and _same(settings.storage_root, settings.uploads_dir):
        return "uploads"
    return "storage"


def folders(settings: Settings) -> list[tuple[Path, str]]:
    """Local folders the `files` archive holds, with their names in it (those that exist)."""
    found: list[tuple[Path, str]] = []
    folder = storage_folder(settings)
    if settings.storage_backend == "local":
        found.append((settings.storage_root, folder))
        if folder != "uploads":
            found.append((settings.uploads_dir, "uploads"))
    else:
        found.append((settings.uploads_dir, "uploads"))
        if not _same(settings.storage_root, settings.uploads_dir):
            found.append((settings.storage_root, "local"))
    found.append((settings.instance_dir / DOCUMENTS_FOLDER, DOCUMENTS_FOLDER))
    return [(path, name) for path, name in found if path.is_dir()]


def is_partial(name: str) -> bool:
    """A local store's file being written (`.<name>.<hex>.part`): left out of a backup."""
    base = name.rsplit("/", 1)[-1]
    return base.startswith(".") and base.endswith(".part")


@dataclass
class StorageCount:
    """What the archive holds of the configured storage (the manifest's `storage`)."""

    backend: str
    folder: str
    prefix: str = ""
    bucket: str | None = None
    count: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)

    def skip_local(self, info: tarfile.TarInfo) -> bool:
        """For a folder's archive filter: True for a file being written (left out); counts
        the files of the storage's own folder."""
        if is_partial(info.name):
            return True
        if info.isfile() and info.name.startswith(f"{self.folder}/"):
            self.count += 1
            self.bytes += info.size
        return False

    def as_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "backend": self.backend,
            "folder": self.folder,
            "count": self.count,
            "bytes": self.bytes,
        }
        if self.backend == "s3":
            entry.update(bucket=self.bucket, prefix=self.prefix, skipped=self.skipped)
        return entry


def _safe_key(key: str) -> bool:
    path = PurePosixPath(key)
    return (
        bool(key)
        and not key.startswith("/")
        and ".." not in path.parts
        and "" not in (key.split("/"))
    )


def storage_count(settings: Settings) -> StorageCount:
    """An empty count of the configured storage's files, for `files_sources`' archive."""
    if settings.storage_backend == "s3":
        return StorageCount(
            "s3",
            "storage",
            prefix=settings.storage_s3_prefix,
            bucket=settings.storage_s3_bucket,
        )
    return StorageCount("local", storage_folder(settings))


def streams(settings: Settings, count: StorageCount) -> Iterator[tuple[tarfile.TarInfo, Any]]:
    """The objects the archive streams in: the bucket's, with the S3 back end."""
    if settings.storage_backend == "s3":
        yield from s3_objects(settings, count)


def s3_objects(settings: Settings, count: StorageCount) -> Iterator[tuple[tarfile.TarInfo, Any]]:
    """Every object under STORAGE_S3_PREFIX as (tar header, its body streaming from S3), one
    at a time; counted into `count`. A key no archive may hold (`..`, an empty part) is left
    out, named in `count.skipped` and logged."""
    client = s3_client(settings)
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.storage_s3_bucket, Prefix=count.prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a folder marker, no file
            if not _safe_key(key):
                count.skipped.append(key)
                log.warning("storage object not backed up: unsafe key", extra={"key": key})
                continue
            reply = client.get_object(Bucket=settings.storage_s3_bucket, Key=key)
            info = tarfile.TarInfo(f"{count.folder}/{key}")
            info.size = reply["ContentLength"]
            info.mtime = int(reply["LastModified"].timestamp())
            info.mode = 0o600
            body = reply["Body"]
            try:
                yield info, body
            finally:
                body.close()
            count.count += 1
            count.bytes += info.size


# --- restore ---------------------------------------------------------------------------------


@dataclass
class RestoreCount:
    backend: str
    restored: int = 0
    skipped: int = 0
    differing: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "restored": self.restored,
            "unchanged": self.skipped,
            "differing": self.differing,
        }


def _spool(source: BinaryIO) -> tuple[Any, str, str]:
    """A member's bytes in a temporary file (in memory while small), its MD5 and SHA-256."""
    spooled = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    while chunk := source.read(COPY_CHUNK):
        md5.update(chunk)
        sha.update(chunk)
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, md5.hexdigest(), sha.hexdigest()


def _sha256_of_stream(source) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(COPY_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def restore_into_storage(
    settings: Settings, archive: Path, storage: dict[str, Any], *, force: bool
) -> dict[str, Any]:
    """Put the configured back end's files of a (plain) `files` archive back into the
    configured storage; `storage` is the manifest's description of what the archive holds.

    A file already there with the same bytes is left alone; one with other bytes is kept
    and named under `differing` unless `force` (then replaced)."""
    folder = storage.get("folder")
    if folder not in ("uploads", "storage"):
        raise BackupError("the backup's manifest does not say which files are the storage's")
    prefix = storage.get("prefix") or ""
    counted = RestoreCount(settings.storage_backend)
    client = s3_client(settings) if settings.storage_backend == "s3" else None
    with tarfile.open(archive, mode="r:*") as tar:
        members = check_archive_members(tar.getmembers())
        for member in members:
            if not member.isfile() or not member.name.startswith(f"{folder}/"):
                continue
            key = member.name[len(folder) + 1 :]
            if prefix and key.startswith(prefix):
                key = key[len(prefix) :]
            if not key or is_partial(key):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            with source:
                if client is None:
                    _restore_local(settings.storage_root, key, source, counted, force)
                else:
                    _restore_s3(settings, client, key, source, counted, force)
    return counted.as_result()


def _restore_local(root: Path, name: str, source: BinaryIO, counted: RestoreCount, force: bool):
    path = root / name
    spooled, _, sha = _spool(source)
    with spooled:
        if path.is_file():
            with path.open("rb") as existing:
                if _sha256_of_stream(existing) == sha:
                    counted.skipped += 1
                    return
            if not force:
                counted.differing.append(name)
                return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := spooled.read(COPY_CHUNK):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    counted.restored += 1


def _restore_s3(
    settings: Settings, client, name: str, source: BinaryIO, counted: RestoreCount, force: bool
):
    from botocore.exceptions import ClientError

    bucket = settings.storage_s3_bucket
    key = f"{settings.storage_s3_prefix}{name}"
    spooled, md5, sha = _spool(source)
    with spooled:
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            head = None
        if head is not None:
            # A single PUT's ETag is the MD5 of its bytes (without SSE-KMS); else compare them.
            same = head.get("ETag", "").strip('"') == md5
            if not same:
                reply = client.get_object(Bucket=bucket, Key=key)
                same = _sha256_of_stream(reply["Body"]) == sha
            if same:
                counted.skipped += 1
                return
            if not force:
                counted.differing.append(name)
                return
        size = spooled.seek(0, os.SEEK_END)
        spooled.seek(0)
        client.put_object(Bucket=bucket, Key=key, Body=spooled, ContentLength=size)
    counted.restored += 1
