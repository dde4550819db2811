"""A steady load through nginx, as clients make it: a few threads, each on its own keep-alive
connection, reading /healthz and the signed-in user's profile and submitting a job, one
request after another; every answer and every failure to get one is counted."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

# (method, path, json body): what every thread sends, in turn.
REQUESTS = (
    ("GET", "/healthz", None),
    ("GET", "/api/user/profile", None),
    ("POST", "/api/jobs", {"type": "diagnostic", "payload": {}}),
    ("GET", "/api/user/profile", None),
)


@dataclass
class LoadResult:
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # no answer at all
    latencies_ms: list[float] = field(default_factory=list)
    failed_requests: Counter = field(default_factory=Counter)  # "POST /api/jobs": how many
    resent: list[str] = field(default_factory=list)  # kept-alive connection closed: sent again

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def failed(self) -> int:
        """Requests that got no answer or a 5xx (a 4xx would be the client's fault)."""
        return len(self.errors) + self.server_errors

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


class SteadyLoad:
    """`threads` clients sending REQUESTS to `base_url` until stopped."""

    def __init__(self, base_url: str, *, token: str, cert: str, threads: int = 3) -> None:
        self.base_url = base_url
        self.token = token
        self.cert = cert
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.result

    def _client(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        index = 0
        while not self._stop.is_set():
            method, path, body = REQUESTS[index % len(REQUESTS)]
            index += 1
            started = time.perf_counter()
            # A submission carries its own key: sent once more, it still makes one job.
            headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}
            try:
                answer = self._send(session, method, path, body, headers)
            except requests.RequestException as exc:
                with self._lock:
                    self.result.errors.append(f"{method} {path}: {exc}")
                    self.result.failed_requests[f"{method} {path}"] += 1
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            with self._lock:
                self.result.statuses[answer.status_code] += 1
                self.result.latencies_ms.append(elapsed_ms)
                if answer.status_code >= 500:
                    self.result.failed_requests[f"{method} {path}"] += 1
        session.close()

    def _send(self, session, method: str, path: str, body, headers) -> requests.Response:
        """One request; sent once more on a new connection when nginx closed the connection
        before any answer, as browsers do with a kept-alive one: an nginx reload closes the
        connections its old workers hold idle without reading what a client may be sending
        at that moment (seen as the connection aborted, or as an EOF in TLS)."""
        url = self.base_url + path
        try:
            return session.request(
                method, url, json=body, headers=headers, verify=self.cert, timeout=30
            )
        except requests.ConnectionError as exc:
            closed = "Connection aborted" in str(exc) or "EOF occurred" in str(exc)
            if not closed:  # refused, timed out: no second try
                raise
            with self._lock:
                self.result.resent.append(f"{method} {path}: {exc}")
        return session.request(
            method, url, json=body, headers=headers, verify=self.cert, timeout=30
        )
