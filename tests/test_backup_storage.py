"""The `files` backup holds the user files wherever the storage keeps them (a bucket through
real boto3 to moto's S3 server on 127.0.0.1, or a STORAGE_DIR outside the instance folder),
sealed as stored, and a restore puts them back where the service reads them."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid

import pytest

from server import backup_manager
from server.backup_manager import streams
from server.core.extensions import db
from server.models import Resume
from server.storage import sealing
from tests.helpers import ApiClient, make_pdf
from tests.storage_helpers import BUCKET, object_keys, reset_and_create_bucket, s3_client

pytestmark = pytest.mark.xdist_group("backup_storage")

BACKUP_KEY = "a backup passphrase that is long enough"


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket_app(make_app, moto_endpoint, tmp_path):
    """An app whose user files go to the bucket, and whose backups go to a local folder."""
    reset_and_create_bucket(moto_endpoint)
    return lambda **more: make_app(
        **{
            "instance_dir": tmp_path / "instance",
            "backup_dir": tmp_path / "backups",
            "storage_s3_bucket": BUCKET,
            "storage_s3_endpoint_url": moto_endpoint,
            "storage_s3_region": "us-east-1",
            "storage_s3_access_key_id": "testing",
            "storage_s3_secret_access_key": "testing",
            **more,
        }
    )


def upload_resumes(client: ApiClient, count: int) -> tuple[str, dict[str, bytes]]:
    """`count` resumes uploaded through the API by one account: its token and {id: PDF}."""
    account = client.create_account()
    uploaded = {}
    for index in range(count):
        data = make_pdf(f"Ada Lovelace {index}\nAnalyst {uuid.uuid4().hex}")
        reply = client.upload(account.access_token, f"cv{index}.pdf", data)
        assert reply.status_code == 202, reply.get_json()
        uploaded[reply.get_json()["id"]] = data
    return account.access_token, uploaded


def downloads(client: ApiClient, token: str, resume_id: str):
    return client.get(f"/api/user/resumes/{resume_id}/download", token=token)


def archive_members(app, backup_id: str) -> dict[str, bytes]:
    """The plain members of a backup's files archive (decrypted when it is encrypted)."""
    settings = app.config["SETTINGS"]
    stored = (settings.backups_dir / backup_id / "files.tar.gz").read_bytes()
    if settings.backup_encryption_key:
        plain = io.BytesIO()
        streams.decrypt_stream(io.BytesIO(stored), plain, settings.backup_encryption_key)
        stored = plain.getvalue()
    with tarfile.open(fileobj=io.BytesIO(stored), mode="r:gz") as tar:
        return {
            member.name: tar.extractfile(member).read()
            for member in tar.getmembers()
            if member.isfile()
        }


def test_a_full_backup_holds_the_buckets_files_and_a_restore_brings_them_back(
    bucket_app, moto_endpoint
):
    app = bucket_app(backup_encryption_key=BACKUP_KEY)
    client = ApiClient(app.test_client())
    token, uploaded = upload_resumes(client, 3)
    keys = object_keys(moto_endpoint)
    assert len(keys) == 3
    sizes = {
        key: s3_client(moto_endpoint).head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        for key in keys
    }

    with app.app_context():
        made = backup_manager.create_backup(backup_type="full")
        manifest, _ = backup_manager.load_manifest(made["id"])
        assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
    assert manifest["archives"]["files"]["storage"] == {
        "backend": "s3",
        "bucket": BUCKET,
        "prefix": "files/",
        "folder": "storage",
        "count": 3,
        "bytes": sum(sizes.values()),
        "skipped": [],
    }
    members = archive_members(app, made["id"])
    for key in keys:
        assert (
            members[f"storage/{key}"]
            == s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        )

    # The bucket is emptied: every row now points at nothing.
    s3_client(moto_endpoint).delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys]}
    )
    assert object_keys(moto_endpoint) == []
    for resume_id in uploaded:
        assert downloads(client, token, resume_id).status_code != 200

    with app.app_context():
        restored = backup_manager.restore_backup(
            backup_id=made["id"], target=None, into_storage=True
        )
    assert restored["storage"] == {"backend": "s3", "restored": 3, "unchanged": 0, "differing": []}
    assert object_keys(moto_endpoint) == keys
    for resume_id, data in uploaded.items():
        reply = downloads(client, token, resume_id)
        assert reply.status_code == 200 and reply.data == data

    # Again: every object is there with the same bytes, so nothing is uploaded.
    with app.app_context():
        again = backup_manager.restore_backup(backup_id=made["id"], target=None, into_storage=True)
    assert again["storage"] == {"backend": "s3", "restored": 0, "unchanged": 3, "differing": []}


