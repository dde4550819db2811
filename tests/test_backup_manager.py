"""Backups on the real PostgreSQL and on SQLite: made, verified, restored, compared."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.engine import make_url

from server import backup_manager, create_app
from server.backup_manager import BackupError, BackupIntegrityError, UnsafeArchive, postgres
from server.core.config import PROJECT_ROOT
from server.core.extensions import db
from server.models import Backup, SecurityEvent
from tests.backup_helpers import add_rows, pg_table_digests, sqlite_table_digests

BACKUP_KEY = "a backup passphrase that is long enough"


@pytest.fixture
def backup_app(make_app, tmp_path):
    """An app whose backups go to a folder of this test."""
    app = make_app(backup_dir=tmp_path / "backups")
    with app.app_context():
        yield app


@pytest.fixture
def scratch_databases(settings):
    """Names of databases a test restores into; dropped afterwards."""
    url = make_url(settings.database_url)
    names = []
    yield names
    for name in names:
        postgres.drop_database(url, name)


def events(action: str) -> list[SecurityEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(SecurityEvent).where(SecurityEvent.action == action)))


def test_postgres_backup_verifies_and_restores_into_a_new_database_with_equal_contents(
    backup_app, settings, scratch_databases
):
    add_rows()
    made = backup_manager.create_backup(backup_type="database")
    assert made["status"] == "completed" and made["storage"] == "local"
    source = pg_table_digests(settings.database_url)

    verified = backup_manager.verify_backup(backup_id=made["id"])
    assert verified["verified"], verified["problems"]
    db.session.expire_all()
    assert db.session.get(Backup, made["id"]).verified is True

    target = f"restored_{made['id'][-6:]}"
    scratch_databases.append(target)
    restored = backup_manager.restore_backup(backup_id=made["id"], target=target)
    assert restored["database"]["target"] == target
    copy = pg_table_digests(settings.database_url, target)
    # Everything the dump saw; the events recorded after it (the verify) are the difference.
    source["security_events"] = copy["security_events"]
    source.pop("backups")
    copy.pop("backups")
    assert copy == source
    assert copy["users"][0] == 5 and copy["jobs"][0] == 15

    folder = backup_app.config["SETTINGS"].backups_dir / made["id"]
    manifest = json.loads((folder / "manifest.json").read_text())
    head = ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head()
    assert manifest["database"]["alembic_version"] == head
    assert manifest["database"]["row_counts"]["jobs"] == 15
    assert {entry["name"] for entry in manifest["files"]} >= {"database.dump"}
    assert [e.outcome for e in events("backup_create")] == ["success"]
    assert [e.outcome for e in events("backup_verify")] == ["success"]
    assert [e.outcome for e in events("backup_restore")] == ["success"]


def test_the_manifest_is_written_last_so_a_failed_backup_does_not_exist(backup_app, monkeypatch):
    def broken(*_args, **_kwargs):
        raise BackupError("disk full")

    monkeypatch.setattr(postgres, "dump", broken)
    with pytest.raises(BackupError):
        backup_manager.create_backup(backup_type="full")
    settings = backup_app.config["SETTINGS"]
    assert backup_manager.LocalStore(settings.backups_dir).ids() == []
    row = db.session.scalars(select(Backup)).one()
    assert row.status == "failed" and "disk full" in row.error
    assert [e.outcome for e in events("backup_create")] == ["failure"]


def test_a_changed_byte_in_a_stored_dump_fails_verification_and_is_recorded(backup_app):
    add_rows(users=1)
    made = backup_manager.create_backup(backup_type="database")
    dump = backup_app.config["SETTINGS"].backups_dir / made["id"] / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))

    result = backup_manager.verify_backup(backup_id=made["id"])
    assert not result["verified"]
    assert "does not match the manifest" in result["problems"][0]
    db.session.expire_all()
    row = db.session.get(Backup, made["id"])
    assert row.verified is False and "SHA-256" in row.verify_error
    assert [e.outcome for e in events("backup_verify")] == ["failure"]
    with pytest.raises(BackupIntegrityError):
        backup_manager.restore_backup(backup_id=made["id"], target="never_created")


def test_a_failed_verification_withdraws_an_earlier_successful_one(backup_app):
    made = backup_manager.create_backup(backup_type="logs")
    assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
    archive = backup_app.config["SETTINGS"].backups_dir / made["id"] / "logs.tar.gz"
    archive.write_bytes(archive.read_bytes() + b"rot")

    assert not backup_manager.verify_backup(backup_id=made["id"])["verified"]
    [listed] = backup_manager.get_all()
    assert listed["verified"] is False and "SHA-256" in listed["verify_error"]
    # Retention no longer keeps it as the newest verified backup.
    db.session.expire_all()
    verified = db.session.scalars(select(Backup.id).where(Backup.verified.is_(True))).all()
    assert verified == []


def test_restoring_over_the_live_database_is_refused_without_force(backup_app, settings):
    made = backup_manager.create_backup(backup_type="database")
    live = make_url(settings.database_url).database
    with pytest.raises(BackupError, match="live database"):
        backup_manager.restore_backup(backup_id=made["id"], target=live)
    assert [e.outcome for e in events("backup_restore")] == ["failure"]


def test_the_restore_command_asks_for_the_live_database_name(backup_app, settings):
    made = backup_manager.create_backup(backup_type="database")
    live = make_url(settings.database_url).database
    runner = backup_app.test_cli_runner()
    refused = runner.invoke(args=["backup", "restore", made["id"], "--target", live])
    assert refused.exit_code != 0 and "refusing without --force" in refused.output
    mistyped = runner.invoke(
        args=["backup", "restore", made["id"], "--target", live, "--force"], input="wrong\n"
    )
    assert mistyped.exit_code != 0 and "did not match" in mistyped.output
    assert events("backup_restore") == []


def test_encrypted_backup_stores_no_plain_dump_and_restores(
    make_app, tmp_path, settings, scratch_databases
):
    app = make_app(backup_dir=tmp_path / "backups", backup_encryption_key=BACKUP_KEY)
    with app.app_context():
        add_rows(users=2)
        made = backup_manager.create_backup(backup_type="database")
        stored = (tmp_path / "backups" / made["id"] / "database.dump").read_bytes()
        assert not stored.startswith(b"PGDMP")  # pg_dump's custom format begins so
        assert b"backup-user0" not in stored and b"Backup User" not in stored
        assert made["encrypted"] is True
        assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
        target = f"restored_enc_{made['id'][-6:]}"
        scratch_databases.append(target)
        backup_manager.restore_backup(backup_id=made["id"], target=target)
        assert pg_table_digests(settings.database_url, target)["users"][0] == 2

    other = make_app(backup_dir=tmp_path / "backups", backup_encryption_key="another key entirely!")
    with other.app_context():
        result = backup_manager.verify_backup(backup_id=made["id"])
        assert not result["verified"]
        assert "wrong BACKUP_ENCRYPTION_KEY" in result["problems"][0]


def test_encryption_round_trips_streams_of_any_length_and_detects_truncation():
    for size in (0, 1, backup_manager.ENCRYPTION_CHUNK, 2 * backup_manager.ENCRYPTION_CHUNK + 5):
        plain = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        sealed = io.BytesIO()
        writer = backup_manager.EncryptingWriter(sealed, BACKUP_KEY)
        writer.write(plain)
        writer.finish()
        out = io.BytesIO()
        backup_manager.decrypt_stream(io.BytesIO(sealed.getvalue()), out, BACKUP_KEY)
        assert out.getvalue() == plain
    data = sealed.getvalue()
    last_chunk = 4 + 5 + 16
    with pytest.raises(BackupIntegrityError):
        backup_manager.decrypt_stream(io.BytesIO(data[:-last_chunk]), io.BytesIO(), BACKUP_KEY)


def test_sqlite_backup_verifies_and_restores_with_equal_contents(settings, tmp_path):
    live = tmp_path / "live.db"
    app = create_app(
        settings.replace(database_url=f"sqlite:///{live}", backup_dir=tmp_path / "backups")
    )
    with app.app_context():
        upgrade()
        add_rows(users=3)
        made = backup_manager.create_backup(backup_type="database")
        assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
        with pytest.raises(BackupError, match="live database"):
            backup_manager.restore_backup(backup_id=made["id"], target=str(live))
        target = tmp_path / "restored" / "copy.db"
        backup_manager.restore_backup(backup_id=made["id"], target=str(target))
        source, copy = sqlite_table_digests(live), sqlite_table_digests(target)
        source.pop("backups"), copy.pop("backups")
        source.pop("security_events"), copy.pop("security_events")
        assert copy == source and copy["jobs"][0] == 9
        db.engine.dispose()


def test_files_and_logs_archives_round_trip(backup_app, tmp_path):
    settings = backup_app.config["SETTINGS"]
    uploads = settings.instance_dir / "uploads" / "user-1"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "resume.pdf").write_bytes(b"%PDF-1.4 resume " * 1000)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    (settings.log_dir / "api_server.log.1").write_text('{"message": "hello"}\n')

    made = backup_manager.create_backup(backup_type="files")
    logs = backup_manager.create_backup(backup_type="logs")
    assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
    assert backup_manager.verify_backup(backup_id=logs["id"])["verified"]
    target = tmp_path / "restored"
    backup_manager.restore_backup(backup_id=made["id"], target=None, files_to=target)
    backup_manager.restore_backup(backup_id=logs["id"], target=None, files_to=target)
    assert (target / "files/uploads/user-1/resume.pdf").read_bytes() == (
        uploads / "resume.pdf"
    ).read_bytes()
    assert (target / "logs/logs/api_server.log.1").read_text() == '{"message": "hello"}\n'


def _evil_archive(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = tarfile.TarInfo("uploads/fine.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        if kind in ("traversal", "absolute"):
            evil = tarfile.TarInfo("../evil" if kind == "traversal" else "/evil")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
        else:
            link = tarfile.TarInfo("uploads/link")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            tar.addfile(link)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
def test_an_archive_with_a_path_out_or_a_link_is_refused_on_restore(backup_app, tmp_path, kind):
    settings = backup_app.config["SETTINGS"]
    made = backup_manager.create_backup(backup_type="files")
    folder = settings.backups_dir / made["id"]
    # Someone with write access to the store swaps the archive and fixes up the manifest.
    evil = _evil_archive(kind)
    (folder / "files.tar.gz").write_bytes(evil)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][0].update(
        bytes=len(evil), sha256=__import__("hashlib").sha256(evil).hexdigest()
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))

    target = tmp_path / "out" / "inner"
    with pytest.raises(UnsafeArchive):
        backup_manager.restore_backup(backup_id=made["id"], target=None, files_to=target)
    assert not (tmp_path / "out" / "evil").exists()
    assert not (target / "files").exists()  # nothing at all was extracted
    assert not any((tmp_path / "out").rglob("evil"))
    assert not backup_manager.verify_backup(backup_id=made["id"])["verified"]


def test_summary_and_the_age_of_the_newest_verified_backup(backup_app):
    assert backup_manager.summary() == {"total_backups": 0, "latest_backups": {}}
    assert backup_manager.newest_verified_age_seconds() is None
    made = backup_manager.create_backup(backup_type="database")
    backup_manager.create_backup(backup_type="logs")
    figures = backup_manager.summary()
    assert figures["total_backups"] == 2 and set(figures["latest_backups"]) == {"database", "logs"}
    assert backup_manager.newest_verified_age_seconds() is None
    backup_manager.verify_backup(backup_id=made["id"])
    age = backup_manager.newest_verified_age_seconds()
    assert age is not None and 0 <= age < 120


def test_the_pg_dump_of_the_servers_major_version_is_used(settings):
    path = postgres.pg_tool(settings, "pg_dump", 150020)
    assert path.startswith("/usr/lib/postgresql/15/bin/") or path.endswith("pg_dump")


def test_a_full_backup_holds_the_database_the_files_and_the_logs_and_verifies(backup_app):
    settings = backup_app.config["SETTINGS"]
    (settings.instance_dir / "uploads").mkdir(parents=True, exist_ok=True)
    (settings.instance_dir / "uploads" / "cv.docx").write_bytes(b"docx bytes")
    add_rows(users=1)
    made = backup_manager.create_backup(backup_type="full")
    manifest, _store = backup_manager.load_manifest(made["id"])
    parts = {entry["part"] for entry in manifest["files"]}
    assert parts == {"database", "files", "logs"}
    assert manifest["bytes"] == made["size_bytes"] == sum(e["bytes"] for e in manifest["files"])
    assert backup_manager.verify_backup(backup_id=made["id"])["verified"]


def test_retention_removes_expired_local_backups_and_keeps_the_newest_verified(backup_app):
    settings = backup_app.config["SETTINGS"]
    verified = backup_manager.create_backup(
        backup_type="logs", backup_id="20200101T000000Z-logs-aaaaaa"
    )
    backup_manager.verify_backup(backup_id=verified["id"])
    older = backup_manager.create_backup(
        backup_type="logs", backup_id="20190101T000000Z-logs-bbbbbb"
    )
    newest = backup_manager.create_backup(backup_type="logs")
    settings.__dict__.update(
        backup_retention_daily=1, backup_retention_weekly=0, backup_retention_monthly=0
    )
    result = backup_manager.apply_retention()
    assert result["deleted"] == [older["id"]]
    assert backup_manager.LocalStore(settings.backups_dir).ids() == sorted(
        [verified["id"], newest["id"]]
    )
    assert db.session.get(Backup, older["id"]) is None


def test_the_backup_commands_create_list_verify_and_plan_retention(backup_app):
    runner = backup_app.test_cli_runner()
    created = runner.invoke(args=["backup", "create", "logs"])
    assert created.exit_code == 0, created.output
    backup_id = json.loads(created.output)["id"]
    listed = runner.invoke(args=["backup", "list"])
    assert listed.exit_code == 0 and backup_id in listed.output and "local" in listed.output
    verified = runner.invoke(args=["backup", "verify", backup_id])
    assert verified.exit_code == 0 and json.loads(verified.output)["verified"] is True
    planned = runner.invoke(args=["backup", "retention", "--dry-run"])
    assert json.loads(planned.output) == {
        "dry_run": True,
        "deleted": [],
        "kept": [backup_id],
        "abandoned": [],
    }
    unknown = runner.invoke(args=["backup", "verify", "20200101T000000Z-logs-000000"])
    assert unknown.exit_code == 1 and "no store holds" in unknown.output


def test_backup_create_without_a_type_makes_a_database_backup_as_the_api_does(backup_app):
    created = backup_app.test_cli_runner().invoke(args=["backup", "create"])
    assert created.exit_code == 0, created.output
    made = json.loads(created.output)
    assert made["type"] == "database" and "-database-" in made["id"]
