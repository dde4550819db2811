"""A Mimikree External API stand-in on 127.0.0.1 speaking the real wire format.

`POST /api/external/authenticate` checks `{email, password}` against `accounts` and answers
`{success, username, name, message}` (400/401 as Mimikree does). `POST
/api/external/batch-questions` checks `{username, questions}` (400 for none or more than 20,
404 for an unknown user) and answers each question from `answers` (a dict, or a function of
the question returning a string, or None for a per-question failure). `mode` switches the
whole service: "ok", "down" (503 from a proxy, HTML), "401" (every login refused), "slow"
(replies after `delay` seconds), "garbage" (200 with a non-JSON body) or "garbage_json" (200
with JSON of the wrong shape). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUTHENTICATE = "/api/external/authenticate"
BATCH = "/api/external/batch-questions"


class MimikreeStandIn:
    """The server and what it saw; `accounts`, `answers`, `mode` and `delay` script it."""

    def __init__(self) -> None:
        # email -> (password, username, name)
        self.accounts: dict[str, tuple[str, str, str]] = {
            "jane@example.com": ("correct horse", "janedoe", "Jane Doe")
        }
        self.answers: dict[str, str | None] | Callable[[str], str | None] = {}
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> MimikreeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return [request["path"] for request in self.requests]

    def _answer_for(self, question: str) -> str | None:
        if callable(self.answers):
            return self.answers(question)
        return self.answers.get(question)

    def _reply(self, path: str, body: Any) -> tuple[int, str, bytes]:
        if self.mode == "down":
            return 503, "text/html", b"<html><body><h1>503 Service Unavailable</h1></body></html>"
        if self.mode == "garbage":
            return 200, "application/json", b"<html>not json at all"
        if self.mode == "garbage_json":
            return 200, "application/json", json.dumps({"success": True, "responses": 7}).encode()
        if not isinstance(body, dict):
            return _json(500, {"success": False, "message": "Internal server error"})
        if path == AUTHENTICATE:
            return self._authenticate(body)
        if path == BATCH:
            return self._batch(body)
        return _json(404, {"success": False, "message": "Not found"})

    def _authenticate(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        email, password = body.get("email"), body.get("password")
        if not email or not password:
            return _json(400, {"success": False, "message": "Email and password are required"})
        account = self.accounts.get(email)
        if self.mode == "401" or account is None or account[0] != password:
            return _json(401, {"success": False, "message": "Invalid credentials"})
        return _json(
            200,
            {
                "success": True,
                "username": account[1],
                "name": account[2],
                "message": "Authentication successful",
            },
        )

    def _batch(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        username, questions = body.get("username"), body.get("questions")
        if not username:
            return _json(400, {"success": False, "message": "Username is required"})
        if not isinstance(questions, list) or not questions:
            return _json(
                400,
                {"success": False, "message": "Questions array is required and must not be empty"},
            )
        if len(questions) > 20:
            return _json(
                400, {"success": False, "message": "Maximum 20 questions allowed per request"}
            )
        if username not in {account[1] for account in self.accounts.values()}:
            return _json(404, {"success": False, "message": "User not found"})
        responses = []
        for question in questions:
            answer = self._answer_for(question)
            if answer is None:
                responses.append({"question": question, "success": False, "error": "No answer"})
            else:
                responses.append({"question": question, "success": True, "answer": answer})
        return _json(
            200,
            {
                "success": True,
                "username": username,
                "totalQuestions": len(questions),
                "successfulResponses": sum(1 for r in responses if r["success"]),
                "responses": responses,
            },
        )

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def do_POST(self):  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with stand_in._lock:
                    stand_in.requests.append(
                        {"path": self.path, "body": body, "headers": dict(self.headers)}
                    )
                if stand_in.mode == "slow":
                    stand_in._stop.wait(stand_in.delay)
                status, content_type, payload = stand_in._reply(self.path, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

        return Handler


def _json(status: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json; charset=utf-8", json.dumps(body).encode()
