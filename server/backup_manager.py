"""Backups: database, files and logs; a manifest; local and S3 storage; retention; verify; restore.

A backup is a folder of files (`database.dump` or `database.sqlite3`, `globals.sql`,
`files.tar.gz`, `logs.tar.gz`) and a `manifest.json` written last: a backup without a
manifest does not exist. Every file's SHA-256 is computed while it is written (of the stored
bytes, so after encryption) and checked again before any verify or restore; S3 objects carry it
in their metadata (`x-amz-meta-sha256`), because S3's own checksum of a multipart upload is not
the file's.

- `database`: PostgreSQL through `pg_dump -Fc` (the `pg_dump` of the server's major version)
  under a snapshot exported from a repeatable-read transaction, so the row counts in the
  manifest are those of the dump; plus `pg_dumpall --globals-only` where the role may read them.
  SQLite through its online backup API.
- `files`: the uploaded resumes and generated documents under INSTANCE_DIR; `logs`: LOG_DIR;
  `full`: all three.
- Encryption (BACKUP_ENCRYPTION_KEY): AES-256-GCM over 1 MiB chunks, streamed (see
  `EncryptingWriter`); each file has its own key derived with HKDF from a random salt.
- Verify: restore into a scratch database, compare row counts per table and the migration
  version with the manifest, drop it. Restore: hashes first, then `pg_restore`; never the live
  database unless forced. Archives are extracted only when every member is a plain file or
  folder inside the target.

Commands run without a shell; the database password goes through a private PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy import create_engine, func, select, table, text
from sqlalchemy.engine import URL, Connection, make_url

from server.config import Settings, get_settings
from server.extensions import db
from server.models import Backup, utcnow
from server.models.base import as_utc, isoformat

log = logging.getLogger("server.backup_manager")

BACKUP_TYPES = ("database", "files", "logs", "full")
PARTS = {
    "database": ("database",),
    "files": ("files",),
    "logs": ("logs",),
    "full": ("database", "files", "logs"),
}
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
COPY_CHUNK = 1024 * 1024
# Folders under INSTANCE_DIR that the `files` backup archives (when present).
FILES_FOLDERS = ("uploads", "documents")
# A local folder without a manifest this old is an abandoned backup and is removed.
ABANDONED_SECONDS = 86400
_ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-(database|files|logs|full)-[0-9a-f]{6}$")
_DB_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


class BackupError(Exception):
    """A backup, verify or restore could not be done; the message says why."""


class BackupIntegrityError(BackupError):
    """Stored bytes do not match the manifest's SHA-256 (or fail to decrypt)."""


class UnsafeArchive(BackupError):
    """An archive member would land outside the target, or is a link or a device."""


class BackupNotFound(BackupError):
    """No store holds a backup with this id (or it has no manifest)."""


# --- streaming: hashing and encryption -------------------------------------------------------


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
class _WrittenFile:
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
def _stored_file(path: Path, secret: str) -> Iterator[tuple[Any, HashingWriter, list[int]]]:
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


def _write_from(path: Path, source: BinaryIO, *, secret: str, part: str, fmt: str) -> _WrittenFile:
    with _stored_file(path, secret) as (writer, hasher, plain):
        while chunk := source.read(COPY_CHUNK):
            writer.write(chunk)
    return _WrittenFile(path.name, part, hasher.bytes, hasher.sha256.hexdigest(), plain[0], fmt)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- stores ----------------------------------------------------------------------------------


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
            if _ID_PATTERN.match(entry.name) and (entry / MANIFEST_NAME).is_file()
        )

    def read_manifest(self, backup_id: str) -> bytes | None:
        path = self.folder(backup_id) / MANIFEST_NAME
        return path.read_bytes() if path.is_file() else None

    def fetch(self, backup_id: str, name: str, destination: Path, sha256: str) -> Path:
        """The file itself (no copy), after checking its SHA-256."""
        path = self.folder(backup_id) / name
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
            if _ID_PATTERN.match(entry.name)
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
                if name == MANIFEST_NAME and _ID_PATTERN.match(backup_id):
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

        key = self.key(backup_id, name)
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


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass
class _PgTarget:
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    database: str
    sslmode: str | None

    @classmethod
    def from_url(cls, url: URL) -> _PgTarget:
        sslmode = url.query.get("sslmode")
        return cls(
            url.host,
            url.port,
            url.username,
            url.password,
            url.database or "postgres",
            sslmode if isinstance(sslmode, str) else None,
        )

    def args(self, database: str | None = None) -> list[str]:
        found = []
        if self.host:
            found += ["--host", self.host]
        if self.port:
            found += ["--port", str(self.port)]
        if self.user:
            found += ["--username", self.user]
        return [*found, "--dbname", database or self.database]

    def args_without_db(self) -> list[str]:
        return self.args()[:-2]


