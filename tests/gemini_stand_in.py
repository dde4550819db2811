"""A Gemini API stand-in on 127.0.0.1 speaking the real wire format, for the real client.

`POST /{v1,v1beta}/models/{model}:generateContent` with an `x-goog-api-key` header answers
`candidates`/`usageMetadata` JSON whose text is `answer` (a dict, or a function of the
request body). Scripted failures (`fail_next`) answer as Google does: 429 RESOURCE_EXHAUSTED
with a RetryInfo delay (or a per-day quota), 500, or a slow reply. `quota = (n, seconds)` makes
it enforce a quota as Google does: a request beyond n answered in any `seconds` gets a 429
(their arrival times in `refused_at`). Every request is recorded, with its arrival time.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/(v1|v1beta)/models/([^/:]+):generateContent$")


def quota_error(*, retry_delay: str = "2s", per_day: bool = False) -> dict[str, Any]:
    """Google's 429 body: a QuotaFailure (per minute or per day) and a RetryInfo delay."""
    quota_id = (
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        if per_day
        else "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    )
    return {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": f"You exceeded your current quota. Please retry in {retry_delay}.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": quota_id,
                            "quotaValue": "20" if per_day else "8",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
            ],
        }
    }


class GeminiStandIn:
    """The server and what it saw; `answer` and `fail_next` script its replies."""

    def __init__(self, api_key: str = "test-key"):
        self.api_key = api_key
        self.answer: Any = {}
        self.requests: list[dict[str, Any]] = []
        self.quota: tuple[int, float] | None = None
        self.refused_at: list[float] = []  # arrival times of the requests the quota refused
        self._answered: deque[float] = deque()
        self._quota_lock = threading.Lock()
        self._failures: deque[tuple[str, dict[str, Any]]] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> GeminiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, kind: str, **options: Any) -> None:
        """Answer the next request with `429`, `429-daily`, `500` or `slow` (seconds=...)."""
        self._failures.append((kind, options))

    def over_quota(self, arrived: float) -> bool:
        """Whether a request arriving now exceeds the quota (counted when it does)."""
        if self.quota is None:
            return False
        limit, window = self.quota
        with self._quota_lock:
            while self._answered and self._answered[0] <= arrived - window:
                self._answered.popleft()
            if len(self._answered) >= limit:
                self.refused_at.append(arrived)
                return True
            self._answered.append(arrived)
            return False

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                arrived = time.monotonic()
                stand_in.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "arrived": arrived,
                    }
                )
                if not _PATH.match(self.path):
                    return self._json(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
                if self.headers.get("x-goog-api-key") != stand_in.api_key:
                    return self._json(
                        400,
                        {
                            "error": {
                                "code": 400,
                                "status": "INVALID_ARGUMENT",
                                "message": "API key not valid. Please pass a valid API key.",
                            }
                        },
                    )
                if stand_in.over_quota(arrived):
                    delay = f"{stand_in.quota[1]:g}s"
                    return self._json(429, quota_error(retry_delay=delay))
                if stand_in._failures:
                    kind, options = stand_in._failures.popleft()
                    if kind == "429":
                        return self._json(429, quota_error(**options))
                    if kind == "429-daily":
                        return self._json(429, quota_error(per_day=True, **options))
                    if kind == "500":
                        error = {"code": 500, "status": "INTERNAL", "message": "Internal error"}
                        return self._json(500, {"error": error})
                    if kind == "slow":
                        time.sleep(options.get("seconds", 2.0))
                answer = stand_in.answer
                answer = answer(body) if callable(answer) else answer
                model = _PATH.match(self.path)[2]
                return self._json(
                    200,
                    {
                        "candidates": [
                            {
                                "content": {
                                    "role": "model",
                                    "parts": [{"text": json.dumps(answer)}],
                                },
                                "finishReason": "STOP",
                                "index": 0,
                            }
                        ],
                        "usageMetadata": {
                            "promptTokenCount": 12,
                            "candidatesTokenCount": 7,
                            "totalTokenCount": 19,
                        },
                        "modelVersion": model,
                        "responseId": f"stand-in-{len(stand_in.requests)}",
                    },
                )

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
