"""Uploads: one validator, server-made storage names, attachments, quotas; the worker survives."""

import io
import re
import threading
import zipfile

import pytest

from server.models import Resume
from tests.helpers import ApiClient, error_of, make_docx, make_pdf


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\x00" * (60 * 1024 * 1024))
    return buffer.getvalue()


def test_a_pdf_is_stored_under_a_server_made_name_and_downloaded_as_attachment(
    client, app, settings
):
    account = client.create_account()
    data = make_pdf("my resume")
    response = client.upload(account.access_token, "../../etc/My CV.pdf", data)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["original_filename"] == "My CV.pdf"
    assert body["content_type"] == "application/pdf"
    assert body["size_bytes"] == len(data)
    stored = app.extensions["sqlalchemy"].session.get(Resume, __import__("uuid").UUID(body["id"]))
    assert re.fullmatch(r"[0-9a-f]{32}", stored.storage_key)
    assert stored.storage == "local"
    path = settings.uploads_dir / "users" / str(account.id) / "resumes" / stored.storage_key
    assert path.stat().st_mode & 0o077 == 0  # the owner's only
    raw = path.read_bytes()
    assert raw.startswith(b"JAF\x01") and data[:32] not in raw  # sealed on disk
    download = client.get(f"/api/user/resumes/{body['id']}/download", token=account.access_token)
    assert download.status_code == 200
    assert download.data == data
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Cache-Control"] == "no-store"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    listed = client.get("/api/user/resumes", token=account.access_token).get_json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]
    deleted = client.delete(f"/api/user/resumes/{body['id']}", token=account.access_token)
    assert deleted.status_code == 204
    assert not path.exists()


@pytest.mark.parametrize(
    ("filename", "data", "status"),
    [
        ("resume.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, 415),  # renamed .exe
        ("resume.pdf", b"<!DOCTYPE html><script>alert(1)</script>", 415),  # HTML called .pdf
        ("resume.exe", b"MZ\x90\x00", 415),
        ("resume.docx", make_pdf(), 415),
        ("resume.txt", b"\x7fELF\x02\x01\x01" + b"\x00" * 20, 415),
        ("resume.txt", b"binary\x00junk", 422),
    ],
)
def test_disguised_files_are_refused(client, filename, data, status):
    account = client.create_account()
    response = client.upload(account.access_token, filename, data)
    assert response.status_code == status, response.get_json()
    assert error_of(response)["message"]
    assert client.get("/api/user/resumes", token=account.access_token).get_json()["items"] == []


def test_a_zip_bomb_docx_is_refused_and_the_worker_lives(make_app):
    app = make_app(upload_max_bytes=5 * 1024 * 1024)
    client = ApiClient(app.test_client())
    account = client.create_account()
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024
    response = client.upload(account.access_token, "resume.docx", bomb)
    assert response.status_code == 422
    assert "50 MiB" in error_of(response)["message"] or "ZIP bomb" in error_of(response)["message"]
    assert client.get("/healthz").status_code == 200


def test_a_docx_with_thousands_of_parts_is_refused(client):
    account = client.create_account()
    response = client.upload(account.access_token, "resume.docx", make_docx(extra_entries=1000))
    assert response.status_code == 422


def test_a_valid_docx_and_markdown_are_accepted(client):
    account = client.create_account()
    assert client.upload(account.access_token, "cv.docx", make_docx()).status_code == 202
    assert client.upload(account.access_token, "cv.md", "# Ünïcode CV".encode()).status_code == 202


def test_a_file_over_the_cap_is_413(make_app):
    app = make_app(upload_max_bytes=2048)
    client = ApiClient(app.test_client())
    account = client.create_account()
    response = client.upload(account.access_token, "big.pdf", make_pdf() + b"x" * 4096)
    assert response.status_code == 413


def test_a_body_over_max_content_length_is_413(make_app):
    app = make_app(max_content_length=4096)
    client = ApiClient(app.test_client())
    account = client.create_account()
    response = client.upload(account.access_token, "big.pdf", make_pdf() + b"x" * 8192)
    assert response.status_code == 413


def test_the_per_user_quota_is_enforced(make_app):
    app = make_app(upload_max_files_per_user=2)
    client = ApiClient(app.test_client())
    account = client.create_account()
    for index in range(2):
        assert client.upload(account.access_token, f"{index}.pdf", make_pdf()).status_code == 202
    response = client.upload(account.access_token, "3.pdf", make_pdf())
    assert response.status_code == 409
    assert error_of(response)["code"] == "upload_quota_exceeded"


def test_simultaneous_uploads_cannot_overrun_the_quota(make_app):
    app = make_app(upload_max_files_per_user=2)
    account = ApiClient(app.test_client()).create_account()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def upload(index: int) -> None:
        client = ApiClient(app.test_client())  # its own request, app context and session
        barrier.wait()
        statuses.append(client.upload(account.access_token, f"{index}.pdf", make_pdf()).status_code)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 202] + [409] * 6


