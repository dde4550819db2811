"""Backups: database, files and logs; a manifest; local and S3 storage; retention; verify; restore.

This module holds the operations (create, verify, restore, retention, figures); its parts are
`streams` (hashing, encryption), `manifests` (signing, checking), `stores` (local, S3),
`postgres`, `sqlite`, `archives` and `retention`.

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
- `files`: the user files wherever the configured storage keeps them (the local folder, or
  every object under the bucket's prefix, streamed in as stored: sealed, never opened; see
  `userfiles`), and INSTANCE_DIR's uploads and documents; `logs`: LOG_DIR; `full`: all three.
- Encryption (BACKUP_ENCRYPTION_KEY): AES-256-GCM over 1 MiB chunks, streamed (see
  `EncryptingWriter`); each file has its own key derived with HKDF from a random salt. The
  manifest carries an HMAC under the key, and with a key set only such manifests of encrypted
  backups are read; every name and part in a manifest must be one a backup writes.
- Verify: restore into a scratch database, compare row counts per table and the migration
  version with the manifest, drop it. Restore: hashes first, then `pg_restore`; never the live
  database unless forced. Archives are extracted only when every member is a plain file or
  folder inside the target.

Commands run without a shell; the database password goes through a private PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from server.backup_manager import archives, manifests, postgres, sqlite, userfiles
from server.backup_manager.errors import (
    BackupError,
    BackupIntegrityError,
    BackupNotFound,
    UnsafeArchive,
)
from server.backup_manager.retention import CatalogueEntry, select_expired
from server.backup_manager.stores import ID_PATTERN, MANIFEST_NAME, LocalStore, S3Store, stores
from server.backup_manager.streams import (
    ENCRYPTION_CHUNK,
    EncryptingWriter,
    WrittenFile,
    decrypt_stream,
)
from server.core.config import Settings, get_settings
from server.core.extensions import db
from server.models import Backup, utcnow
from server.models.base import as_utc, isoformat

__all__ = [
    "BACKUP_TYPES",
    "BackupError",
    "BackupIntegrityError",
    "BackupNotFound",
    "CatalogueEntry",
    "EncryptingWriter",
    "LocalStore",
    "S3Store",
    "UnsafeArchive",
    "apply_retention",
    "create_backup",
    "decrypt_stream",
    "get_all",
    "last_verified_backup_age",
    "latest_failures",
    "newest_verified_age_seconds",
    "reap_abandoned",
    "restore_backup",
    "select_expired",
    "stores",
    "summary",
    "verify_backup",
]

log = logging.getLogger("server.backup_manager")

BACKUP_TYPES = ("database", "files", "logs", "full")
DEFAULT_BACKUP_TYPE = "database"  # the API's and the CLI's, when none is named
PARTS = manifests.PARTS
# Set by the process making a backup, for SCHEDULER_LOCK_SECONDS, renewed every third of it: a
# `running` backup without it was left by a process that died (see `reap_abandoned`).
ALIVE_KEY = "backup:alive:{id}"


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
    backup whose manifest exists already is returned as it is. Any failure ends the whole
    backup at once: its files are removed, its row is marked failed (which the
    `backup_failed` alert reports) and a `BackupError` saying why is raised.
    """
    settings = get_settings()
    backup_id = backup_id or new_backup_id(backup_type)
    if not ID_PATTERN.match(backup_id) or backup_id.split("-")[1] != backup_type:
        raise BackupError(f"{backup_id!r} is not an id of a {backup_type} backup")
    # Read on a connection of its own: no transaction stays open while the backup runs.
    with db.engine.connect() as conn:
        status = conn.scalar(select(Backup.status).where(Backup.id == backup_id))
    if status == "completed":
        return describe(db.session.get(Backup, backup_id))
    with _heartbeat(backup_id, settings):
        return _make(settings, backup_type, backup_id, requested_by)


def _alive_key(backup_id: str) -> str:
    return ALIVE_KEY.format(id=backup_id)


@contextlib.contextmanager
def _heartbeat(backup_id: str, settings: Settings) -> Iterator[None]:
    """Say in Redis that this process is making the backup (see `reap_abandoned`)."""
    import redis

    from server.core.redis_client import get_redis, kept_alive

    token = secrets.token_hex(8)
    seconds = settings.scheduler_lock_seconds
    try:
        conn = get_redis()
        conn.set(_alive_key(backup_id), token, px=max(1, int(seconds * 1000)))
    except redis.RedisError as exc:
        # The backup matters more; the heartbeat comes back with Redis (kept_alive sets it).
        log.warning(
            "backup heartbeat not written", extra={"backup_id": backup_id, "error": str(exc)}
        )
    else:
        with kept_alive(conn, _alive_key(backup_id), token, seconds):
            yield
        return
    yield


