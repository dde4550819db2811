"""Test helpers: a JSON API client and account factories."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

DEFAULT_PASSWORD = "a sturdy passphrase for tests"
_counter = itertools.count(1)


@dataclass
class Account:
    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class ApiClient:
    """The Flask test client with JSON helpers and account factories."""

    def __init__(self, client: FlaskClient):
        self.raw = client

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.raw.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def upload(self, token: str, filename: str, data: bytes, **kw):
        """POST a resume as multipart form data."""
        return self.post(
            "/api/user/resumes",
            token=token,
            data={"file": (io.BytesIO(data), filename)},
            content_type="multipart/form-data",
            **kw,
        )

    def upload_parsed(self, token: str, filename: str, data: bytes, **kw):
        """Upload a resume (202) and wait until its parsing job has run; returns the resume
        (`GET /api/user/resumes/<id>`), parsed or failed."""
        response = self.upload(token, filename, data, **kw)
        assert response.status_code == 202, response.get_json()
        return self.wait_parsed(token, response.get_json()["id"])

    def wait_parsed(self, token: str, resume_id: str, timeout: float = 30.0):
        """Run the app's queued jobs with a worker pool of its own until the resume's parsing
        has ended; returns `GET /api/user/resumes/<id>`."""
        from server.workers.worker import WorkerPool
        from tests.queue_helpers import wait_for

        pool = WorkerPool(self.raw.application, threads=1, name="test-parsing-pool")
        pool.start()
        try:

            def parsed():
                got = self.get(f"/api/user/resumes/{resume_id}", token=token)
                return got if got.get_json()["parse_status"] != "pending" else None

            return wait_for(parsed, timeout=timeout)
        finally:
            pool.stop(grace_seconds=2)

    def register(
        self, email: str | None = None, password: str = DEFAULT_PASSWORD, name: str = "Test User"
    ):
        email = email or f"user{next(_counter)}@example.com"
        return self.post(
            "/api/auth/register", json={"email": email, "password": password, "name": name}
        )

    def login(self, email: str, password: str = DEFAULT_PASSWORD, **kw):
        return self.post("/api/auth/login", json={"email": email, "password": password}, **kw)

    def create_account(self, email: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        """Register and log in; returns the tokens."""
        email = email or f"user{next(_counter)}@example.com"
        registered = self.register(email, password)
        assert registered.status_code == 201, registered.get_json()
        tokens = self.login(email, password).get_json()
        return Account(
            id=tokens["user"]["id"],
            email=email,
            password=password,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
        )

    def verify_email(self, account: Account) -> None:
        """Confirm the account's address with the code its verification mail would carry."""
        from datetime import timedelta

        from server.core.extensions import db
        from server.models import User
        from server.security_manager import one_time_tokens

        with self.raw.application.app_context():
            user = db.session.get(User, account.id)
            token = one_time_tokens.issue(
                user=user, purpose=one_time_tokens.VERIFY_EMAIL, lifetime=timedelta(hours=1)
            )
            db.session.commit()
        confirmed = self.post("/api/auth/verify-email/confirm", json={"token": token})
        assert confirmed.status_code == 200, confirmed.get_json()

    def create_admin(
        self, app, email: str | None = None, password: str = DEFAULT_PASSWORD
    ) -> Account:
        """Create an admin through the service the CLI uses, then log in."""
        from server.services import accounts

        email = email or f"admin{next(_counter)}@example.com"
        with app.app_context():
            accounts.create_admin(email=email, password=password, name="Admin")
        tokens = self.login(email, password).get_json()
        return Account(
            tokens["user"]["id"], email, password, tokens["access_token"], tokens["refresh_token"]
        )


def error_of(response) -> dict[str, Any]:
    """The `error` object of a JSON error response (asserts the shape)."""
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"status", "code", "message", "request_id"} <= set(error), error
    assert error["status"] == response.status_code
    return error


def without_request_id(response) -> dict[str, Any]:
    """A JSON error body with its request id removed (for comparing two responses)."""
    body = response.get_json()
    body["error"].pop("request_id", None)
    return body


def downloaded_text(fmt: str, data: bytes) -> str:
    """The words of a downloaded resume (md, docx or pdf)."""
    if fmt == "docx":
        import docx

        return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    if fmt == "pdf":
        from pypdf import PdfReader

        return " ".join(
            " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages
        )
    return data.decode().replace("\\", "")


def make_pdf(text: str = "resume", *, pages: int = 1, paper: str = "A4") -> bytes:
    """A real PDF whose pages carry `text` (one line per line of text), written by fpdf2."""
    from fpdf import FPDF

    pdf = FPDF(format=paper)
    pdf.set_font("Helvetica", size=11)
    for _ in range(pages):
        pdf.add_page()
        for line in text.splitlines() or [""]:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_docx(
    extra_entries: int = 0, *, paragraphs: tuple[str, ...] = ("resume",), paper_mm=None
) -> bytes:
    """A real DOCX written by python-docx; `extra_entries` adds that many parts to the ZIP;
    `paper_mm` (width, height) sets its page size (python-docx's own is US Letter)."""
    import zipfile

    import docx
    from docx.shared import Mm

    document = docx.Document()
    if paper_mm:
        document.sections[0].page_width, document.sections[0].page_height = map(Mm, paper_mm)
    for paragraph in paragraphs:
        if paragraph.startswith("- "):
            document.add_paragraph(paragraph[2:], style="List Bullet")
        elif paragraph.startswith("# "):
            document.add_heading(paragraph[2:], level=1)
        else:
            document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    if extra_entries:
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
            for index in range(extra_entries):
                archive.writestr(f"word/media/{index}.xml", "x")
    return buffer.getvalue()


# Per-IP and per-user limits high enough for tests that make many requests from 127.0.0.1
# while testing something else; tests of the limits themselves set their own.
GENEROUS_TEST_LIMITS = {
    "RATE_LIMIT_AUTH_REGISTER_PER_IP_PER_HOUR": "100000/3600",
    "RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "100000/60",
    "RATE_LIMIT_AUTH_REFRESH_PER_IP_PER_MINUTE": "100000/60",
    "RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "100000/60",
    "RATE_LIMIT_AUTH_PASSWORD_RESET_PER_IP_PER_HOUR": "100000/3600",
    "RATE_LIMIT_AUTH_TOKEN_CONFIRM_PER_IP_PER_MINUTE": "100000/60",
    "RATE_LIMIT_AUTH_VERIFY_EMAIL_PER_USER_PER_HOUR": "100000/3600",
}


def at_once(count: int, call) -> list[Any]:
    """`call(i)` for i in range(count), each in its own thread, all released together;
    returns the results in order."""
    import threading

    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        start.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