def _pgpass_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


@contextlib.contextmanager
def _pg_environment(target: _PgTarget) -> Iterator[dict[str, str]]:
    """The environment of a pg_* command: PATH, locale, and the password in a private
    PGPASSFILE (never on the command line, where `ps` shows it)."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "HOME") if key in os.environ}
    env["PGCONNECT_TIMEOUT"] = "15"
    if target.sslmode:
        env["PGSSLMODE"] = target.sslmode
    with tempfile.TemporaryDirectory(prefix="pgpass-") as folder:
        if target.password:
            path = Path(folder) / "pgpass"
            path.touch(mode=0o600)
            path.write_text(_pgpass_line(target.password))
            env["PGPASSFILE"] = str(path)
        yield env


def pg_tool(settings: Settings, name: str, server_version_num: int | None) -> str:
    """The path of a PostgreSQL client program (`pg_dump`, `pg_restore`, ...).

    BACKUP_PG_BIN_DIR wins; else the Debian/Ubuntu layout for the server's major version
    (`/usr/lib/postgresql/<major>/bin`), since pg_dump refuses a newer server and an older
    pg_restore cannot read a newer dump; else `PATH`.
    """
    if settings.backup_pg_bin_dir:
        return str(settings.backup_pg_bin_dir / name)
    if server_version_num:
        candidate = Path(f"/usr/lib/postgresql/{server_version_num // 10000}/bin/{name}")
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian package postgresql-client)")
    return found


def _run(argv: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {done.returncode}): {' '.join(detail)}")
    return done


def _table_names(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
            "('pg_catalog', 'information_schema') ORDER BY 1, 2"
        )
    )
    return [(row[0], row[1]) for row in rows]


def _pg_row_counts(conn: Connection) -> dict[str, int]:
    counts = {}
    for schema, name in _table_names(conn):
        label = name if schema == "public" else f"{schema}.{name}"
        counts[label] = conn.scalar(select(func.count()).select_from(table(name, schema=schema)))
    return counts


def _alembic_version(conn: Connection) -> str | None:
    try:
        with conn.begin_nested() if conn.in_transaction() else contextlib.nullcontext():
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 - a database without migrations has no version
        return None


def _pg_dump(settings: Settings, folder: Path, secret: str) -> tuple[list[_WrittenFile], dict]:
    """Dump the live PostgreSQL database (and its globals) into `folder`."""
    url = make_url(settings.database_url)
    target = _PgTarget.from_url(url)
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    written: list[_WrittenFile] = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            version_num = int(conn.scalar(text("SHOW server_version_num")))
            server_version = conn.scalar(text("SHOW server_version"))
            row_counts = _pg_row_counts(conn)
            alembic = _alembic_version(conn)
            pg_dump = pg_tool(settings, "pg_dump", version_num)
            with _pg_environment(target) as env:
                argv = [pg_dump, "--format=custom", f"--snapshot={snapshot}", *target.args()]
                path = folder / "database.dump"
                errors = tempfile.TemporaryFile()  # a file: a full pipe would stall pg_dump
                process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                    argv, env=env, stdout=subprocess.PIPE, stderr=errors
                )
                try:
                    written.append(
                        _write_from(
                            path,
                            process.stdout,
                            secret=secret,
                            part="database",
                            fmt="pg_dump-custom",
                        )
                    )
                finally:
                    code = process.wait()
                    errors.seek(0)
                    stderr = errors.read().decode(errors="replace")
                    errors.close()
                if code != 0:
                    raise BackupError(f"pg_dump failed (exit {code}): {stderr.strip()[-500:]}")
                dump_version = _run([pg_dump, "--version"], env, "pg_dump --version")
                globals_note = _pg_globals(settings, target, env, version_num, folder, secret)
            conn.rollback()
    finally:
        engine.dispose()
    if globals_note["included"]:
        written.append(globals_note.pop("file"))
    info = {
        "dialect": "postgresql",
        "name": target.database,
        "server_version": server_version,
        "pg_dump_version": dump_version.stdout.decode().strip(),
        "alembic_version": alembic,
        "row_counts": row_counts,
        "globals": globals_note,
    }
    return written, info


def _pg_globals(
    settings: Settings,
    target: _PgTarget,
    env: dict[str, str],
    version_num: int,
    folder: Path,
    secret: str,
) -> dict[str, Any]:
    """Roles and tablespaces (`pg_dumpall --globals-only`), which pg_dump leaves out.

    Role passwords need a superuser; without one, roles are dumped without passwords; a role
    that may not read even that gets a note in the manifest instead of a failed backup.
    """
    pg_dumpall = pg_tool(settings, "pg_dumpall", version_num)
    base = [pg_dumpall, "--globals-only", *target.args_without_db(), "--database", target.database]
    failures = []
    for extra, note in (([], "with role passwords"), (["--no-role-passwords"], "no passwords")):
        done = subprocess.run(  # noqa: S603 - our own argv, no shell
            [*base, *extra], env=env, capture_output=True, check=False
        )
        if done.returncode == 0:
            entry = _write_from(
                folder / "globals.sql",
                io.BytesIO(done.stdout),
                secret=secret,
                part="database",
                fmt="pg_dumpall-globals",
            )
            return {"included": True, "note": note, "file": entry}
        failures.append(done.stderr.decode(errors="replace").strip()[-200:])
    log.warning("globals not dumped (not permitted)", extra={"reason": failures[-1]})
    return {"included": False, "note": f"not permitted: {failures[-1]}"}


def _admin_engine(url: URL):
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _check_db_name(name: str) -> str:
    if not _DB_NAME_PATTERN.match(name):
        raise BackupError(f"{name!r} is not a database name this tool accepts")
    return name


def _database_exists(url: URL, name: str) -> bool:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            )
    finally:
        engine.dispose()


def _create_database(url: URL, name: str) -> None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(_check_db_name(name))
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def _drop_database(url: URL, name: str) -> None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(_check_db_name(name))
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        engine.dispose()


def _pg_restore(settings: Settings, dump: Path, url: URL, database: str, *, clean: bool) -> None:
    target = _PgTarget.from_url(url)
    engine = create_engine(url.set(database=database))
    try:
        with engine.connect() as conn:
            version_num = int(conn.scalar(text("SHOW server_version_num")))
    finally:
        engine.dispose()
    pg_restore = pg_tool(settings, "pg_restore", version_num)
    argv = [
        pg_restore,
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--jobs={settings.backup_restore_jobs}",
        *target.args(database),
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    with _pg_environment(target) as env:
        _run([*argv, str(dump)], env, "pg_restore")


def _pg_facts(url: URL, database: str) -> tuple[dict[str, int], str | None]:
    engine = create_engine(url.set(database=database))
    try:
        with engine.connect() as conn:
            return _pg_row_counts(conn), _alembic_version(conn)
    finally:
        engine.dispose()


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_path(url: str | URL) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_facts(path: Path) -> tuple[dict[str, int], str | None]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path}: SQLite integrity check failed")
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in tables}
        counts = {
            # Names from sqlite_master, quoted as identifiers.
            name: conn.execute("SELECT count(*) FROM " + quoted[name]).fetchone()[0]  # noqa: S608
            for name in tables
        }
        version = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            version = row[0] if row else None
        return counts, version
    finally:
        conn.close()


def _sqlite_dump(settings: Settings, folder: Path, secret: str) -> tuple[list[_WrittenFile], dict]:
    """Copy the live SQLite database with the online backup API, then store the copy."""
    source_path = _sqlite_path(settings.database_url)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".scratch-") as scratch:
        copy = Path(scratch) / "copy.sqlite3"
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(copy)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        row_counts, alembic = _sqlite_facts(copy)
        with open(copy, "rb") as handle:
            written = _write_from(
                folder / "database.sqlite3", handle, secret=secret, part="database", fmt="sqlite3"
            )
    info = {
        "dialect": "sqlite",
        "name": source_path.name,
        "server_version": sqlite3.sqlite_version,
        "alembic_version": alembic,
        "row_counts": row_counts,
    }
    return [written], info


# --- archives --------------------------------------------------------------------------------


def _archive(
    folder: Path, name: str, sources: list[tuple[Path, str]], *, secret: str, part: str
) -> tuple[_WrittenFile, int]:
    """A gzipped tar of the given folders (links are left out: they could point anywhere)."""
    entries = 0

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal entries
        if not (info.isfile() or info.isdir()):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        entries += 1
        return info

    with _stored_file(folder / name, secret) as (writer, hasher, plain):
        with tarfile.open(fileobj=writer, mode="w|gz") as tar:
            for source, arcname in sources:
                if source.is_dir():
                    tar.add(source, arcname=arcname, filter=keep)
    entry = _WrittenFile(name, part, hasher.bytes, hasher.sha256.hexdigest(), plain[0], "tar.gz")
    return entry, entries


def check_archive_members(members: Iterable[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """Refuse an archive with an absolute path, `..`, a link or a device; returns the members."""
    checked = []
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or member.name.startswith(("/", "\\")) or ".." in path.parts:
            raise UnsafeArchive(f"archive member {member.name!r} points outside the target")
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"archive member {member.name!r} is a link or special file")
        checked.append(member)
    return checked


def extract_archive(archive: Path, destination: Path) -> int:
    """Extract a (plain) tar archive into `destination` after checking every member."""
    with tarfile.open(archive, mode="r:*") as tar:
        members = check_archive_members(tar.getmembers())
        destination.mkdir(parents=True, exist_ok=True)
        # The `data` filter (PEP 706) is the second line of defence.
        tar.extractall(destination, members=members, filter="data")
    return len(members)


# --- the catalogue ---------------------------------------------------------------------------


def new_backup_id(backup_type: str, now: datetime | None = None) -> str:
    """A sortable id: `<UTC time>-<type>-<random>`."""
    if backup_type not in BACKUP_TYPES:
        raise BackupError(f"unknown backup type {backup_type!r}; one of {', '.join(BACKUP_TYPES)}")
    moment = (now or utcnow()).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{backup_type}-{secrets.token_hex(3)}"


def _catalogue_update(backup_id: str, **values: Any) -> None:
    with db.engine.begin() as conn:
        existing = conn.scalar(select(Backup.id).where(Backup.id == backup_id))
        if existing is None:
            conn.execute(Backup.__table__.insert().values(id=backup_id, **values))
        else:
            conn.execute(Backup.__table__.update().where(Backup.id == backup_id).values(**values))


def _record(action: str, outcome: str, backup_id: str | None, **details: Any) -> None:
    from server.security_manager.events import record_event

    actor = details.pop("actor_user_id", None)
    record_event(
        action=action,
        outcome=outcome,
        actor_user_id=actor,
        object_type="backup",
        object_id=backup_id,
        details=details,
    )


def _storage_label(settings: Settings) -> str:
    if not settings.backup_s3_bucket:
        return "local"
    return "local+s3" if settings.backup_keep_local_copy else "s3"


# --- public operations -----------------------------------------------------------------------


def create_backup(
    *, backup_type: str, backup_id: str | None = None, requested_by: int | None = None
) -> dict[str, Any]:
    """Make a backup of a type, store it, catalogue it; returns its catalogue entry.

    Runs in an app context (a job, the scheduler, the CLI). Idempotent for a given id: a
    backup whose manifest exists already is returned as it is.
    """
    settings = get_settings()
    backup_id = backup_id or new_backup_id(backup_type)
    if not _ID_PATTERN.match(backup_id) or backup_id.split("-")[1] != backup_type:
        raise BackupError(f"{backup_id!r} is not an id of a {backup_type} backup")
    existing = db.session.get(Backup, backup_id)
    if existing is not None and existing.status == "completed":
        return describe(existing)
    local = LocalStore(settings.backups_dir)
    folder = local.folder(backup_id)
    started = utcnow()
    _catalogue_update(
        backup_id,
        type=backup_type,
        status="running",
        created_at=started,
        encrypted=bool(settings.backup_encryption_key),
        verified=False,
        error=None,
    )
    secret = settings.backup_encryption_key
    try:
        shutil.rmtree(folder, ignore_errors=True)  # a half-written earlier attempt
        folder.mkdir(parents=True, mode=0o700)
        files: list[_WrittenFile] = []
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "id": backup_id,
            "type": backup_type,
            "created_at": isoformat(started),
            "app_version": _app_version(),
            "encrypted": bool(secret),
            "encryption": (
                {"algorithm": "AES-256-GCM-STREAM", "chunk_bytes": ENCRYPTION_CHUNK}
                if secret
                else None
            ),
        }
        for part in PARTS[backup_type]:
            if part == "database":
                dump = _pg_dump if _is_postgres(settings.database_url) else _sqlite_dump
                written, info = dump(settings, folder, secret)
                files += written
                manifest["database"] = info
            else:
                sources = (
                    [(settings.instance_dir / name, name) for name in FILES_FOLDERS]
                    if part == "files"
                    else [(settings.log_dir, "logs")]
                )
                entry, count = _archive(folder, f"{part}.tar.gz", sources, secret=secret, part=part)
                files.append(entry)
                manifest.setdefault("archives", {})[part] = {"entries": count}
        manifest["files"] = [entry.as_manifest() for entry in files]
        manifest["bytes"] = sum(entry.bytes for entry in files)
        manifest["finished_at"] = isoformat(utcnow())
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        s3 = S3Store(settings) if settings.backup_s3_bucket else None
        if s3 is not None:
            for entry in files:
                s3.upload(backup_id, folder / entry.name, entry.sha256)
            s3.put_manifest(backup_id, data)  # last: the upload is complete
        # Last of all: the local manifest makes the local copy exist.
        temporary = folder / (MANIFEST_NAME + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(folder / MANIFEST_NAME)
        if s3 is not None and not settings.backup_keep_local_copy:
            local.delete(backup_id)
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        message = f"{type(exc).__name__}: {exc}"[:2000]
        _catalogue_update(backup_id, status="failed", finished_at=utcnow(), error=message)
        _record(
            "backup_create",
            "failure",
            backup_id,
            type=backup_type,
            error=message,
            actor_user_id=requested_by,
        )
        log.error("backup failed", extra={"backup_id": backup_id, "error": message})
        raise
    sha = hashlib.sha256(data).hexdigest()
    _catalogue_update(
        backup_id,
        status="completed",
        finished_at=utcnow(),
        size_bytes=manifest["bytes"],
        sha256=sha,
        storage=_storage_label(settings),
        manifest=manifest,
    )
    _record(
        "backup_create",
        "success",
        backup_id,
        type=backup_type,
        size_bytes=manifest["bytes"],
        storage=_storage_label(settings),
        actor_user_id=requested_by,
    )
    log.info("backup made", extra={"backup_id": backup_id, "size_bytes": manifest["bytes"]})
    db.session.expire_all()
    return describe(db.session.get(Backup, backup_id))


def _app_version() -> str:
    from server import API_VERSION

    return API_VERSION


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def describe(row: Backup) -> dict[str, Any]:
    """The API's view of a catalogue row."""
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "created_at": as_utc(row.created_at),
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "storage": row.storage,
        "encrypted": row.encrypted,
        "verified": row.verified,
        "verified_at": as_utc(row.verified_at),
        "verify_error": row.verify_error,
        "error": row.error,
    }