def _make(
    settings: Settings, backup_type: str, backup_id: str, requested_by: int | None
) -> dict[str, Any]:
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
        files: list[WrittenFile] = []
        manifest: dict[str, Any] = {
            "format": manifests.FORMAT,
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
                dump = postgres.dump if _is_postgres(settings.database_url) else sqlite.dump
                written, info = dump(settings, folder, secret)
                files += written
                manifest["database"] = info
            elif part == "files":
                stored = userfiles.storage_count(settings)
                entry, count = archives.write_archive(
                    folder,
                    "files.tar.gz",
                    userfiles.folders(settings),
                    secret=secret,
                    part=part,
                    streams=userfiles.streams(settings, stored),
                    skip=stored.skip_local,
                )
                files.append(entry)
                manifest.setdefault("archives", {})[part] = {
                    "entries": count,
                    "storage": stored.as_manifest(),
                }
            else:
                entry, count = archives.write_archive(
                    folder, f"{part}.tar.gz", [(settings.log_dir, "logs")], secret=secret, part=part
                )
                files.append(entry)
                manifest.setdefault("archives", {})[part] = {"entries": count}
        manifest["files"] = [entry.as_manifest() for entry in files]
        manifest["bytes"] = sum(entry.bytes for entry in files)
        manifest["finished_at"] = isoformat(utcnow())
        if secret:
            manifest["hmac"] = manifests.sign(manifest, secret)
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
        sha = hashlib.sha256(data).hexdigest()
        with db.engine.begin() as conn:
            finished = conn.execute(
                update(Backup)
                .where(Backup.id == backup_id, Backup.status == "running")
                .values(
                    status="completed",
                    finished_at=utcnow(),
                    size_bytes=manifest["bytes"],
                    sha256=sha,
                    storage=_storage_label(settings),
                    manifest=manifest,
                )
            ).rowcount
        if not finished:
            raise BackupError("it was marked failed while it ran (no heartbeat reached Redis)")
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        message = (str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}")[
            :2000
        ]
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
        raise BackupError(f"backup {backup_id} failed: {message}") from exc
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
    from server.core.version import API_VERSION

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
    """The manifest of a backup, checked (see `manifests.check`), and the store it was read
    from (local first, then S3).

    Works without the database (the catalogue), so a restore after losing it is possible.
    """
    settings = settings or get_settings()
    if not ID_PATTERN.match(backup_id):
        raise BackupNotFound(f"{backup_id!r} is not a backup id")
    for store in stores(settings):
        data = store.read_manifest(backup_id)
        if data is not None:
            return manifests.check(data, backup_id, settings.backup_encryption_key), store
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
                    counts, version = sqlite.facts(path)
                    problems += _compare(manifest, counts, version)
                elif entry["format"] == "tar.gz":
                    with tarfile.open(path, mode="r:*") as tar:
                        members = archives.check_archive_members(tar.getmembers())
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
    url = make_url(settings.direct_database_url)
    scratch = f"backup_verify_{secrets.token_hex(6)}"
    postgres.create_database(url, scratch)
    try:
        postgres.restore(settings, dump, url, scratch, clean=False)
        counts, version = postgres.facts(url, scratch)
        return _compare(manifest, counts, version)
    finally:
        postgres.drop_database(url, scratch)


def live_database_name(settings: Settings) -> str:
    """The live database: its name (PostgreSQL) or its file's path (SQLite)."""
    if _is_postgres(settings.database_url):
        return make_url(settings.direct_database_url).database or ""
    return str(sqlite.database_path(settings.database_url).resolve())


