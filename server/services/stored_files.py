"""Every user file the store holds, by its row: moving them into the configured back end
(`flask storage-migrate`), and sealing them again under the newest key (with
`flask rotate-encryption-key`).

The rows are the truth: a resume's `storage` (`legacy`, `local`, `s3`) and a screenshot's
`storage` (NULL: the image is in the row) say where each file is; nothing lists the bucket.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from server import storage
from server.core.config import get_settings
from server.core.extensions import db
from server.models import Application, ApplicationScreenshot, Resume
from server.services import resumes
from server.services.key_counts import ColumnKeys, ColumnRotation

log = logging.getLogger("server.stored_files")
BATCH = 200
NAMED_ROWS = 20


@dataclass
class Moved:
    """What a migration did: files moved, found there already, and those it could not move."""

    target: str
    moved: int = 0
    already: int = 0
    failed: list[str] = field(default_factory=list)  # "resume <id>: why", the first few
    failed_count: int = 0

    def fail(self, what: str, why: str) -> None:
        self.failed_count += 1
        if len(self.failed) < NAMED_ROWS:
            self.failed.append(f"{what}: {why}")
        log.warning("file not moved", extra={"file": what, "reason": why})


def _batches(query, key) -> Iterator[list]:
    """Rows of `query` a batch at a time, in `key` order (the session is free between)."""
    last = None
    while True:
        page = query.order_by(key).limit(BATCH)
        if last is not None:
            page = page.where(key > last)
        rows = list(db.session.execute(page))
        db.session.rollback()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _put_verified(store: storage.FileStore, name: str, data: bytes, sha256: str) -> bool:
    """Store the file, read it back and compare its SHA-256; False when it differs."""
    store.put(name, data)
    return hashlib.sha256(store.get(name)).hexdigest() == sha256


def migrate(*, target: str | None = None) -> Moved:
    """Move every user file that is not in `target` (default: the configured back end) into
    it, each verified by its SHA-256 before its row is switched, then delete the old copy.

    Runs again safely and resumes where it stopped: a row is switched only after its file is
    there and checked, and a file copied whose row was not switched is copied again. The
    bucket going away stops it (`StorageUnavailable`); what was moved stays moved.
    """
    settings = get_settings()
    target = target or settings.storage_backend
    store = storage.store_for(target, settings)
    done = Moved(target)
    _migrate_resumes(store, done)
    _migrate_screenshots(store, done)
    return done


def _migrate_resumes(store: storage.FileStore, done: Moved) -> None:
    query = select(Resume.id, Resume.user_id, Resume.storage, Resume.storage_key, Resume.sha256)
    for rows in _batches(query, Resume.id):
        for resume_id, user_id, where, storage_key, sha256 in rows:
            row = Resume(id=resume_id, user_id=user_id, storage=where, storage_key=storage_key)
            what = f"resume {resume_id}"
            if where == store.name:
                done.already += 1
                _drop_local_copies(row, keep=where)  # left by a run that stopped after commit
                continue
            try:
                data = resumes.read_file(resume=row)
            except storage.MissingObject:
                done.fail(what, f"its file is missing from {where}")
                continue
            except storage.SealBroken as exc:
                done.fail(what, f"its file in {where} does not open ({exc})")
                continue
            if hashlib.sha256(data).hexdigest() != sha256:
                done.fail(what, f"its file in {where} differs from the SHA-256 recorded at upload")
                continue
            name = resumes.object_name(resume=row)
            if not _put_verified(store, name, data, sha256):
                done.fail(what, f"the copy in {store.name} read back differently")
                continue
            switched = db.session.execute(
                update(Resume)
                .where(Resume.id == resume_id, Resume.storage == where)
                .values(storage=store.name)
            ).rowcount
            db.session.commit()
            if not switched:  # deleted (or moved) meanwhile: the copy names nothing
                store.delete(name)
                continue
            done.moved += 1
            _drop_copy(row, where)


def _drop_copy(row: Resume, where: str) -> None:
    try:
        resumes.delete_file(resume=row)
    except storage.StorageUnavailable:
        log.warning("old copy left", extra={"resume_id": str(row.id), "storage": where})


def _drop_local_copies(row: Resume, *, keep: str) -> None:
    """Delete copies on this machine's disk that a stopped run left (cheap: no request)."""
    for where in (resumes.LEGACY, "local"):
        if where != keep:
            row.storage = where
            resumes.delete_file(resume=row)
    row.storage = keep


