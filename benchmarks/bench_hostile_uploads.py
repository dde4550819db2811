"""One account uploading hostile documents beside another user's reads of their profile.

The service runs as the scaled layout (docs/deployment.md) does: `gunicorn -c gunicorn.conf.py` with
`WEB_CONCURRENCY=2` and the default `GUNICORN_THREADS` (4), plus one `python -m server.worker`
(the default 5 worker threads) that runs the `resume_parsing` jobs, every parsing setting at its
default, on the scratch PostgreSQL database `job_agent_bench_hostile_uploads`
(BENCH_HOSTILE_UPLOADS_DATABASE_URL points elsewhere) and the Redis database `--redis-url` names
(both emptied).

wrk (16 connections, 2 threads) reads one user's `GET /api/user/profile` for `--rounds` rounds of
`--seconds` (at least 5) each, in turn: with nothing else going on (the baseline), and while a
second account uploads hostile documents (the three kinds of `tests/hostile_documents.py` in
turn) at 22 a minute, each counted against its allowance and stored, then read by a job under
the CPU limit. Between rounds the parsing queue is left to drain. The uploader's own limits
(its daily parses and its upload quota) are raised so it can keep this rate for the whole run:
what is measured is its documents' cost to others, not the limits that would stop it sooner.
Goal: the profile's p99 with the uploads at most 2x the baseline's. Needs `wrk`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, text

from benchmarks.bench_event_streams import _env as _service_env
from benchmarks.bench_event_streams import _start, _stop
from benchmarks.bench_hot_path import _free_port, _wrk
from benchmarks.scratch import fresh_database
from server.core.config import normalise_database_url
from tests.hostile_documents import cpu_bomb_pdf, expanding_docx, merged_cells_docx

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_HOSTILE_UPLOADS_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_hostile_uploads",
    )
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
UPLOADS_PER_MINUTE = 22
WRK_CONNECTIONS = 16
GOAL_RATIO = 2.0
PASSWORD = "Quartz-violin-meadow-2741"  # noqa: S105 - the scratch accounts'


def _env(scratch: Path, redis_url: str, port: int) -> dict[str, str]:
    env = _service_env(scratch, redis_url, port)
    env.update(
        DATABASE_URL=DATABASE_URL,
        JOB_QUEUE_MAX_WORKERS="5",
        UPLOAD_MAX_FILES_PER_USER="100000",
        UPLOAD_QUOTA_BYTES_PER_USER=str(1 << 40),
    )
    return env


def _login(base: str, email: str) -> str:
    account = {"email": email, "password": PASSWORD, "name": "Bench"}
    requests.post(f"{base}/api/auth/register", json=account, timeout=30).raise_for_status()
    login = requests.post(
        f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    return login.json()["access_token"]


class Uploader:
    """Uploads hostile documents at `UPLOADS_PER_MINUTE` in a thread while running."""

    def __init__(self, base: str, token: str):
        self._base, self._token = base, token
        self._documents = itertools.cycle(
            [
                ("text-operators.pdf", cpu_bomb_pdf()),
                ("merged-cells.docx", merged_cells_docx()),
                ("expanding.docx", expanding_docx()),
            ]
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.answers: list[tuple[int, float]] = []  # (status, seconds) of each upload

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        interval = 60.0 / UPLOADS_PER_MINUTE
        while not self._stop.is_set():
            name, data = next(self._documents)
            started = time.perf_counter()
            response = requests.post(
                f"{self._base}/api/user/resumes",
                files={"file": (name, data)},
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=60,
            )
            self.answers.append((response.status_code, time.perf_counter() - started))
            self._stop.wait(max(0.0, interval - (time.perf_counter() - started)))


def _pending_parses() -> int:
    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM resumes WHERE parse_status = 'pending'"))
    engine.dispose()
    return int(count)


def _drain(timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while _pending_parses():
        if time.monotonic() > deadline:
            raise RuntimeError("the parsing queue did not drain")
        time.sleep(0.5)


def run(args) -> list[str]:
    """Baseline and hostile rounds in turn; one line per figure."""
    if shutil.which("wrk") is None:
        return ["hostile_uploads.skipped wrk is not installed (apt-get install wrk)"]
    fresh_database(DATABASE_URL)
    conn = redis.Redis.from_url(args.redis_url)
    conn.flushdb()
    seconds = max(args.seconds, 5.0)
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch:
        port = _free_port()
        env = _env(Path(scratch), args.redis_url, port)
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        try:
            processes.append(_start(env, port))
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "server.worker"],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            base = f"http://127.0.0.1:{port}"
            reader = _login(base, "reader@example.com")
            uploader = Uploader(base, _login(base, "uploader@example.com"))
            profile = f"{base}/api/user/profile"
            _wrk(profile, 1, reader, connections=WRK_CONNECTIONS)  # warm up
            quiet: list[tuple[float, float, int]] = []
            hostile: list[tuple[float, float, int]] = []
            for _ in range(args.rounds):
                quiet.append(_wrk(profile, seconds, reader, connections=WRK_CONNECTIONS))
                uploader.start()
                time.sleep(3)  # parsing under way
                hostile.append(_wrk(profile, seconds, reader, connections=WRK_CONNECTIONS))
                uploader.stop()
                _drain()
            failed = _parse_outcomes()
        finally:
            for process in processes:
                _stop(process)
            conn.flushdb()
            conn.close()
    quiet_p99 = statistics.median(r[1] for r in quiet)
    hostile_p99 = statistics.median(r[1] for r in hostile)
    bad = sum(r[2] for r in quiet + hostile)
    uploads = [seconds for status, seconds in uploader.answers if status == 202]
    refused = len(uploader.answers) - len(uploads)
    return [
        f"hostile_uploads.profile_p99_ms with_uploads={hostile_p99:.1f} without={quiet_p99:.1f} "
        f"ratio={hostile_p99 / quiet_p99:.2f} goal_ratio<={GOAL_RATIO:g} "
        f"rps={statistics.median(r[0] for r in hostile):.0f} "
        f"rps_without={statistics.median(r[0] for r in quiet):.0f} non_2xx={bad} "
        f"(GET /api/user/profile of another user; {UPLOADS_PER_MINUTE} hostile uploads a "
        f"minute; gunicorn 2 processes x 4 threads + 1 worker process; wrk {WRK_CONNECTIONS} "
        f"connections; median of {args.rounds} rounds of {seconds:.0f} s)",
        f"hostile_uploads.upload_answer_ms median={statistics.median(uploads) * 1000:.0f} "
        f"max={max(uploads) * 1000:.0f} accepted={len(uploads)} refused={refused} "
        f"parsed_failed={failed} (202 at once: no request thread reads a document)",
    ]


def _parse_outcomes() -> str:
    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT parse_error->>'code', count(*) FROM resumes "
                "WHERE parse_status = 'failed' GROUP BY 1 ORDER BY 1"
            )
        ).all()
    engine.dispose()
    return ",".join(f"{code}:{count}" for code, count in rows) or "none"
