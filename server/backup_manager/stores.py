"""Where backups are kept: a local folder (the default, and the staging area) and S3."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from server.backup_manager.errors import BackupIntegrityError
from server.backup_manager.streams import COPY_CHUNK, sha256_of
from server.core.config import Settings

MANIFEST_NAME = "manifest.json"
ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-(database|files|logs|full)-[0-9a-f]{6}$")
# A local folder without a manifest this old is an abandoned backup and is removed.
ABANDONED_SECONDS = 86400
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def plain_name(name: str) -> str:
    """`name` when it names a file directly inside a backup's folder (no path, no `..`)."""
    if not isinstance(name, str) or not _PLAIN_NAME.match(name) or ".." in name:
        raise BackupIntegrityError(f"{name!r} is not the name of a file inside a backup")
    return name


class LocalStore:
    """Backups as folders under BACKUP_DIR (the default store, and the staging area)."""

    name = "local"

    def __init__(self, root: Path):
        self.root = root

    def folder(self, backup_id: str) -> Path:
        return self.root / backup_id

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if ID_PATTERN.match(entry.name) and (entry / MANIFEST_NAME).is_file()
        )

    def read_manifest(self, backup_id: str) -> bytes | None:
        path = self.folder(backup_id) / MANIFEST_NAME
        return path.read_bytes() if path.is_file() else None

    def fetch(self, backup_id: str, name: str, destination: Path, sha256: str) -> Path:
        """The file itself (no copy), after checking its SHA-256."""
        path = self.folder(backup_id) / plain_name(name)
        if not path.is_file():
            raise BackupIntegrityError(f"{backup_id}/{name} is missing from the local store")
        actual = sha256_of(path)
        if actual != sha256:
            raise BackupIntegrityError(
                f"{backup_id}/{name}: SHA-256 {actual} does not match the manifest's {sha256}"
            )
        return path

    def delete(self, backup_id: str) -> None:
        shutil.rmtree(self.folder(backup_id), ignore_errors=True)

    def abandoned(self, now: float) -> list[Path]:
        """Folders of backups that never got a manifest and are old enough to be dead."""
        if not self.root.is_dir():
            return []
        return [
            entry
            for entry in self.root.iterdir()
            if ID_PATTERN.match(entry.name)
            and not (entry / MANIFEST_NAME).exists()
            and now - entry.stat().st_mtime > ABANDONED_SECONDS
        ]


class S3Store:
    """Backups under `<BACKUP_S3_PREFIX><id>/` in a bucket, through boto3."""

    name = "s3"

    def __init__(self, settings: Settings):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = settings.backup_s3_bucket
        self.prefix = settings.backup_s3_prefix
        self.client = boto3.client(
            "s3",
            region_name=settings.backup_s3_region,
            endpoint_url=settings.backup_s3_endpoint_url,
            aws_access_key_id=settings.backup_s3_access_key_id,
            aws_secret_access_key=settings.backup_s3_secret_access_key,
            # botocore adds CRC32 checksums by default, which some S3-compatible stores refuse;
            # integrity is our own SHA-256 anyway.
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=settings.backup_s3_multipart_threshold_bytes,
            multipart_chunksize=settings.backup_s3_part_size_bytes,
        )
        self.extra: dict[str, str] = {}
        if settings.backup_s3_sse:
            self.extra["ServerSideEncryption"] = settings.backup_s3_sse
            if settings.backup_s3_kms_key_id:
                self.extra["SSEKMSKeyId"] = settings.backup_s3_kms_key_id

    def key(self, backup_id: str, name: str) -> str:
        return f"{self.prefix}{backup_id}/{name}"

    def upload(self, backup_id: str, path: Path, sha256: str) -> None:
        """Upload one file (multipart above the threshold) with its SHA-256 in its metadata."""
        key = self.key(backup_id, path.name)
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={**self.extra, "Metadata": {"sha256": sha256}},
            Config=self.transfer,
        )
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        if head["ContentLength"] != path.stat().st_size or head["Metadata"].get("sha256") != sha256:
            raise BackupIntegrityError(f"s3://{self.bucket}/{key}: stored object differs")

    def put_manifest(self, backup_id: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(backup_id, MANIFEST_NAME),
            Body=data,
            Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            **self.extra,
        )

    def ids(self) -> list[str]:
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(self.prefix) :]
                backup_id, _, name = rest.partition("/")
                if name == MANIFEST_NAME and ID_PATTERN.match(backup_id):
                    found.append(backup_id)
        return sorted(found)

    def read_manifest(self, backup_id: str) -> bytes | None:
        try:
            reply = self.client.get_object(
                Bucket=self.bucket, Key=self.key(backup_id, MANIFEST_NAME)
            )
        except self.client.exceptions.NoSuchKey:
            return None
        data = reply["Body"].read()
        stored = reply.get("Metadata", {}).get("sha256")
        if stored and stored != hashlib.sha256(data).hexdigest():
            raise BackupIntegrityError(f"{backup_id}: the manifest in S3 was changed")
        return data

    def fetch(self, backup_id: str, name: str, destination: Path, sha256: str) -> Path:
        """Download one file into `destination`, hashing as it arrives; checked against the
        manifest's SHA-256 and the object's metadata."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(backup_id, plain_name(name))
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise BackupIntegrityError(f"s3://{self.bucket}/{key} cannot be read: {exc}") from None
        target = destination / name
        digest = hashlib.sha256()
        with open(target, "wb") as out:
            for chunk in reply["Body"].iter_chunks(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        stored = reply.get("Metadata", {}).get("sha256")
        if actual != sha256 or stored != sha256:
            raise BackupIntegrityError(
                f"s3://{self.bucket}/{key}: SHA-256 {actual} does not match the manifest's "
                f"{sha256} (object metadata: {stored})"
            )
        return target

    def delete(self, backup_id: str) -> None:
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(backup_id, "")):
            keys.extend({"Key": item["Key"]} for item in page.get("Contents", []))
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )


def stores(settings: Settings) -> list[LocalStore | S3Store]:
    """The configured stores: the local folder, and S3 when BACKUP_S3_BUCKET is set."""
    found: list[LocalStore | S3Store] = [LocalStore(settings.backups_dir)]
    if settings.backup_s3_bucket:
        found.append(S3Store(settings))
    return found