def test_a_missing_file_field_is_422(client):
    account = client.create_account()
    response = client.post(
        "/api/user/resumes",
        token=account.access_token,
        data={"other": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "extra",
    [
        {"extra": "1"},
        {"other": (io.BytesIO(b"x"), "x.txt")},
    ],
)
def test_an_upload_with_parts_besides_one_file_is_refused(client, extra):
    account = client.create_account()
    response = client.post(
        "/api/user/resumes",
        token=account.access_token,
        data={"file": (io.BytesIO(make_pdf()), "a.pdf"), **extra},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert client.get("/api/user/resumes", token=account.access_token).get_json()["items"] == []


def test_two_files_in_one_upload_are_refused(client):
    account = client.create_account()
    response = client.post(
        "/api/user/resumes",
        token=account.access_token,
        data={"file": [(io.BytesIO(make_pdf()), "a.pdf"), (io.BytesIO(make_pdf()), "b.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "exactly one file" in error_of(response)["message"]


def upload_with_disposition(client: ApiClient, token: str, disposition: str, data: bytes):
    """POST one multipart part with a hand-written Content-Disposition (RFC 5987 names)."""
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        "/api/user/resumes",
        token=token,
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_a_filename_with_a_newline_is_stored_on_one_line_and_downloads(client):
    account = client.create_account()
    response = upload_with_disposition(
        client, account.access_token, "filename*=UTF-8''a%0Ab%09c%E2%80%AE.txt", b"hello"
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["original_filename"] == "abc.txt"
    download = client.get(
        f"/api/user/resumes/{response.get_json()['id']}/download", token=account.access_token
    )
    assert download.status_code == 200
    assert download.data == b"hello"
    assert "abc.txt" in download.headers["Content-Disposition"]
    assert download.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_stored_name_with_control_characters_still_downloads(client, app):
    account = client.create_account()
    resume_id = client.upload(account.access_token, "cv.md", b"# CV").get_json()["id"]
    session = app.extensions["sqlalchemy"].session
    session.get(Resume, __import__("uuid").UUID(resume_id)).original_filename = "c\r\nv\x85.md"
    session.commit()
    download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
    assert download.status_code == 200
    assert download.data == b"# CV"
    assert "cv.md" in download.headers["Content-Disposition"]
    assert download.headers["Content-Type"] == "text/markdown; charset=utf-8"


def test_a_resume_whose_file_is_gone_is_404_not_500(client, app, settings):
    account = client.create_account()
    resume_id = client.upload(account.access_token, "cv.pdf", make_pdf()).get_json()["id"]
    stored = app.extensions["sqlalchemy"].session.get(Resume, __import__("uuid").UUID(resume_id))
    (settings.uploads_dir / "users" / str(account.id) / "resumes" / stored.storage_key).unlink()
    download = client.get(f"/api/user/resumes/{resume_id}/download", token=account.access_token)
    assert download.status_code == 404
    assert error_of(download)["details"] == {"resource": "resume"}


@pytest.mark.parametrize("field", ["upload", "resume"])
def test_an_upload_under_another_field_is_told_to_use_the_field_file(client, field):
    account = client.create_account()
    response = client.post(
        "/api/user/resumes",
        token=account.access_token,
        data={field: (io.BytesIO(make_pdf()), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "multipart/form-data field `file`" in error_of(response)["message"]
