"""Resume intake by link, against a document server stand-in on 127.0.0.1.

The stand-in plays both Google Docs' public export (`/document/d/<id>/export?format=docx`) and
an ordinary web server with PDFs, redirects, oversized and slow answers. Loopback is reachable
only because these tests allow the stand-in's port (OUTBOUND_ALLOW_LOOPBACK_PORTS); the
refusals are tested without it, and with redirects to private and link-local addresses (refused
before any connection).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import ApiClient, error_of, make_docx, make_pdf

DOC_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
RESUME_PDF = make_pdf(
    "Jane Roe\nEXPERIENCE\nData Analyst, Acme Corp\nJan 2020 - Present\n- Built dashboards"
)
RESUME_DOCX = make_docx(
    paragraphs=(
        "Jane Roe",
        "# Skills",
        "Languages: Python, SQL",
        "# Education",
        "MIT",
        "B.S. in Physics, 2018",
    )
)


class DocumentServer:
    """Serves documents the way the outside world would; records every request it receives."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 - the http.server hook's name
                owner.requests.append((self.path, self.headers.get("Host", "")))
                owner.route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == f"/document/d/{DOC_ID}/export" and query.get("format") == ["docx"]:
            self.send(handler, 200, RESUME_DOCX, "application/vnd.openxmlformats-officedocument")
        elif path == "/document/d/privatedoc12345/export":
            self.send(handler, 200, b"<html>Sign in</html>", "text/html")
        elif path == "/files/jane-roe.pdf":
            self.send(handler, 200, RESUME_PDF, "application/pdf")
        elif path == "/download":
            self.send(
                handler,
                200,
                RESUME_PDF,
                "application/pdf",
                {"Content-Disposition": 'attachment; filename="Jane CV.pdf"'},
            )
        elif path.startswith("/hops/"):
            remaining = int(path.rsplit("/", 1)[1])
            target = "/files/jane-roe.pdf" if remaining == 0 else f"/hops/{remaining - 1}"
            self.send(handler, 302, b"", "text/plain", {"Location": target})
        elif path == "/to":
            self.send(handler, 302, b"", "text/plain", {"Location": query["target"][0]})
        elif path == "/big.pdf":
            self.send(handler, 200, b"%PDF-1.4\n" + b"0" * 100_000, "application/pdf")
        elif path == "/big-unsized.pdf":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/pdf")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(b"%PDF-1.4\n" + b"0" * 100_000)
        elif path == "/slow.pdf":
            time.sleep(3)
            self.send(handler, 200, RESUME_PDF, "application/pdf")
        elif path == "/page.html":
            self.send(handler, 200, b"<html>not a resume</html>", "text/html")
        else:
            self.send(handler, 404, b"not found", "text/plain")

    @staticmethod
    def send(handler, status: int, body: bytes, content_type: str, headers=None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture(autouse=True)
def _loopback_only_network(monkeypatch):
    """Should a refusal ever regress, the fetch must still not leave this machine."""
    import ipaddress

    from urllib3.util import connection

    real = connection.create_connection

    def guarded(address, *args, **kwargs):
        if not ipaddress.ip_address(address[0].strip("[]")).is_loopback:
            raise OSError(f"test network guard: no connection to {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", guarded)


@pytest.fixture
def documents():
    server = DocumentServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def link_client(make_app, documents):
    """A client of an app that may fetch from the stand-in on 127.0.0.1."""
    app = make_app(
        outbound_allow_loopback_ports=(documents.port,),
        resume_fetch_google_docs_export_base=documents.base,
        resume_fetch_timeout_seconds=2.0,
        upload_max_bytes=60_000,
    )
    with app.app_context():
        yield ApiClient(app.test_client())


def add_link(client: ApiClient, account, url: str):
    return client.post("/api/user/resumes", token=account.access_token, json={"url": url})


def test_a_google_docs_link_is_fetched_through_the_export_and_parsed(link_client, documents):
    account = link_client.create_account()
    response = add_link(
        link_client, account, f"https://docs.google.com/document/d/{DOC_ID}/edit?usp=sharing"
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["original_filename"] == "google-doc.docx"
    assert body["content_type"].startswith("application/vnd.openxmlformats")
    assert body["parsed"]["skills"] == [{"category": "Languages", "items": ["Python", "SQL"]}]
    assert body["parsed"]["education"][0]["institution"] == "MIT"
    assert documents.requests[0][0] == f"/document/d/{DOC_ID}/export?format=docx"
    download = link_client.get(
        f"/api/user/resumes/{body['id']}/download", token=account.access_token
    )
    assert download.data == RESUME_DOCX


def test_a_google_doc_that_is_not_shared_says_so(link_client):
    account = link_client.create_account()
    response = add_link(
        link_client, account, "https://docs.google.com/document/d/privatedoc12345/edit"
    )
    assert response.status_code == 415
    assert "shared" in error_of(response)["message"]


def test_a_direct_pdf_link_is_fetched_and_parsed(link_client, documents):
    account = link_client.create_account()
    response = add_link(link_client, account, f"{documents.base}/files/jane-roe.pdf")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["original_filename"] == "jane-roe.pdf"
    [job] = body["parsed"]["experience"]
    assert (job["employer"], job["title"], job["start_date"]) == (
        "Acme Corp",
        "Data Analyst",
        "2020-01",
    )
    named = add_link(link_client, account, f"{documents.base}/download")
    assert named.get_json()["original_filename"] == "Jane CV.pdf"


def test_redirects_are_followed_up_to_the_cap(link_client, documents):
    account = link_client.create_account()
    assert add_link(link_client, account, f"{documents.base}/hops/2").status_code == 201
    response = add_link(link_client, account, f"{documents.base}/hops/3")
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_url_refused"
    assert "more than 3 times" in error_of(response)["message"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/resume.pdf",
        "http://[fe80::1]/resume.pdf",
        "http://0.0.0.0/resume.pdf",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_a_private_or_link_local_address_is_refused(link_client, documents, target):
    account = link_client.create_account()
    response = add_link(link_client, account, f"{documents.base}/to?target={target}")
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_url_refused"
    assert (
        link_client.get("/api/user/resumes", token=account.access_token).get_json()["items"] == []
    )


@pytest.mark.parametrize("path", ["/big.pdf", "/big-unsized.pdf"])
def test_a_document_over_the_size_cap_is_refused(link_client, documents, path):
    account = link_client.create_account()
    response = add_link(link_client, account, f"{documents.base}{path}")
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_slow_server_is_given_up_on(link_client, documents):
    account = link_client.create_account()
    started = time.monotonic()
    response = add_link(link_client, account, f"{documents.base}/slow.pdf")
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_url_unreachable"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/page.html", 415, "unsupported_file_type"),
        ("/missing.pdf", 422, "resume_url_unreachable"),
    ],
)
def test_a_link_to_something_else_than_a_resume_is_refused(
    link_client, documents, path, status, code
):
    account = link_client.create_account()
    response = add_link(link_client, account, f"{documents.base}{path}")
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_loopback_and_private_links_are_refused_when_the_setting_is_off(make_app, documents):
    app = make_app(resume_fetch_google_docs_export_base=documents.base)
    client = ApiClient(app.test_client())
    account = client.create_account()
    for url in (
        f"https://127.0.0.1:{documents.port}/files/jane-roe.pdf",
        f"https://localhost:{documents.port}/files/jane-roe.pdf",
        f"https://[::1]:{documents.port}/files/jane-roe.pdf",
        "https://192.168.1.10/resume.pdf",
        f"https://docs.google.com/document/d/{DOC_ID}/edit",  # export base is loopback here
    ):
        response = add_link(client, account, url)
        assert response.status_code == 422, url
        assert error_of(response)["code"] == "resume_url_refused", url
    plain = add_link(client, account, f"{documents.base}/files/jane-roe.pdf")
    assert plain.status_code == 422
    assert "https" in error_of(plain)["message"]
    assert documents.requests == []