def get_all() -> list[dict[str, Any]]:
    """Every catalogued backup, newest first."""
    rows = db.session.scalars(select(Backup).order_by(Backup.created_at.desc(), Backup.id.desc()))
    return [describe(row) for row in rows]


def load_manifest(backup_id: str, settings: Settings | None = None) -> tuple[dict, Any]:
    """The manifest of a backup and the store it was read from (local first, then S3).

    Works without the database (the catalogue), so a restore after losing it is possible.
    """
    settings = settings or get_settings()
    if not _ID_PATTERN.match(backup_id):
        raise BackupNotFound(f"{backup_id!r} is not a backup id")
    for store in stores(settings):
        data = store.read_manifest(backup_id)
        if data is not None:
            return json.loads(data), store
    raise BackupNotFound(f"no store holds a complete backup {backup_id}")


@contextlib.contextmanager
def _fetched(backup_id: str, settings: Settings) -> Iterator[tuple[dict, dict[str, Path]]]:
    """Every file of a backup, hash-checked, decrypted into a private scratch folder."""
    manifest, store = load_manifest(backup_id, settings)
    settings.backups_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.backups_dir, prefix=".scratch-") as scratch:
        folder = Path(scratch)
        stored = {
            entry["name"]: store.fetch(backup_id, entry["name"], folder, entry["sha256"])
            for entry in manifest["files"]
        }
        plain: dict[str, Path] = {}
        for name, path in stored.items():
            if manifest.get("encrypted"):
                if not settings.backup_encryption_key:
                    raise BackupError(
                        f"{backup_id} is encrypted and BACKUP_ENCRYPTION_KEY is unset"
                    )
                target = folder / f"plain-{name}"
                with open(path, "rb") as source, open(target, "wb") as out:
                    decrypt_stream(source, out, settings.backup_encryption_key)
                plain[name] = target
            else:
                plain[name] = path
        yield manifest, plain