def restore_backup(
    *,
    backup_id: str,
    target: str | None,
    files_to: Path | None = None,
    into_storage: bool = False,
    force: bool = False,
    requested_by: int | None = None,
) -> dict[str, Any]:
    """Restore a backup: the database into `target` (a database name, or for SQLite a file
    path), the archives into `files_to/<part>`, and with `into_storage` the user files of a
    `files` archive into the configured storage (the local folder or the bucket; a file there
    with the same bytes is skipped, one with other bytes kept unless `force`). Every hash is
    checked before anything is written. The live database is refused unless `force` (the CLI
    asks for a typed confirmation first). Returns what was restored."""
    settings = get_settings()
    started = time.monotonic()
    restored: dict[str, Any] = {"id": backup_id}
    try:
        with _fetched(backup_id, settings) as (manifest, plain):
            has_database = "database" in manifest
            files_given = files_to is not None or into_storage
            if has_database and not target and not files_given:
                raise BackupError("this backup holds a database: give --target")
            if into_storage and "files" not in manifest.get("archives", {}):
                raise BackupError("this backup holds no user files (a files or full backup does)")
            if files_to is None and not into_storage and manifest.get("archives"):
                log.info("archives not restored (no folder given)")
            if has_database and target:
                restored["database"] = _restore_database(settings, manifest, plain, target, force)
            elif has_database:
                log.info("database not restored (no --target given)")
            if into_storage:
                restored["storage"] = userfiles.restore_into_storage(
                    settings,
                    plain["files.tar.gz"],
                    manifest["archives"]["files"].get("storage") or {"folder": "uploads"},
                    force=force,
                )
            if files_to is not None:
                for entry in manifest["files"]:
                    if entry["format"] != "tar.gz":
                        continue
                    destination = files_to / entry["part"]
                    if destination.exists() and any(destination.iterdir()) and not force:
                        raise BackupError(f"{destination} is not empty (use --force)")
                    restored[entry["part"]] = {
                        "folder": str(destination),
                        "entries": archives.extract_archive(plain[entry["name"]], destination),
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
        postgres.check_db_name(target)
        url = make_url(settings.direct_database_url)
        if target == live and not force:
            raise BackupError(f"{target} is the live database: refusing without --force")
        exists = postgres.database_exists(url, target)
        if exists and target != live and not force:
            raise BackupError(f"database {target} exists: drop it first or use --force")
        if not exists:
            postgres.create_database(url, target)
        postgres.restore(settings, plain["database.dump"], url, target, clean=exists)
        counts, version = postgres.facts(url, target)
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
        counts, version = sqlite.facts(path)
    problems = _compare(manifest, counts, version)
    if problems:
        raise BackupError("restored database differs from the manifest: " + "; ".join(problems))
    return {"target": target, "tables": len(counts), "rows": sum(counts.values())}


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


def latest_failures() -> list[dict[str, Any]]:
    """The types whose latest finished backup failed: `{"id", "type", "error", "at"}` each
    (what the `backup_failed` alert reports until a later backup of that type completes)."""
    rows = db.session.execute(
        select(Backup.id, Backup.type, Backup.status, Backup.error, Backup.finished_at)
        .where(Backup.status.in_(("completed", "failed")))
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(200)
    ).all()
    latest: dict[str, Any] = {}
    for row in rows:
        latest.setdefault(row.type, row)
    return [
        {"id": row.id, "type": kind, "error": row.error, "at": as_utc(row.finished_at)}
        for kind, row in sorted(latest.items())
        if row.status == "failed"
    ]


def reap_abandoned() -> dict[str, Any]:
    """Backups left `running` by a process that died (no heartbeat in Redis for
    SCHEDULER_LOCK_SECONDS): marked failed, their local files removed."""
    from server.core.redis_client import get_redis

    settings = get_settings()
    conn = get_redis()
    cutoff = utcnow() - timedelta(seconds=settings.scheduler_lock_seconds)
    candidates = db.session.scalars(
        select(Backup.id).where(Backup.status == "running", Backup.created_at < cutoff)
    ).all()
    db.session.rollback()
    reaped = []
    for backup_id in candidates:
        if conn.exists(_alive_key(backup_id)):
            continue
        error = (
            "the process making it stopped before it finished "
            f"(no heartbeat for {settings.scheduler_lock_seconds:g} s)"
        )
        with db.engine.begin() as sql:
            changed = sql.execute(
                update(Backup)
                .where(Backup.id == backup_id, Backup.status == "running")
                .values(status="failed", finished_at=utcnow(), error=error)
            ).rowcount
        if not changed:
            continue
        LocalStore(settings.backups_dir).delete(backup_id)
        _record("backup_create", "failure", backup_id, error=error)
        log.error("backup failed", extra={"backup_id": backup_id, "error": error})
        reaped.append(backup_id)
    return {"reaped": reaped}


def last_verified_backup_age() -> timedelta | None:
    """`newest_verified_age_seconds` as a duration (the security audit's backup check)."""
    seconds = newest_verified_age_seconds()
    return None if seconds is None else timedelta(seconds=seconds)


# --- scheduled jobs (see server/ops/scheduler.py) ------------------------------------------------


def scheduled_database_backup() -> dict[str, Any]:
    """The daily database backup."""
    return create_backup(backup_type="database")


def scheduled_files_backup() -> dict[str, Any]:
    """The weekly files backup."""
    return create_backup(backup_type="files")


def scheduled_logs_backup() -> dict[str, Any]:
    """The weekly logs backup."""
    return create_backup(backup_type="logs")


def scheduled_reaping() -> dict[str, Any]:
    """Every minute: backups whose process died are marked failed."""
    return reap_abandoned()


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