def test_the_archive_holds_the_sealed_objects_never_the_pdf(bucket_app, moto_endpoint):
    app = bucket_app()
    client = ApiClient(app.test_client())
    _, uploaded = upload_resumes(client, 1)
    [(resume_id, pdf)] = uploaded.items()
    with app.app_context():
        made = backup_manager.create_backup(backup_type="files")
        row = db.session.get(Resume, uuid.UUID(resume_id))
        key = f"files/users/{row.user_id}/resumes/{row.storage_key}"

    members = archive_members(app, made["id"])
    stored = members[f"storage/{key}"]
    assert stored.startswith(sealing.MAGIC)
    assert stored == s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert not any(pdf[:64] in data or b"%PDF" in data for data in members.values())


def test_with_storage_dir_outside_the_instance_folder_the_files_round_trip(make_app, tmp_path):
    storage_dir = tmp_path / "elsewhere" / "files"
    app = make_app(
        instance_dir=tmp_path / "instance",
        backup_dir=tmp_path / "backups",
        storage_dir=storage_dir,
    )
    client = ApiClient(app.test_client())
    token, uploaded = upload_resumes(client, 2)
    stored = sorted(path for path in storage_dir.rglob("*") if path.is_file())
    assert len(stored) == 2

    runner = app.test_cli_runner()
    made = runner.invoke(args=["backup", "create", "files"])
    assert made.exit_code == 0, made.output
    backup_id = json.loads(made.output)["id"]
    with app.app_context():
        manifest, _ = backup_manager.load_manifest(backup_id)
    assert manifest["archives"]["files"]["storage"] == {
        "backend": "local",
        "folder": "storage",
        "count": 2,
        "bytes": sum(path.stat().st_size for path in stored),
    }
    members = archive_members(app, backup_id)
    for path in stored:
        sealed = members[f"storage/{path.relative_to(storage_dir).as_posix()}"]
        assert sealed == path.read_bytes() and sealed.startswith(sealing.MAGIC)

    shutil.rmtree(storage_dir)
    for resume_id in uploaded:
        assert downloads(client, token, resume_id).status_code != 200

    restored = runner.invoke(args=["backup", "restore", backup_id, "--files-into-storage"])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.output)["storage"]["restored"] == 2
    for resume_id, data in uploaded.items():
        reply = downloads(client, token, resume_id)
        assert reply.status_code == 200 and reply.data == data

    again = runner.invoke(args=["backup", "restore", backup_id, "--files-into-storage"])
    assert json.loads(again.output)["storage"] == {
        "backend": "local",
        "restored": 0,
        "unchanged": 2,
        "differing": [],
    }


def test_a_bucket_that_cannot_be_read_fails_the_files_backup_and_leaves_nothing(
    bucket_app, moto_endpoint
):
    app = bucket_app(storage_s3_bucket="no-such-bucket")
    with app.app_context():
        with pytest.raises(backup_manager.BackupError, match="NoSuchBucket"):
            backup_manager.create_backup(backup_type="files")
        [row] = backup_manager.get_all()
        settings = app.config["SETTINGS"]
        assert backup_manager.LocalStore(settings.backups_dir).ids() == []
    assert row["status"] == "failed" and "NoSuchBucket" in row["error"]
    assert not any(settings.backups_dir.iterdir())


def test_a_stored_file_with_other_bytes_is_kept_and_named_unless_forced(make_app, tmp_path):
    storage_dir = tmp_path / "elsewhere"
    app = make_app(
        instance_dir=tmp_path / "instance", backup_dir=tmp_path / "backups", storage_dir=storage_dir
    )
    client = ApiClient(app.test_client())
    token, uploaded = upload_resumes(client, 1)
    [(resume_id, data)] = uploaded.items()
    [path] = [path for path in storage_dir.rglob("*") if path.is_file()]
    with app.app_context():
        made = backup_manager.create_backup(backup_type="files")
    path.write_bytes(b"not the sealed resume")
    name = path.relative_to(storage_dir).as_posix()

    runner = app.test_cli_runner()
    kept = runner.invoke(args=["backup", "restore", made["id"], "--files-into-storage"])
    assert json.loads(kept.output)["storage"]["differing"] == [name]
    assert path.read_bytes() == b"not the sealed resume"

    forced = runner.invoke(
        args=["backup", "restore", made["id"], "--files-into-storage", "--force"]
    )
    assert json.loads(forced.output)["storage"]["restored"] == 1
    reply = downloads(client, token, resume_id)
    assert reply.status_code == 200 and reply.data == data
