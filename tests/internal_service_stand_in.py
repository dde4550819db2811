"""A service only the server's own machine should reach, like a cloud metadata endpoint.

It listens on a loopback address (127.0.0.1 or another one of 127.0.0.0/8) on a port that no
test allows, answers every GET with JSON a job board could have sent (so a fetch that reached
it would be stored and shown), and records each request: a test shows that none arrived.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "internal-credentials-0000"
# Remotive's shape: if the server fetched this, the "secret" would become a posting.
ANSWER = {
    "job-count": 1,
    "jobs": [
        {
            "id": 1,
            "url": "https://internal.example/1",
            "title": "Python engineer",
            "company_name": "Metadata",
            "description": f"AccessKeyId {SECRET}",
            "publication_date": "2026-11-20T09:30:00",
        }
    ],
}


class InternalService:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner.requests.append(self.path)
                body = json.dumps(ANSWER).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
