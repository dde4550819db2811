"""A manifest is checked before anything in it is used: crafted names, parts and flags are
refused, and with a backup key only a signed manifest of an encrypted backup is accepted."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from sqlalchemy import select

from server import backup_manager
from server.backup_manager import BackupError, BackupIntegrityError
from server.core.extensions import db
from server.models import SecurityEvent

BACKUP_KEY = "a backup passphrase that is long enough"


@pytest.fixture
def backup_app(make_app, tmp_path):
    app = make_app(backup_dir=tmp_path / "store" / "backups")
    with app.app_context():
        yield app


def archive_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rewrite_manifest(folder, change) -> None:
    """What someone who can write to the store does: edit the manifest, keep it consistent."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def files_backup(app) -> tuple[str, object]:
    made = backup_manager.create_backup(backup_type="files")
    return made["id"], app.config["SETTINGS"].backups_dir / made["id"]


def restore_failures() -> list[str]:
    db.session.rollback()
    events = db.session.scalars(
        select(SecurityEvent).where(SecurityEvent.action == "backup_restore")
    ).all()
    return [e.outcome for e in events]


@pytest.mark.parametrize("part", ["../../escaped", "ABSOLUTE"])
def test_a_part_that_leads_out_of_the_restore_folder_is_refused(backup_app, tmp_path, part):
    backup_id, folder = files_backup(backup_app)
    outside = tmp_path / "escaped"
    part = str(outside) if part == "ABSOLUTE" else part

    def lead_out(manifest):
        manifest["files"][0]["part"] = part
        manifest["archives"] = {part: {"entries": 1}}

    rewrite_manifest(folder, lead_out)
    into = tmp_path / "restore" / "here"
    with pytest.raises(BackupIntegrityError, match="part"):
        backup_manager.restore_backup(backup_id=backup_id, target=None, files_to=into)
    assert not outside.exists() and not (tmp_path / "restore").exists()
    assert restore_failures() == ["failure"]


def test_a_name_that_points_outside_the_backups_folder_is_never_read(backup_app, tmp_path):
    backup_id, folder = files_backup(backup_app)
    planted = archive_of({"uploads/planted.txt": b"from outside the backup"})
    (tmp_path / "store" / "planted.tar.gz").write_bytes(planted)

    def point_outside(manifest):
        manifest["files"][0].update(
            name="../../planted.tar.gz",
            bytes=len(planted),
            sha256=hashlib.sha256(planted).hexdigest(),
        )

    rewrite_manifest(folder, point_outside)
    into = tmp_path / "restored"
    with pytest.raises(BackupIntegrityError, match="not a file a backup holds"):
        backup_manager.restore_backup(backup_id=backup_id, target=None, files_to=into)
    assert not into.exists()
    assert not backup_manager.verify_backup(backup_id=backup_id)["verified"]


def test_a_manifest_of_another_backup_is_refused(backup_app, tmp_path):
    first, _ = files_backup(backup_app)
    second, folder = files_backup(backup_app)
    rewrite_manifest(folder, lambda manifest: manifest.update(id=first))
    with pytest.raises(BackupIntegrityError, match="manifest of"):
        backup_manager.restore_backup(backup_id=second, target=None, files_to=tmp_path / "out")


@pytest.fixture
def keyed_app(make_app, tmp_path):
    app = make_app(backup_dir=tmp_path / "store" / "backups", backup_encryption_key=BACKUP_KEY)
    with app.app_context():
        yield app


def test_with_a_backup_key_a_plaintext_archive_declared_unencrypted_is_refused(keyed_app, tmp_path):
    backup_id, folder = files_backup(keyed_app)
    plain = archive_of({"uploads/swapped.txt": b"not what was backed up"})
    (folder / "files.tar.gz").write_bytes(plain)

    def declare_plain(manifest):
        manifest.update(encrypted=False, encryption=None)
        manifest.pop("hmac")
        manifest["files"][0].update(bytes=len(plain), sha256=hashlib.sha256(plain).hexdigest())

    rewrite_manifest(folder, declare_plain)
    into = tmp_path / "restored"
    with pytest.raises(BackupIntegrityError, match="not encrypted"):
        backup_manager.restore_backup(backup_id=backup_id, target=None, files_to=into)
    assert not into.exists()
    result = backup_manager.verify_backup(backup_id=backup_id)
    assert not result["verified"] and "not encrypted" in result["problems"][0]


def test_with_a_backup_key_a_changed_manifest_fails_its_hmac(keyed_app, tmp_path):
    (keyed_app.config["SETTINGS"].instance_dir / "uploads").mkdir(parents=True, exist_ok=True)
    backup_id, folder = files_backup(keyed_app)
    assert backup_manager.verify_backup(backup_id=backup_id)["verified"]
    rewrite_manifest(folder, lambda manifest: manifest["archives"]["files"].update(entries=0))
    with pytest.raises(BackupIntegrityError, match="HMAC"):
        backup_manager.restore_backup(backup_id=backup_id, target=None, files_to=tmp_path / "o")
    result = backup_manager.verify_backup(backup_id=backup_id)
    assert not result["verified"] and "HMAC" in result["problems"][0]


def test_a_backup_made_with_one_key_is_refused_under_another(keyed_app, make_app, tmp_path):
    backup_id, _ = files_backup(keyed_app)
    other = make_app(
        backup_dir=tmp_path / "store" / "backups", backup_encryption_key="another key, as long"
    )
    with other.app_context(), pytest.raises(BackupError, match="HMAC"):
        backup_manager.restore_backup(backup_id=backup_id, target=None, files_to=tmp_path / "o")
