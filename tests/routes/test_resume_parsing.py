"""Uploaded resumes are parsed into a structure; unreadable and hostile documents get a 422."""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path

import pytest

from tests.helpers import ApiClient, error_of, make_docx, make_pdf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def pdf_with_content(content: bytes) -> bytes:
    """A one-page PDF whose page content stream is `content`, Flate-compressed."""
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def image_only_pdf() -> bytes:
    """A 'scanned' resume: one page holding a picture and no text."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(picture).rectangle((20, 20, 380, 60), fill="black")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(buffer.getvalue()), x=10, y=10, w=180)
    return bytes(pdf.output())


def empty_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    return bytes(pdf.output())


def cpu_bomb_pdf() -> bytes:
    """Small on disk, but hundreds of thousands of text operators to interpret."""
    return pdf_with_content(b"BT /F1 1 Tf 1 0 0 1 10 10 Tm (a) Tj ET\n" * 300_000)


def decompression_bomb_pdf() -> bytes:
    """A few hundred KiB that inflate to 400 MiB."""
    return pdf_with_content(b"BT /F1 12 Tf 72 700 Td (hi) Tj ET\n" + b" " * (400 * 1024 * 1024))


def test_an_uploaded_pdf_is_parsed_and_its_structure_is_returned(client):
    account = client.create_account()
    data = (FIXTURES / "resume-single-column.pdf").read_bytes()
    created = client.upload(account.access_token, "john.pdf", data)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["parsed"]["contact"]["email"] == "john.doe@email.com"
    resume_id = created.get_json()["id"]
    fetched = client.get(f"/api/user/resumes/{resume_id}", token=account.access_token)
    parsed = fetched.get_json()["parsed"]
    assert parsed["parser_version"] == 1
    assert [e["employer"] for e in parsed["experience"]] == ["Stripe", "Figma", "Notion"]
    assert parsed["education"][0]["institution"] == "UC Berkeley"
    assert "Kafka" in parsed["skills"][0]["items"]
    assert "JOHN DOE" in parsed["raw_text"]
    listed = client.get("/api/user/resumes", token=account.access_token).get_json()["items"]
    assert [r["id"] for r in listed] == [resume_id]
    assert "parsed" not in listed[0]


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        (
            "cv.docx",
            make_docx(
                paragraphs=(
                    "Alan Turing",
                    "# Experience",
                    "Bletchley Park - Cryptanalyst",
                    "Sep 1939 - 1945",
                    "- Broke the Enigma cipher",
                )
            ),
        ),
        (
            "cv.pdf",
            make_pdf(
                "Alan Turing\nEXPERIENCE\nCryptanalyst, Bletchley Park\nSep 1939 - 1945\n"
                "- Broke the Enigma cipher"
            ),
        ),
        (
            "cv.txt",
            b"Alan Turing\n\nEXPERIENCE\nCryptanalyst | Bletchley Park | Sep 1939 - 1945\n"
            b"* Broke the Enigma cipher\n",
        ),
        (
            "cv.md",
            "# Alan Turing\n\n## Experience\n### Cryptanalyst, Bletchley Park\n"
            "_Sep 1939 – 1945_\n- Broke the **Enigma** cipher\n".encode(),
        ),
    ],
)
def test_every_accepted_format_is_parsed_into_the_same_structure(client, filename, data):
    account = client.create_account()
    created = client.upload(account.access_token, filename, data)
    assert created.status_code == 201, created.get_json()
    parsed = client.get(
        f"/api/user/resumes/{created.get_json()['id']}", token=account.access_token
    ).get_json()["parsed"]
    assert parsed["contact"]["name"] == "Alan Turing"
    [job] = parsed["experience"]
    assert (job["employer"], job["title"]) == ("Bletchley Park", "Cryptanalyst")
    assert (job["start_date"], job["end_date"]) == ("1939-09", "1945")
    assert job["bullets"] == ["Broke the Enigma cipher"]
    assert parsed["source"]["format"] == filename.rsplit(".", 1)[1]


@pytest.mark.parametrize("data", [empty_pdf(), image_only_pdf()], ids=["empty", "image-only"])
def test_a_pdf_without_text_is_refused_and_nothing_is_stored(client, data):
    account = client.create_account()
    response = client.upload(account.access_token, "scan.pdf", data)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "resume_no_text"
    assert "No text could be extracted" in error["message"]
    assert client.get("/api/user/resumes", token=account.access_token).get_json()["items"] == []


def test_a_broken_pdf_is_refused_with_a_reason(client):
    account = client.create_account()
    response = client.upload(account.access_token, "cv.pdf", b"%PDF-1.7\n1 0 obj <<\n%%EOF")
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_unreadable"


def test_a_pdf_over_the_cpu_limit_is_refused_and_the_next_upload_works(make_app):
    app = make_app(resume_parse_cpu_seconds=1)
    client = ApiClient(app.test_client())
    account = client.create_account()
    response = client.upload(account.access_token, "bomb.pdf", cpu_bomb_pdf())
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "resume_too_complex"
    assert "limit" in error["message"]
    assert client.upload(account.access_token, "ok.pdf", make_pdf("Jane Roe")).status_code == 201
    assert client.get("/healthz").status_code == 200


def test_a_pdf_over_the_time_limit_is_refused(make_app):
    app = make_app(resume_parse_timeout_seconds=1.0, resume_parse_cpu_seconds=60)
    client = ApiClient(app.test_client())
    account = client.create_account()
    response = client.upload(account.access_token, "bomb.pdf", cpu_bomb_pdf())
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_too_complex"
    assert "longer than 1 s" in error_of(response)["message"]


def test_a_decompression_bomb_pdf_is_refused_and_the_service_keeps_serving(make_app):
    app = make_app(resume_parse_memory_mb=256)
    client = ApiClient(app.test_client())
    account = client.create_account()
    bomb = decompression_bomb_pdf()
    assert len(bomb) < 1024 * 1024
    response = client.upload(account.access_token, "bomb.pdf", bomb)
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_too_complex"
    assert client.upload(account.access_token, "ok.pdf", make_pdf("Jane Roe")).status_code == 201


def test_a_pdf_with_more_pages_than_allowed_is_refused(make_app):
    app = make_app(resume_parse_max_pages=3)
    client = ApiClient(app.test_client())
    account = client.create_account()
    response = client.upload(account.access_token, "long.pdf", make_pdf("page", pages=4))
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_too_complex"
    assert "4 pages" in error_of(response)["message"]
    assert client.upload(account.access_token, "ok.pdf", make_pdf("x", pages=3)).status_code == 201


def test_an_upload_that_finds_every_reader_busy_gets_503_and_retry_after(make_app):
    from server.agent.resume_parsing.extraction import _slots_for

    app = make_app(resume_parse_max_concurrent=1, resume_parse_timeout_seconds=1.0)
    client = ApiClient(app.test_client())
    account = client.create_account()
    busy = _slots_for(1)
    busy.acquire()  # another upload's document is being read
    try:
        response = client.upload(account.access_token, "cv.pdf", make_pdf("Jane Roe"))
    finally:
        busy.release()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert client.upload(account.access_token, "cv.pdf", make_pdf("Jane Roe")).status_code == 201


def test_the_cli_parses_resumes_stored_without_a_structure(client, app):
    from server.extensions import db
    from server.models import Resume

    account = client.create_account()
    created = client.upload(account.access_token, "cv.txt", b"Jane Roe\nSKILLS\nPython, SQL\n")
    resume_id = created.get_json()["id"]
    db.session.query(Resume).update({Resume.parsed: None})
    db.session.commit()
    fetched = client.get(f"/api/user/resumes/{resume_id}", token=account.access_token)
    assert fetched.get_json()["parsed"] is None
    result = app.test_cli_runner().invoke(args=["reparse-resumes"])
    assert result.exit_code == 0, result.output
    assert "1 resume(s) parsed, 0 could not be read" in result.output
    parsed = client.get(f"/api/user/resumes/{resume_id}", token=account.access_token).get_json()
    assert parsed["parsed"]["skills"] == [{"category": None, "items": ["Python", "SQL"]}]
    again = app.test_cli_runner().invoke(args=["reparse-resumes"])
    assert "0 resume(s) parsed" in again.output


def test_text_built_to_slow_the_parser_down_is_parsed_quickly_and_kept(client):
    account = client.create_account()
    hostile = (
        "A" * 60_000
        + ", CA\n"
        + "1 " * 30_000
        + "\n"
        + ("x@" * 20_000)
        + "\nSKILLS\n"
        + "a," * 20_000
    )
    started = time.monotonic()
    response = client.upload(account.access_token, "cv.txt", hostile.encode())
    assert response.status_code == 201, response.get_json()
    assert time.monotonic() - started < 15
    assert response.get_json()["parsed"]["raw_text"] == hostile
