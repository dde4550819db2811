"""Where sealed files are kept: a local folder, or an S3-compatible bucket through boto3.

A back end moves bytes under a name (`users/<user id>/...`); it neither seals nor knows rows.
Both raise `StorageUnavailable` when the place cannot be reached (the request answers 503
with a Retry-After, a job tries again later) and `MissingObject` for a name not there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from pathlib import Path

from server.core.config import Settings
from server.core.errors import StorageUnavailable
from server.core.outages import outage_log

log = logging.getLogger("server.storage")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,7}$")


class MissingObject(Exception):
    """No file is stored under the name."""


def checked_name(name: str) -> str:
    """`name` when it is a plain relative name made by this service (no `..`, no root)."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"{name!r} is not a storage name")
    return name


class LocalBackend:
    """Files under a folder (STORAGE_DIR, else instance/uploads): one file per name."""

    name = "local"

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / checked_name(name)

    def put(self, name: str, data: bytes) -> None:
        """Write the whole file or nothing: a temporary file, flushed, then renamed."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def get(self, name: str, *, head: int | None = None) -> bytes:
        """The file's bytes (the first `head` of them when given)."""
        try:
            with self.path(name).open("rb") as handle:
                return handle.read(head) if head else handle.read()
        except FileNotFoundError:
            raise MissingObject(name) from None

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every file under `prefix` (a folder: `users/7/`)."""
        shutil.rmtree(self.root / checked_name(prefix.rstrip("/")), ignore_errors=True)

    def probe(self) -> None:
        """Write, read back and delete a probe file (raises on any failure)."""
        _probe(self)


class S3Backend:
    """Files as objects under STORAGE_S3_PREFIX in STORAGE_S3_BUCKET (AWS S3, MinIO, R2)."""

    name = "s3"

    def __init__(self, settings: Settings):
        import boto3
        from botocore.config import Config

        self.bucket = settings.storage_s3_bucket
        self.prefix = settings.storage_s3_prefix
        timeout = settings.storage_s3_timeout_seconds
        self.client = boto3.client(
            "s3",
            region_name=settings.storage_s3_region,
            endpoint_url=settings.storage_s3_endpoint_url,
            aws_access_key_id=settings.storage_s3_access_key_id,
            aws_secret_access_key=settings.storage_s3_secret_access_key,
            # botocore's default CRC32 checksums are refused by some S3-compatible stores;
            # the seal (AES-GCM's tag) is the integrity check. Few retries and short
            # timeouts: an upload answers 503 quickly rather than hang a web worker.
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def key(self, name: str) -> str:
        return f"{self.prefix}{checked_name(name)}"

    def _call(self, where: str, name: str, call, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = call(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("NoSuchKey", "404"):
                raise MissingObject(name) from None
            outage_log("storage").failed(where, exc)
            raise StorageUnavailable() from exc
        except BotoCoreError as exc:
            outage_log("storage").failed(where, exc)
            raise StorageUnavailable() from exc
        outage_log("storage").recovered()
        return reply

    def put(self, name: str, data: bytes) -> None:
        """One PUT: S3 stores the whole object or none of it."""
        self._call("storage put", name, self.client.put_object, Key=self.key(name), Body=data)

    def get(self, name: str, *, head: int | None = None) -> bytes:
        extra = {"Range": f"bytes=0-{head - 1}"} if head else {}
        reply = self._call("storage get", name, self.client.get_object, Key=self.key(name), **extra)
        from botocore.exceptions import BotoCoreError

        try:
            return reply["Body"].read()
        except BotoCoreError as exc:  # the connection died mid-body
            outage_log("storage").failed("storage get", exc)
            raise StorageUnavailable() from exc

    def delete(self, name: str) -> None:
        self._call("storage delete", name, self.client.delete_object, Key=self.key(name))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under `prefix` (`users/7/`), a thousand per request."""
        full = f"{self.prefix}{checked_name(prefix.rstrip('/'))}/"
        while True:
            listed = self._call(
                "storage list", prefix, self.client.list_objects_v2, Prefix=full, MaxKeys=1000
            )
            keys = [{"Key": item["Key"]} for item in listed.get("Contents", [])]
            if not keys:
                return
            self._call(
                "storage delete",
                prefix,
                self.client.delete_objects,
                Delete={"Objects": keys, "Quiet": True},
            )

    def probe(self) -> None:
        """Write, read back and delete a probe object (raises on any failure)."""
        _probe(self)


Backend = LocalBackend | S3Backend


def _probe(backend: Backend) -> None:
    name = f"probe/{uuid.uuid4().hex}"
    data = os.urandom(32)
    backend.put(name, data)
    try:
        if backend.get(name) != data:
            raise StorageUnavailable("the probe read back differs from what was written")
    finally:
        backend.delete(name)
    try:
        backend.get(name)
    except MissingObject:
        return
    raise StorageUnavailable("the probe is still there after its delete")