def _migrate_screenshots(store: storage.FileStore, done: Moved) -> None:
    query = (
        select(
            ApplicationScreenshot.id,
            Application.user_id,
            ApplicationScreenshot.application_id,
            ApplicationScreenshot.storage,
            ApplicationScreenshot.storage_key,
        )
        .join(Application, Application.id == ApplicationScreenshot.application_id)
        .where(
            (ApplicationScreenshot.storage.is_(None))
            | (ApplicationScreenshot.storage != store.name)
        )
    )
    for rows in _batches(query, ApplicationScreenshot.id):
        for shot_id, user_id, application_id, where, old_name in rows:
            what = f"screenshot {shot_id}"
            if where is None:
                data = db.session.scalar(
                    select(ApplicationScreenshot.png).where(ApplicationScreenshot.id == shot_id)
                )
                db.session.rollback()
                if data is None:
                    continue
            else:
                try:
                    data = storage.store_for(where).get(old_name)
                except (storage.MissingObject, storage.SealBroken) as exc:
                    done.fail(what, f"its image in {where} cannot be read ({exc!r})")
                    continue
            sha256 = hashlib.sha256(data).hexdigest()
            name = old_name or (
                f"{storage.user_prefix(user_id)}screenshots/{application_id}/{uuid.uuid4().hex}.png"
            )
            if not _put_verified(store, name, data, sha256):
                done.fail(what, f"the copy in {store.name} read back differently")
                continue
            still = (
                ApplicationScreenshot.storage.is_(None)
                if where is None
                else (ApplicationScreenshot.storage == where)
            )
            switched = db.session.execute(
                update(ApplicationScreenshot)
                .where(ApplicationScreenshot.id == shot_id, still)
                .values(storage=store.name, storage_key=name, png=None)
            ).rowcount
            db.session.commit()
            if not switched:
                store.delete(name)
                continue
            done.moved += 1
            if where is not None:
                try:
                    storage.store_for(where).delete(old_name)
                except storage.StorageUnavailable:
                    log.warning("old copy left", extra={"screenshot_id": shot_id})


def _stored() -> Iterator[tuple[str, str, str, Any]]:
    """(row, back end, name, a query for the row) of every file in the store, resumes then
    screenshots."""
    query = select(Resume.id, Resume.user_id, Resume.storage, Resume.storage_key).where(
        Resume.storage != resumes.LEGACY
    )
    for rows in _batches(query, Resume.id):
        for resume_id, user_id, where, storage_key in rows:
            row = Resume(user_id=user_id, storage_key=storage_key)
            still = select(Resume.id).where(Resume.id == resume_id, Resume.storage == where)
            yield f"resume {resume_id}", where, resumes.object_name(resume=row), still
    query = select(
        ApplicationScreenshot.id, ApplicationScreenshot.storage, ApplicationScreenshot.storage_key
    ).where(ApplicationScreenshot.storage.is_not(None))
    for rows in _batches(query, ApplicationScreenshot.id):
        for shot_id, where, name in rows:
            still = select(ApplicationScreenshot.id).where(
                ApplicationScreenshot.id == shot_id, ApplicationScreenshot.storage_key == name
            )
            yield f"screenshot {shot_id}", where, name, still


FILES = "stored files"


def census() -> ColumnKeys:
    """Which key of ENCRYPTION_KEY sealed each stored file (reads only their headers)."""
    counted = ColumnKeys(FILES)
    for what, where, name, _still in _stored():
        try:
            index = storage.store_for(where).key_index(name)
        except storage.MissingObject:
            continue  # a missing file is under no key: the download says so
        except storage.SealBroken:
            index = None
        if index == 0:
            counted.newest += 1
        elif index is not None:
            counted.older += 1
        else:
            counted.unreadable += 1
            if len(counted.unreadable_rows) < NAMED_ROWS:
                counted.unreadable_rows.append(what)
    return counted


def rotate() -> ColumnRotation:
    """Seal every stored file under an older key again under the newest (runs again safely:
    a file under the newest key is left as it is)."""
    done = ColumnRotation(FILES)
    for _what, where, name, still in _stored():
        store = storage.store_for(where)
        try:
            if not store.reseal(name):
                continue
        except storage.MissingObject:
            done.changed_meanwhile += 1  # deleted since it was listed
            continue
        except storage.SealBroken:
            continue  # under no configured key: the census names it
        there = db.session.scalar(still) is not None
        db.session.rollback()
        if there:
            done.rotated += 1
        else:  # its row went while it was sealed again: the new copy names nothing
            store.delete(name)
            done.changed_meanwhile += 1
    return done
