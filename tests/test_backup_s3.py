"""Backups in S3, through real boto3 over HTTP to moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from server import backup_manager
from server.backup_manager import postgres
from server.core.extensions import db
from server.models import SecurityEvent
from tests.backup_helpers import add_rows, pg_table_digests

# pytest-xdist: one S3 stand-in, started once, for all its tests.
pytestmark = pytest.mark.xdist_group("backup_s3")

BUCKET = "job-agent-backups"
# S3's (and boto3's) smallest part, lowered from the default of 16 MiB.
PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_app(make_app, tmp_path, s3_endpoint):
    import requests

    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10)
    app = make_app(
        backup_dir=tmp_path / "backups",
        backup_s3_bucket=BUCKET,
        backup_s3_region="us-east-1",
        backup_s3_endpoint_url=s3_endpoint,
        backup_s3_access_key_id="testing",
        backup_s3_secret_access_key="testing",
        backup_s3_sse="AES256",
        backup_s3_multipart_threshold_bytes=PART,
        backup_s3_part_size_bytes=PART,
        backup_keep_local_copy=False,
    )
    with app.app_context():
        store = backup_manager.S3Store(app.config["SETTINGS"])
        store.client.create_bucket(Bucket=BUCKET)
        yield app


def uploads(app, size: int) -> bytes:
    folder = app.config["SETTINGS"].instance_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(size)  # random: gzip leaves it as large
    (folder / "big.bin").write_bytes(data)
    return data


def test_a_files_backup_goes_to_s3_in_parts_lists_downloads_and_restores(s3_app, tmp_path):
    data = uploads(s3_app, 2 * PART + 1000)
    made = backup_manager.create_backup(backup_type="files")
    assert made["storage"] == "s3"
    settings = s3_app.config["SETTINGS"]
    assert not (settings.backups_dir / made["id"]).exists()  # no local copy kept

    store = backup_manager.S3Store(settings)
    assert store.ids() == [made["id"]]
    head = store.client.head_object(Bucket=BUCKET, Key=store.key(made["id"], "files.tar.gz"))
    assert head["ETag"].strip('"').endswith("-3")  # three parts: a multipart upload
    assert head["ServerSideEncryption"] == "AES256"
    manifest, _ = backup_manager.load_manifest(made["id"])
    assert head["Metadata"]["sha256"] == manifest["files"][0]["sha256"]

    assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
    backup_manager.restore_backup(backup_id=made["id"], target=None, files_to=tmp_path / "out")
    assert (tmp_path / "out/files/uploads/big.bin").read_bytes() == data


def test_a_database_backup_in_s3_restores_into_a_new_database(s3_app, settings):
    add_rows(users=2)
    made = backup_manager.create_backup(backup_type="database")
    target = f"restored_s3_{made['id'][-6:]}"
    try:
        backup_manager.restore_backup(backup_id=made["id"], target=target)
        assert pg_table_digests(settings.database_url, target)["users"][0] == 2
    finally:
        postgres.drop_database(make_url(settings.database_url), target)


def test_one_flipped_byte_in_the_stored_object_fails_verification_and_is_recorded(s3_app):
    uploads(s3_app, PART + 1000)
    made = backup_manager.create_backup(backup_type="files")
    store = backup_manager.S3Store(s3_app.config["SETTINGS"])
    key = store.key(made["id"], "files.tar.gz")
    stored = store.client.get_object(Bucket=BUCKET, Key=key)
    body = bytearray(stored["Body"].read())
    body[len(body) // 3] ^= 0x80
    # Bit rot, or a tamperer who keeps the object's metadata: the metadata says the old hash.
    store.client.put_object(Bucket=BUCKET, Key=key, Body=bytes(body), Metadata=stored["Metadata"])

    result = backup_manager.verify_backup(backup_id=made["id"])
    assert not result["verified"]
    assert "does not match the manifest" in result["problems"][0]
    db.session.rollback()
    trail = db.session.scalars(
        select(SecurityEvent).where(SecurityEvent.action == "backup_verify")
    ).all()
    assert [(e.outcome, e.object_id) for e in trail] == [("failure", made["id"])]
    with pytest.raises(backup_manager.BackupIntegrityError):
        backup_manager.restore_backup(backup_id=made["id"], target=None, files_to=None)


def test_retention_deletes_expired_backups_from_s3_too(s3_app):
    store = backup_manager.S3Store(s3_app.config["SETTINGS"])
    old = backup_manager.create_backup(backup_type="logs", backup_id="20200101T000000Z-logs-aaaaaa")
    new = backup_manager.create_backup(backup_type="logs")
    s3_app.config["SETTINGS"].__dict__.update(
        backup_retention_daily=1, backup_retention_weekly=0, backup_retention_monthly=0
    )
    planned = backup_manager.apply_retention(dry_run=True)
    assert planned["deleted"] == [old["id"]] and store.ids() == sorted([old["id"], new["id"]])
    backup_manager.apply_retention()
    assert store.ids() == [new["id"]]


def test_a_manifest_naming_a_file_outside_the_backup_downloads_nothing_there(s3_app, tmp_path):
    import hashlib
    import json

    made = backup_manager.create_backup(backup_type="logs")
    store = backup_manager.S3Store(s3_app.config["SETTINGS"])
    manifest, _ = backup_manager.load_manifest(made["id"])
    # Someone who can write to the bucket plants an object and a manifest that names it.
    planted = b"planted bytes"
    sha = hashlib.sha256(planted).hexdigest()
    name = "../../../escaped"
    store.client.put_object(
        Bucket=BUCKET, Key=store.key(made["id"], name), Body=planted, Metadata={"sha256": sha}
    )
    manifest["files"][0].update(name=name, bytes=len(planted), sha256=sha)
    store.put_manifest(made["id"], json.dumps(manifest).encode())

    with pytest.raises(backup_manager.BackupIntegrityError, match="not a file a backup holds"):
        backup_manager.restore_backup(backup_id=made["id"], target=None, files_to=tmp_path / "o")
    assert not (tmp_path / "escaped").exists()
    assert not any(tmp_path.rglob("escaped"))