def _compare(manifest: dict, counts: dict[str, int], version: str | None) -> list[str]:
    expected = manifest["database"]
    problems = []
    if version != expected.get("alembic_version"):
        problems.append(
            f"migration version {version!r}, manifest says {expected.get('alembic_version')!r}"
        )
    if counts != expected["row_counts"]:
        differing = sorted(
            name
            for name in set(counts) | set(expected["row_counts"])
            if counts.get(name) != expected["row_counts"].get(name)
        )
        problems.append(f"row counts differ for {', '.join(differing)}")
    return problems


def verify_backup(*, backup_id: str, requested_by: int | None = None) -> dict[str, Any]:
    """Prove a backup restores: hashes, decryption, a scratch restore compared with the
    manifest (row counts per table, migration version), archives readable and safe. Records
    the result in the catalogue and the security trail; returns the result."""
    settings = get_settings()
    started = time.monotonic()
    problems: list[str] = []
    try:
        with _fetched(backup_id, settings) as (manifest, plain):
            for name, path in plain.items():
                entry = next(item for item in manifest["files"] if item["name"] == name)
                if entry["format"] == "pg_dump-custom":
                    problems += _verify_pg(settings, manifest, path)
                elif entry["format"] == "sqlite3":
                    counts, version = _sqlite_facts(path)
                    problems += _compare(manifest, counts, version)
                elif entry["format"] == "tar.gz":
                    with tarfile.open(path, mode="r:*") as tar:
                        members = check_archive_members(tar.getmembers())
                    expected = manifest["archives"][entry["part"]]["entries"]
                    if len(members) != expected:
                        problems.append(f"{name} has {len(members)} entries, manifest {expected}")
    except BackupError as exc:
        problems.append(str(exc))
    ok = not problems
    now = utcnow()
    error = "; ".join(problems)[:2000] or None
    if db.session.get(Backup, backup_id) is not None:
        values: dict[str, Any] = {"verify_error": error}
        if ok:
            values.update(verified=True, verified_at=now)
        else:
            values.update(verified=False)
        _catalogue_update(backup_id, **values)
    _record(
        "backup_verify",
        "success" if ok else "failure",
        backup_id,
        error=error,
        actor_user_id=requested_by,
    )
    if ok:
        log.info("backup verified", extra={"backup_id": backup_id})
    else:
        log.error("backup verification failed", extra={"backup_id": backup_id, "error": error})
    return {
        "id": backup_id,
        "verified": ok,
        "verified_at": now if ok else None,
        "problems": problems,
        "duration_seconds": round(time.monotonic() - started, 3),
    }


