"""User files in the store: sealed in S3 (moto's server on 127.0.0.1, behind a relay that can
be cut), 503 while the bucket is unreachable with nothing half-written, files from before a
switch still readable and moved by `flask storage-migrate`, rotation, account deletion."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from server import storage
from server.core.extensions import db
from server.models import Job, Resume
from server.services import resumes
from server.storage import sealing
from tests.helpers import DEFAULT_PASSWORD, ApiClient, error_of, make_docx, make_pdf
from tests.queue_helpers import wait_for
from tests.storage_helpers import BUCKET, Relay, object_keys, reset_and_create_bucket, s3_client

PARSE_KEY = "rate_limit:resume_parses_per_user_per_day:{}"


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_endpoint):
    """The bucket through a relay: `bucket.cut()` makes it unreachable, `restore()` back."""
    reset_and_create_bucket(moto_endpoint)
    address = urlsplit(moto_endpoint)
    relay = Relay((address.hostname, address.port))
    yield relay
    relay.cut()


def s3_settings(relay: Relay, tmp_path, **more):
    return {
        "instance_dir": tmp_path,
        "storage_s3_bucket": BUCKET,
        "storage_s3_endpoint_url": relay.url,
        "storage_s3_region": "us-east-1",
        "storage_s3_access_key_id": "testing",
        "storage_s3_secret_access_key": "testing",
        "storage_s3_timeout_seconds": 1.0,
        **more,
    }


def resume_row(app, resume_id) -> Resume:
    with app.app_context():
        row = db.session.get(Resume, uuid.UUID(str(resume_id)))
        db.session.expunge_all()
        return row


def test_an_upload_is_sealed_in_the_bucket_and_downloads_as_uploaded(
    make_app, bucket, moto_endpoint, tmp_path
):
    app = make_app(**s3_settings(bucket, tmp_path))
    client = ApiClient(app.test_client())
    account = client.create_account()
    data = make_pdf("Ada Lovelace\nAnalyst")
    uploaded = client.upload(account.access_token, "cv.pdf", data)
    assert uploaded.status_code == 202, uploaded.get_json()
    row = resume_row(app, uploaded.get_json()["id"])
    assert row.storage == "s3"

    key = f"files/users/{account.id}/resumes/{row.storage_key}"
    assert object_keys(moto_endpoint) == [key]
    raw = s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert raw.startswith(sealing.MAGIC) and data[:32] not in raw  # a leak shows nothing
    assert not any(tmp_path.rglob(row.storage_key))  # nothing on this machine's disk

    download = client.get(f"/api/user/resumes/{row.id}/download", token=account.access_token)
    assert download.status_code == 200
    assert download.data == data
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_a_worker_on_another_machine_parses_a_resume_uploaded_on_this_one(
    make_app, bucket, tmp_path
):
    web = make_app(**s3_settings(bucket, tmp_path / "a"))
    client = ApiClient(web.test_client())
    account = client.create_account()
    uploaded = client.upload(
        account.access_token, "cv.docx", make_docx(paragraphs=("Ada Lovelace", "Analyst"))
    )
    assert uploaded.status_code == 202, uploaded.get_json()

    other_machine = make_app(**s3_settings(bucket, tmp_path / "b"))
    with other_machine.app_context():
        parsed = resumes.parse(resume_id=uuid.UUID(uploaded.get_json()["id"]))
        assert parsed.parse_status == "parsed"
        assert "Ada Lovelace" in str(parsed.parsed)


def test_while_the_bucket_is_unreachable_uploads_answer_503_and_record_nothing(
    make_app, bucket, redis_conn, tmp_path
):
    app = make_app(**s3_settings(bucket, tmp_path))
    client = ApiClient(app.test_client())
    account = client.create_account()
    data = make_pdf("resume")

    bucket.cut()
    refused = client.upload(account.access_token, "cv.pdf", data)
    assert refused.status_code == 503, refused.get_json()
    assert refused.headers["Retry-After"] == "5"
    assert error_of(refused)["details"] == {"dependency": "storage"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Resume)) == 0
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    assert redis_conn.zcard(PARSE_KEY.format(account.id)) == 0  # the parse is given back
    listed = client.get("/api/user/resumes", token=account.access_token)
    assert listed.get_json()["items"] == []

    bucket.restore()
    stored = client.upload(account.access_token, "cv.pdf", data)
    assert stored.status_code == 202, stored.get_json()
    resume_id = stored.get_json()["id"]

    bucket.cut()  # a download and a delete while it is gone: 503, the resume stays
    download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
    assert download.status_code == 503 and download.headers["Retry-After"] == "5"
    deleted = client.delete(f"/api/user/resumes/{resume_id}", token=account.access_token)
    assert deleted.status_code == 503
    bucket.restore()
    download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
    assert download.status_code == 200 and download.data == data


def test_a_parse_job_that_meets_an_unreachable_bucket_waits_then_parses(
    make_app, bucket, run_pool, tmp_path
):
    app = make_app(
        **s3_settings(
            bucket, tmp_path, job_queue_retry_base_seconds=0.2, job_queue_retry_max_seconds=0.5
        )
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    uploaded = client.upload(account.access_token, "cv.txt", b"Ada Lovelace\nPython\n")
    assert uploaded.status_code == 202, uploaded.get_json()
    job_id = uploaded.get_json()["parse_job_id"]

    def job() -> Job:
        with app.app_context():
            row = db.session.get(Job, job_id)
            db.session.expunge_all()
            return row

    bucket.cut()
    run_pool(app, threads=1)
    wait_for(lambda: job().outage_retries >= 1, timeout=20)
    bucket.restore()
    path = f"/api/user/resumes/{uploaded.get_json()['id']}"
    status = lambda: client.get(path, token=account.access_token).get_json()["parse_status"]  # noqa: E731
    assert wait_for(lambda: status() != "pending" and status(), timeout=30) == "parsed"
    assert wait_for(lambda: job().status == "succeeded", timeout=10)
    assert job().attempts == 1  # the outage cost no attempt


def test_storage_migrate_without_a_bucket_seals_the_files_written_before_the_store(
    make_app, tmp_path
):
    app = make_app(instance_dir=tmp_path)
    client = ApiClient(app.test_client())
    account = client.create_account()
    data = b"Ada Lovelace\nwritten before the store\n"
    resume_id = _legacy_resume(app, account.id, data)
    with app.app_context():
        moved = app.test_cli_runner().invoke(args=["storage-migrate"])
    assert "1 file(s) moved into local, 0 there already, 0 not moved" in moved.output
    row = resume_row(app, resume_id)
    assert row.storage == "local"
    assert not (tmp_path / "uploads" / str(account.id)).exists() or not any(
        (tmp_path / "uploads" / str(account.id)).iterdir()
    )
    sealed = tmp_path / "uploads" / "users" / str(account.id) / "resumes" / row.storage_key
    assert sealed.read_bytes().startswith(sealing.MAGIC) and data not in sealed.read_bytes()
    download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
    assert download.status_code == 200 and download.data == data


def _legacy_resume(app, user_id: int, data: bytes) -> uuid.UUID:
    """A resume stored before the store: a plain file under instance/uploads/<user id>/."""
    with app.app_context():
        row = Resume(
            id=uuid.uuid4(),
            user_id=user_id,
            original_filename="old.txt",
            storage_key=uuid.uuid4().hex,
            storage="legacy",
            content_type="text/plain; charset=utf-8",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        path = resumes.legacy_path(resume=row)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        db.session.add(row)
        db.session.commit()
        return row.id


def test_files_from_before_the_switch_still_download_and_storage_migrate_moves_them(
    make_app, bucket, moto_endpoint, tmp_path
):
    local = make_app(instance_dir=tmp_path)
    client = ApiClient(local.test_client())
    account = client.create_account()
    sealed_data = make_pdf("written to the local store")
    local_id = client.upload(account.access_token, "cv.pdf", sealed_data).get_json()["id"]
    legacy_data = b"Ada Lovelace\nwritten before the store\n"
    legacy_id = _legacy_resume(local, account.id, legacy_data)
    assert resume_row(local, local_id).storage == "local"

    switched = make_app(**s3_settings(bucket, tmp_path))
    client = ApiClient(switched.test_client())
    for resume_id, data in ((local_id, sealed_data), (legacy_id, legacy_data)):
        download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
        assert download.status_code == 200 and download.data == data

    with switched.app_context():
        moved = switched.test_cli_runner().invoke(args=["storage-migrate"])
    assert moved.exit_code == 0, moved.output
    assert "2 file(s) moved into s3, 0 there already, 0 not moved" in moved.output
    assert resume_row(switched, local_id).storage == "s3"
    assert resume_row(switched, legacy_id).storage == "s3"
    assert len(object_keys(moto_endpoint, f"files/users/{account.id}/resumes/")) == 2
    assert not [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()]  # old copies gone
    for resume_id, data in ((local_id, sealed_data), (legacy_id, legacy_data)):
        download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
        assert download.status_code == 200 and download.data == data

    with switched.app_context():
        again = switched.test_cli_runner().invoke(args=["storage-migrate"])
    assert again.exit_code == 0, again.output
    assert "0 file(s) moved into s3, 2 there already, 0 not moved" in again.output


def test_storage_migrate_leaves_a_file_that_fails_its_hash_and_stops_while_the_bucket_is_down(
    make_app, bucket, moto_endpoint, tmp_path
):
    local = make_app(instance_dir=tmp_path)
    account = ApiClient(local.test_client()).create_account()
    good = _legacy_resume(local, account.id, b"a good resume\n")
    bad = _legacy_resume(local, account.id, b"a resume changed on disk\n")
    with local.app_context():
        resumes.legacy_path(resume=db.session.get(Resume, bad)).write_bytes(b"tampered\n")

    switched = make_app(**s3_settings(bucket, tmp_path))
    bucket.cut()
    with switched.app_context():
        down = switched.test_cli_runner().invoke(args=["storage-migrate"])
    assert down.exit_code == 1
    assert "cannot be reached" in down.output and "run this again" in down.output
    assert resume_row(switched, good).storage == "legacy"  # nothing switched to a missing copy

    bucket.restore()
    with switched.app_context():
        moved = switched.test_cli_runner().invoke(args=["storage-migrate"])
    assert moved.exit_code == 1, moved.output
    assert "1 file(s) moved into s3, 0 there already, 1 not moved" in moved.output
    assert f"resume {bad}: its file in legacy differs from the SHA-256" in moved.output
    assert resume_row(switched, good).storage == "s3"
    assert resume_row(switched, bad).storage == "legacy"
    assert object_keys(moto_endpoint) == [
        f"files/users/{account.id}/resumes/{resume_row(switched, good).storage_key}"
    ]


def test_rotation_seals_stored_files_again_so_the_old_key_can_go(
    make_app, bucket, moto_endpoint, tmp_path, settings
):
    old, new = settings.encryption_key, Fernet.generate_key().decode()
    app = make_app(**s3_settings(bucket, tmp_path))
    client = ApiClient(app.test_client())
    account = client.create_account()
    data = make_pdf("sealed under the old key")
    resume_id = client.upload(account.access_token, "cv.pdf", data).get_json()["id"]
    key = f"files/users/{account.id}/resumes/{resume_row(app, resume_id).storage_key}"

    def key_id() -> bytes:
        raw = s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return sealing.sealed_key_id(raw)

    assert key_id() == sealing.key_id_of(old)
    rotating = make_app(**s3_settings(bucket, tmp_path, encryption_key=f"{new},{old}"))
    with rotating.app_context():
        result = rotating.test_cli_runner().invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 0, result.output
    assert "stored files: 1 re-encrypted, 1 under the newest key" in result.output
    assert key_id() == sealing.key_id_of(new)

    new_only = make_app(**s3_settings(bucket, tmp_path, encryption_key=new))
    download = ApiClient(new_only.test_client()).get(
        f"/api/user/resumes/{resume_id}/download", token=account.access_token
    )
    assert download.status_code == 200 and download.data == data


def test_deleting_an_account_deletes_its_objects_and_only_its_own(
    make_app, bucket, moto_endpoint, tmp_path
):
    app = make_app(**s3_settings(bucket, tmp_path))
    client = ApiClient(app.test_client())
    leaving, staying = client.create_account(), client.create_account()
    for account in (leaving, leaving, staying):
        uploaded = client.upload(account.access_token, "cv.pdf", make_pdf("resume"))
        assert uploaded.status_code == 202, uploaded.get_json()
    assert len(object_keys(moto_endpoint, f"files/users/{leaving.id}/")) == 2

    bucket.cut()
    refused = client.post(
        "/api/user/delete",
        json={"current_password": DEFAULT_PASSWORD},
        token=leaving.access_token,
    )
    assert refused.status_code == 503  # the account stays rather than leave its files behind
    bucket.restore()
    deleted = client.post(
        "/api/user/delete",
        json={"current_password": DEFAULT_PASSWORD},
        token=leaving.access_token,
    )
    assert deleted.status_code == 200, deleted.get_json()
    assert object_keys(moto_endpoint, f"files/users/{leaving.id}/") == []
    assert len(object_keys(moto_endpoint, f"files/users/{staying.id}/")) == 1


def test_a_sealed_file_does_not_open_under_another_name_or_when_changed():
    keys = (Fernet.generate_key().decode(),)
    blob = sealing.seal(b"resume", name="users/1/resumes/a", keys=keys)
    assert sealing.open_sealed(blob, name="users/1/resumes/a", keys=keys) == b"resume"
    with pytest.raises(storage.SealBroken):
        sealing.open_sealed(blob, name="users/2/resumes/a", keys=keys)
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(storage.SealBroken):
        sealing.open_sealed(flipped, name="users/1/resumes/a", keys=keys)
    with pytest.raises(storage.SealBroken):
        sealing.open_sealed(blob, name="users/1/resumes/a", keys=("another key",))


def test_a_screenshot_taken_while_the_bucket_is_down_is_kept_in_its_row_then_moved(
    make_app, bucket, moto_endpoint, tmp_path
):
    from server.models import Application
    from server.services import applications

    app = make_app(**s3_settings(bucket, tmp_path))
    account = ApiClient(app.test_client()).create_account()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    with app.app_context():
        application = Application(user_id=account.id, target_key="url:https://example.com/1")
        db.session.add(application)
        db.session.flush()
        stored = applications.new_screenshot(
            application=application, number=1, kind="page", png=png
        )
        bucket.cut()
        kept = applications.new_screenshot(application=application, number=2, kind="page", png=png)
        db.session.add_all([stored, kept])
        db.session.commit()
        assert (stored.storage, stored.png) == ("s3", None)
        assert (kept.storage, kept.png) == (None, png)  # the browser's work is not lost
        bucket.restore()
        for number in (1, 2):
            shown = applications.screenshot(
                user_id=account.id, application_id=application.id, number=number
            )
            assert shown == png
        moved = app.test_cli_runner().invoke(args=["storage-migrate"])
        assert "1 file(s) moved into s3, 0 there already, 0 not moved" in moved.output
        db.session.expire_all()
        assert db.session.get(type(kept), kept.id).png is None
        assert (
            applications.screenshot(user_id=account.id, application_id=application.id, number=2)
            == png
        )
    assert len(object_keys(moto_endpoint, f"files/users/{account.id}/screenshots/")) == 2
