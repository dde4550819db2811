"""Uploaded resumes are parsed into a structure by a job; unreadable and hostile documents end
`failed` with the reason a 422 would give, and cost their uploader's share of the parser only."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from server.agent.resume_parsing.structure import PARSER_VERSION
from tests import queue_helpers
from tests.helpers import ApiClient, error_of, make_docx, make_pdf
from tests.hostile_documents import (
    cpu_bomb_pdf,
    expanding_docx,
    merged_cells_docx,
    pdf_with_content,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


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


def decompression_bomb_pdf() -> bytes:
    """A few hundred KiB that inflate to 400 MiB."""
    return pdf_with_content(b"BT /F1 12 Tf 72 700 Td (hi) Tj ET\n" + b" " * (400 * 1024 * 1024))


def parse_failure(client, account, filename: str, data: bytes) -> dict:
    """Upload a document that cannot be read: 202 at once, then the resume ends `failed`."""
    resume = client.upload_parsed(account.access_token, filename, data).get_json()
    assert resume["parse_status"] == "failed", resume
    assert resume["parsed"] is None
    job = client.get(f"/api/jobs/{resume['parse_job_id']}/status", headers=account.headers)
    assert job.get_json()["status"] == "failed"
    assert job.get_json()["error"] == resume["parse_error"]["message"]
    return resume["parse_error"]


def test_an_uploaded_pdf_is_accepted_at_once_then_parsed_by_a_job(client):
    account = client.create_account()
    data = (FIXTURES / "resume-single-column.pdf").read_bytes()
    created = client.upload(account.access_token, "john.pdf", data)
    assert created.status_code == 202, created.get_json()
    body = created.get_json()
    assert (body["parse_status"], body["parsed"], body["parse_error"]) == ("pending", None, None)
    assert created.headers["Location"] == f"/api/user/resumes/{body['id']}"
    job = client.get(f"/api/jobs/{body['parse_job_id']}/status", headers=account.headers)
    assert job.get_json()["status"] == "queued"

    parsed = client.wait_parsed(account.access_token, body["id"]).get_json()
    assert parsed["parse_status"] == "parsed"
    structure = parsed["parsed"]
    assert structure["contact"]["email"] == "john.doe@email.com"
    assert structure["parser_version"] == PARSER_VERSION
    assert [e["employer"] for e in structure["experience"]] == ["Stripe", "Figma", "Notion"]
    assert structure["education"][0]["institution"] == "UC Berkeley"
    assert "Kafka" in structure["skills"][0]["items"]
    assert "JOHN DOE" in structure["raw_text"]
    job = client.get(f"/api/jobs/{body['parse_job_id']}/status", headers=account.headers)
    assert job.get_json()["status"] == "succeeded"
    listed = client.get("/api/user/resumes", token=account.access_token).get_json()["items"]
    assert [(r["id"], r["parse_status"]) for r in listed] == [(body["id"], "parsed")]
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
    parsed = client.upload_parsed(account.access_token, filename, data).get_json()["parsed"]
    assert parsed["contact"]["name"] == "Alan Turing"
    [job] = parsed["experience"]
    assert (job["employer"], job["title"]) == ("Bletchley Park", "Cryptanalyst")
    assert (job["start_date"], job["end_date"]) == ("1939-09", "1945")
    assert job["bullets"] == ["Broke the Enigma cipher"]
    assert parsed["source"]["format"] == filename.rsplit(".", 1)[1]


@pytest.mark.parametrize("data", [empty_pdf(), image_only_pdf()], ids=["empty", "image-only"])
def test_a_pdf_without_text_ends_failed_with_the_reason(client, data):
    account = client.create_account()
    error = parse_failure(client, account, "scan.pdf", data)
    assert error["code"] == "resume_no_text"
    assert "No text could be extracted" in error["message"]


def test_a_broken_pdf_ends_failed_with_a_reason(client):
    account = client.create_account()
    error = parse_failure(client, account, "cv.pdf", b"%PDF-1.7\n1 0 obj <<\n%%EOF")
    assert error["code"] == "resume_unreadable"


def test_a_pdf_over_the_cpu_limit_fails_and_the_next_upload_is_parsed(make_app):
    # A wall-clock limit far beyond the CPU limit: on a loaded machine the reader may take
    # many seconds to spend its one CPU second, and it is the CPU limit that must stop it.
    app = make_app(resume_parse_cpu_seconds=1, resume_parse_timeout_seconds=120)
    client = ApiClient(app.test_client())
    account = client.create_account()
    error = parse_failure(client, account, "bomb.pdf", cpu_bomb_pdf())
    assert error["code"] == "resume_too_complex"
    assert "limit" in error["message"]
    next_one = client.upload_parsed(account.access_token, "ok.pdf", make_pdf("Jane Roe"))
    assert next_one.get_json()["parse_status"] == "parsed"


def test_a_pdf_over_the_time_limit_fails(make_app):
    app = make_app(resume_parse_timeout_seconds=1.0, resume_parse_cpu_seconds=60)
    client = ApiClient(app.test_client())
    account = client.create_account()
    error = parse_failure(client, account, "bomb.pdf", cpu_bomb_pdf())
    assert error["code"] == "resume_too_complex"
    assert "longer than 1 s" in error["message"]


def test_a_decompression_bomb_pdf_fails_and_the_service_keeps_serving(make_app):
    app = make_app(resume_parse_memory_mb=256)
    client = ApiClient(app.test_client())
    account = client.create_account()
    bomb = decompression_bomb_pdf()
    assert len(bomb) < 1024 * 1024
    assert parse_failure(client, account, "bomb.pdf", bomb)["code"] == "resume_too_complex"
    ok = client.upload_parsed(account.access_token, "ok.pdf", make_pdf("Jane Roe"))
    assert ok.get_json()["parse_status"] == "parsed"


def test_a_pdf_with_more_pages_than_allowed_fails(make_app):
    app = make_app(resume_parse_max_pages=3)
    client = ApiClient(app.test_client())
    account = client.create_account()
    error = parse_failure(client, account, "long.pdf", make_pdf("page", pages=4))
    assert error["code"] == "resume_too_complex"
    assert "4 pages" in error["message"]
    ok = client.upload_parsed(account.access_token, "ok.pdf", make_pdf("x", pages=3))
    assert ok.get_json()["parse_status"] == "parsed"


def test_the_cli_parses_resumes_stored_without_a_structure(client, app):
    from server.core.extensions import db
    from server.models import Resume

    account = client.create_account()
    created = client.upload_parsed(
        account.access_token, "cv.txt", b"Jane Roe\nSKILLS\nPython, SQL\n"
    )
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
    assert parsed["parse_status"] == "parsed"
    again = app.test_cli_runner().invoke(args=["reparse-resumes"])
    assert "0 resume(s) parsed" in again.output


def test_text_built_to_slow_the_parser_down_is_parsed_and_kept(client):
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
    resume = client.upload_parsed(account.access_token, "cv.txt", hostile.encode()).get_json()
    assert resume["parse_status"] == "parsed", resume["parse_error"]
    assert resume["parsed"]["raw_text"] == hostile


# --- hostile documents: accepted at once, read by a job under a CPU limit --------------------

HOSTILE = {
    "merged-cells.docx": merged_cells_docx,
    "text-operators.pdf": cpu_bomb_pdf,
    "expanding.docx": expanding_docx,
}


@pytest.mark.parametrize("filename", sorted(HOSTILE))
def test_a_hostile_document_is_accepted_at_once_and_read_under_the_cpu_limit(make_app, filename):
    data = HOSTILE[filename]()
    assert len(data) < 3 * 1024 * 1024  # small on disk
    app = make_app(resume_parse_cpu_seconds=1)
    client = ApiClient(app.test_client())
    account = client.create_account()
    accepted = client.upload(account.access_token, filename, data)
    assert accepted.status_code == 202, accepted.get_json()  # nothing read on the request
    assert accepted.get_json()["parse_status"] == "pending"
    resume = client.wait_parsed(account.access_token, accepted.get_json()["id"]).get_json()
    assert resume["parse_status"] == "failed"
    assert resume["parse_error"]["code"] == "resume_too_complex"


def test_one_users_documents_wait_for_each_other_not_for_other_users(
    make_app, run_pool, redis_conn
):
    app = make_app(resume_parse_cpu_seconds=2)
    client = ApiClient(app.test_client())
    hostile, other = client.create_account(), client.create_account()
    first = client.upload(hostile.access_token, "a.pdf", cpu_bomb_pdf()).get_json()
    run_pool(app, threads=3)

    def job(account, resume):
        path = f"/api/jobs/{resume['parse_job_id']}/status"
        return client.get(path, headers=account.headers).get_json()

    # The first document holds the hostile user's share of the parser.
    share = f"rate_limit:concurrent_resume_parses_per_user:{hostile.id}"
    queue_helpers.wait_for(lambda: redis_conn.zscore(share, first["parse_job_id"]))
    second = client.upload(hostile.access_token, "b.pdf", cpu_bomb_pdf()).get_json()
    mine = client.upload(other.access_token, "cv.pdf", make_pdf("Jane Roe")).get_json()
    ended = ("succeeded", "failed")
    for account, resume in ((hostile, first), (hostile, second), (other, mine)):
        # Four reads a second: a slow machine's minute of polling stays under the user's 300.
        queue_helpers.wait_for(
            lambda a=account, r=resume: job(a, r)["status"] in ended, 60, interval=0.25
        )
    hostile_first, hostile_second, others = (
        job(hostile, first),
        job(hostile, second),
        job(other, mine),
    )
    assert others["status"] == "succeeded"
    # The other user's document was read while the hostile user's first one was (which takes
    # its whole CPU limit), not after the hostile user's documents.
    assert others["finished_at"] < hostile_first["finished_at"]
    # The hostile user's second document waited for their first one.
    assert hostile_second["finished_at"] > hostile_first["finished_at"]
    assert hostile_first["status"] == hostile_second["status"] == "failed"


def test_every_upload_spends_a_parse_of_the_daily_allowance_before_anything_is_stored(make_app):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_RESUME_PARSES_PER_USER_PER_DAY": "1/86400"})
    client = ApiClient(app.test_client())
    account = client.create_account()
    assert client.upload(account.access_token, "a.txt", b"Jane Roe\n").status_code == 202
    refused = client.upload(account.access_token, "b.txt", b"Jane Roe\n")
    assert refused.status_code == 429
    assert error_of(refused)["details"]["limit"] == "resume_parses_per_user_per_day"
    listed = client.get("/api/user/resumes", token=account.access_token).get_json()["items"]
    assert len(listed) == 1