def _verify_pg(settings: Settings, manifest: dict, dump: Path) -> list[str]:
    url = make_url(settings.database_url)
    scratch = f"backup_verify_{secrets.token_hex(6)}"
    _create_database(url, scratch)
    try:
        _pg_restore(settings, dump, url, scratch, clean=False)
        counts, version = _pg_facts(url, scratch)
        return _compare(manifest, counts, version)
    finally:
        _drop_database(url, scratch)


def live_database_name(settings: Settings) -> str:
    """The live database: its name (PostgreSQL) or its file's path (SQLite)."""
    if _is_postgres(settings.database_url):
        return make_url(settings.database_url).database or ""
    return str(_sqlite_path(settings.database_url).resolve())


def restore_backup(
    *,
    backup_id: str,
    target: str | None,
    files_to: Path | None = None,
    force: bool = False,
    requested_by: int | None = None,
) -> dict[str, Any]:
    """Restore a backup: the database into `target` (a database name, or for SQLite a file
    path), the archives into `files_to/<part>`. Every hash is checked before anything is
    written. The live database is refused unless `force` (the CLI asks for a typed
    confirmation first). Returns what was restored."""
    settings = get_settings()
    started = time.monotonic()
    restored: dict[str, Any] = {"id": backup_id}
    try:
        with _fetched(backup_id, settings) as (manifest, plain):
            has_database = "database" in manifest
            if has_database and not target:
                raise BackupError("this backup holds a database: give --target")
            if files_to is None and manifest.get("archives"):
                log.info("archives not restored (no folder given)")
            if has_database:
                restored["database"] = _restore_database(settings, manifest, plain, target, force)
            if files_to is not None:
                for entry in manifest["files"]:
                    if entry["format"] != "tar.gz":
                        continue
                    destination = files_to / entry["part"]
                    if destination.exists() and any(destination.iterdir()) and not force:
                        raise BackupError(f"{destination} is not empty (use --force)")
                    restored[entry["part"]] = {
                        "folder": str(destination),
                        "entries": extract_archive(plain[entry["name"]], destination),
                    }
    except BackupError as exc:
        _record(
            "backup_restore",
            "failure",
            backup_id,
            target=target,
            error=str(exc)[:500],
            actor_user_id=requested_by,
        )
        raise
    restored["duration_seconds"] = round(time.monotonic() - started, 3)
    _record(
        "backup_restore",
        "success",
        backup_id,
        target=target,
        forced=force,
        actor_user_id=requested_by,
    )
    return restored