def test_a_host_with_any_private_address_is_refused(make_app, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "mixed.example.test":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    client = ApiClient(make_app().test_client())
    account = client.create_account()
    response = add_link(client, account, "https://mixed.example.test/cv.pdf")
    assert response.status_code == 422
    assert error_of(response)["code"] == "resume_url_refused"


def test_the_connection_goes_to_the_address_that_was_checked(link_client, documents, monkeypatch):
    """A name that answers differently the second time (DNS rebinding) cannot move the fetch."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])

    def resolve(host, port, *args, **kwargs):
        if host == "rebind.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    account = link_client.create_account()
    url = f"http://rebind.example.test:{documents.port}/files/jane-roe.pdf"
    response = add_link(link_client, account, url)
    assert response.status_code == 201, response.get_json()
    assert documents.requests == [("/files/jane-roe.pdf", f"rebind.example.test:{documents.port}")]


@pytest.mark.parametrize(
    "body",
    [{}, {"url": ""}, {"url": "x" * 3000}, {"url": "https://a.example/cv.pdf", "extra": 1}],
)
def test_a_malformed_link_body_is_422(client, body):
    account = client.create_account()
    response = client.post("/api/user/resumes", token=account.access_token, json=body)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"


def test_a_link_counts_against_the_upload_quota(make_app, documents):
    app = make_app(
        outbound_allow_loopback_ports=(documents.port,),
        upload_max_files_per_user=1,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    url = f"{documents.base}/files/jane-roe.pdf"
    assert add_link(client, account, url).status_code == 201
    response = add_link(client, account, url)
    assert response.status_code == 409
    assert error_of(response)["code"] == "upload_quota_exceeded"
