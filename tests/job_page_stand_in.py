"""Job pages as careers sites serve them, on 127.0.0.1: `pages[path] = (status, content type,
body)` scripts what each path answers (anything else is a 404); every request is recorded."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def json_ld_page(posting: dict, *, head: str = "", body: str = "") -> bytes:
    """An HTML page carrying a schema.org JobPosting as JSON-LD, as careers sites publish."""
    script = json.dumps({"@context": "https://schema.org", "@type": "JobPosting", **posting})
    return (
        f"<!doctype html><html><head><title>Careers</title>{head}"
        f'<script type="application/ld+json">{script}</script></head>'
        f"<body><nav>Home | Jobs</nav>{body}</body></html>"
    ).encode()


class JobPages:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner.requests.append(self.path)
                status, content_type, body = owner.pages.get(
                    self.path, (404, "text/html", b"<h1>Not found</h1>")
                )
                self.send_response(status)
                if status in (301, 302, 303, 307, 308):
                    self.send_header("Location", body.decode())
                    body = b""
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def html(self, path: str, body: bytes | str, *, content_type: str = "text/html") -> str:
        """Serve a page at `path`; returns its URL."""
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = (200, f"{content_type}; charset=utf-8", data)
        return self.base + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