def _restore_database(
    settings: Settings, manifest: dict, plain: dict[str, Path], target: str, force: bool
) -> dict[str, Any]:
    info = manifest["database"]
    live = live_database_name(settings)
    if info["dialect"] == "postgresql":
        if not _is_postgres(settings.database_url):
            raise BackupError("a PostgreSQL backup needs DATABASE_URL to point at PostgreSQL")
        _check_db_name(target)
        url = make_url(settings.database_url)
        if target == live and not force:
            raise BackupError(f"{target} is the live database: refusing without --force")
        exists = _database_exists(url, target)
        if exists and target != live and not force:
            raise BackupError(f"database {target} exists: drop it first or use --force")
        if not exists:
            _create_database(url, target)
        _pg_restore(settings, plain["database.dump"], url, target, clean=exists)
        counts, version = _pg_facts(url, target)
    else:
        path = Path(target).resolve()
        if str(path) == live and not force:
            raise BackupError(f"{path} is the live database: refusing without --force")
        if path.exists() and str(path) != live and not force:
            raise BackupError(f"{path} exists: remove it first or use --force")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".restoring")
        shutil.copyfile(plain["database.sqlite3"], staging)
        staging.replace(path)
        counts, version = _sqlite_facts(path)
    problems = _compare(manifest, counts, version)
    if problems:
        raise BackupError("restored database differs from the manifest: " + "; ".join(problems))
    return {"target": target, "tables": len(counts), "rows": sum(counts.values())}


# --- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueEntry:
    """What retention needs to know of a backup."""

    id: str
    created_at: datetime
    verified: bool


def select_expired(
    backups: Iterable[CatalogueEntry], *, daily: int, weekly: int, monthly: int
) -> set[str]:
    """The ids retention deletes, from backups of one type.

    Kept: the newest backup of each of the `daily` most recent days that have one, of each of
    the `weekly` most recent ISO weeks, of each of the `monthly` most recent months, and the
    newest verified backup whatever its age. Everything else expires. A pure function.
    """
    ordered = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    keep: set[str] = set()
    tiers = (
        (daily, lambda moment: moment.date()),
        (weekly, lambda moment: moment.isocalendar()[:2]),
        (monthly, lambda moment: (moment.year, moment.month)),
    )
    for count, period_of in tiers:
        periods: set[Any] = set()
        for backup in ordered:
            if len(periods) >= count:
                break
            period = period_of(backup.created_at.astimezone(UTC))
            if period not in periods:
                periods.add(period)
                keep.add(backup.id)
    newest_verified = next((backup for backup in ordered if backup.verified), None)
    if newest_verified is not None:
        keep.add(newest_verified.id)
    return {backup.id for backup in ordered} - keep


def apply_retention(*, dry_run: bool = False) -> dict[str, Any]:
    """Delete expired backups from every store (and the catalogue); `dry_run` only reports.

    Each type is its own series. Verified state comes from the catalogue.
    """
    settings = get_settings()
    verified = {
        row.id for row in db.session.scalars(select(Backup).where(Backup.verified.is_(True)))
    }
    found: dict[str, dict[str, Any]] = {}
    configured = stores(settings)
    for store in configured:
        for backup_id in store.ids():
            entry = found.setdefault(backup_id, {"stores": []})
            entry["stores"].append(store)
    by_type: dict[str, list[CatalogueEntry]] = {}
    for backup_id in found:
        _, _, rest = backup_id.partition("-")
        kind = rest.split("-")[0]
        moment = datetime.strptime(backup_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        by_type.setdefault(kind, []).append(
            CatalogueEntry(backup_id, moment, backup_id in verified)
        )
    expired: set[str] = set()
    for entries in by_type.values():
        expired |= select_expired(
            entries,
            daily=settings.backup_retention_daily,
            weekly=settings.backup_retention_weekly,
            monthly=settings.backup_retention_monthly,
        )
    abandoned = LocalStore(settings.backups_dir).abandoned(time.time())
    if not dry_run:
        for backup_id in sorted(expired):
            for store in found[backup_id]["stores"]:
                store.delete(backup_id)
            with db.engine.begin() as conn:
                conn.execute(Backup.__table__.delete().where(Backup.id == backup_id))
        for folder in abandoned:
            shutil.rmtree(folder, ignore_errors=True)
        if expired:
            _record("backup_retention", "success", None, deleted=len(expired))
    result = {
        "dry_run": dry_run,
        "deleted": sorted(expired),
        "kept": sorted(set(found) - expired),
        "abandoned": sorted(folder.name for folder in abandoned),
    }
    log.info(
        "backup retention applied",
        extra={"dry_run": dry_run, "deleted": len(expired), "kept": len(result["kept"])},
    )
    return result


# --- figures for status, metrics and alerts --------------------------------------------------


def summary() -> dict[str, Any]:
    """`{"total_backups": int, "latest_backups": {type: ISO time}}` of completed backups."""
    rows = db.session.execute(
        select(Backup.type, Backup.created_at).where(Backup.status == "completed")
    ).all()
    latest: dict[str, datetime] = {}
    for kind, created in rows:
        created = as_utc(created)
        if kind not in latest or created > latest[kind]:
            latest[kind] = created
    return {
        "total_backups": len(rows),
        "latest_backups": {kind: isoformat(moment) for kind, moment in sorted(latest.items())},
    }


def newest_verified_age_seconds() -> float | None:
    """Age (from its creation) of the newest verified backup of the database, or None."""
    created = db.session.scalar(
        select(Backup.created_at)
        .where(Backup.verified.is_(True), Backup.type.in_(("database", "full")))
        .order_by(Backup.created_at.desc())
        .limit(1)
    )
    if created is None:
        return None
    return max(0.0, (utcnow() - as_utc(created)).total_seconds())


# --- scheduled jobs (see server/scheduler.py) ------------------------------------------------


def scheduled_database_backup() -> dict[str, Any]:
    """The daily database backup."""
    return create_backup(backup_type="database")


def scheduled_files_backup() -> dict[str, Any]:
    """The weekly files backup."""
    return create_backup(backup_type="files")


def scheduled_logs_backup() -> dict[str, Any]:
    """The weekly logs backup."""
    return create_backup(backup_type="logs")


def scheduled_retention() -> dict[str, Any]:
    """The daily retention run."""
    return apply_retention()


def scheduled_verification() -> list[dict[str, Any]]:
    """The weekly restore test: the newest completed backup of each type."""
    newest: dict[str, str] = {}
    for row in db.session.scalars(
        select(Backup).where(Backup.status == "completed").order_by(Backup.created_at.desc())
    ):
        newest.setdefault(row.type, row.id)
    return [verify_backup(backup_id=backup_id) for backup_id in newest.values()]
