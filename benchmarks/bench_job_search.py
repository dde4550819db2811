"""A posting search over the nine job boards' stand-ins: wall time and postings scored a second.

Each board's stand-in (tests/job_board_stand_ins.py, on 127.0.0.1) serves 200 postings
(`BENCH_SEARCH_POSTINGS` changes it): two companies of 100 on each company board. The search is
the `job_search` job's own work (`services.postings.search`: fetch, filter, deduplicate, score
against a parsed resume, store in PostgreSQL), run for a fresh user each time, with the
default settings but Lever's stand-in not answering 429 first (its one-second `Retry-After`
would dominate the figure). Every stand-in answer is delayed by 50 ms
(`BENCH_SEARCH_LATENCY_MS`), a round trip to a board on the internet; without it the boards
answer in microseconds and the search is all CPU.

Baseline, measured in the same run: the same search fetching the boards one after another
(`JOB_SEARCH_MAX_WORKERS=1`) instead of in parallel threads; rounds alternate the two. Figures
are medians. PostgreSQL is `BENCH_SEARCH_DATABASE_URL` (default: the local server's
`job_agent_bench_search`, emptied first); Redis is not used by the search.
"""

from __future__ import annotations

import itertools
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from server import create_app
from server.agent.resume_parsing import parse_resume_text
from server.core.config import Settings, normalise_database_url
from server.core.extensions import db
from server.models import Resume, User
from tests.job_board_stand_ins import BOARDS, generated_listings, job_boards

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_SEARCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_search"
    )
)
POSTINGS_PER_BOARD = int(os.environ.get("BENCH_SEARCH_POSTINGS", "200"))
# Added to every stand-in answer, as a round trip to a board on the internet takes.
LATENCY_MS = int(os.environ.get("BENCH_SEARCH_LATENCY_MS", "50"))
KEYWORDS = ["engineer", "developer"]
RESUME = """Ada Lovelace
Berlin, Germany

Experience
Senior Backend Engineer, Analytical Engines GmbH, Berlin 2018 - Present
- Built REST APIs in Python with Django and PostgreSQL
- Ran Redis and Kafka pipelines on Kubernetes in AWS

Skills
Python, Django, PostgreSQL, Redis, Kafka, Docker, Kubernetes, AWS
"""
_users = itertools.count(1)


def _ensure_database() -> None:
    """Create the scratch database when missing and empty it."""
    from tests.conftest import ensure_database, reset_schema

    ensure_database(DATABASE_URL)
    reset_schema(DATABASE_URL)


def _build_app(scratch: Path, redis_url: str, overrides: dict):
    from flask_migrate import upgrade

    settings = Settings(
        env="testing",
        instance_dir=scratch,
        log_dir=scratch,
        log_to_stdout=False,
        database_url=DATABASE_URL,
        database_is_default=False,
        redis_url=redis_url,
        jwt_secret_key="b" * 40,
        encryption_key="e" * 44,
        auto_migrate=False,
        **overrides,
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
    logging.getLogger("server").setLevel(logging.WARNING)
    return app


def _user_with_resume() -> int:
    user = User(
        email=f"bench-search-{next(_users)}-{time.monotonic_ns()}@example.com",
        password_hash="not-a-hash",  # noqa: S106 - never logs in
        name="Bench",
    )
    db.session.add(user)
    db.session.flush()
    db.session.add(
        Resume(
            user_id=user.id,
            original_filename="cv.txt",
            storage_key=f"bench{time.monotonic_ns()}",
            content_type="text/plain",
            size_bytes=len(RESUME),
            sha256="0" * 64,
            parsed=parse_resume_text(RESUME),
        )
    )
    db.session.commit()
    return user.id


def _search(app) -> tuple[float, dict]:
    from server.services import postings

    with app.app_context():
        user_id = _user_with_resume()
        started = time.perf_counter()
        result = postings.search(user_id=user_id, job_id="bench", payload={"keywords": KEYWORDS})
        wall = time.perf_counter() - started
        db.session.remove()
    failed = [s for s in result["sources"] if s["status"] != "ok"]
    if failed:
        raise RuntimeError(f"a stand-in failed: {failed}")
    return wall, result


def run(args) -> list[str]:
    """Alternate parallel and one-board-at-a-time searches; print the medians."""
    _ensure_database()
    rounds = max(1, min(args.rounds, 3))
    with job_boards() as boards, tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for board in BOARDS:
            boards.add(board, *generated_listings(board, POSTINGS_PER_BOARD))
        boards["lever"].throttle_first = False
        for board in BOARDS:
            boards[board].latency_seconds = LATENCY_MS / 1000
        overrides = {
            **boards.settings_overrides(),
            "job_search_companies": boards.companies(),
        }
        apps = {
            workers: _build_app(
                Path(scratch), args.redis_url, {**overrides, "job_search_max_workers": workers}
            )
            for workers in (len(BOARDS), 1)
        }
        try:
            _search(apps[len(BOARDS)])  # warm up: connections, imports, patterns
            walls: dict[int, list[float]] = {workers: [] for workers in apps}
            results = []
            for round_number in range(rounds):
                order = [len(BOARDS), 1] if round_number % 2 == 0 else [1, len(BOARDS)]
                for workers in order:
                    wall, result = _search(apps[workers])
                    walls[workers].append(wall)
                    if workers > 1:
                        results.append(result)
            companies = sum(len(slugs) for slugs in boards.companies().values())
        finally:
            for app in apps.values():
                with app.app_context():
                    db.engine.dispose()
    parallel = statistics.median(walls[len(BOARDS)])
    sequential = statistics.median(walls[1])
    rank_seconds = statistics.median(r["timings"]["rank_seconds"] for r in results)
    fetch_seconds = statistics.median(r["timings"]["fetch_seconds"] for r in results)
    store_seconds = statistics.median(r["timings"]["store_seconds"] for r in results)
    last = results[-1]
    requests = sum(s["requests"] for s in last["sources"])
    return [
        f"job_search.boards {len(BOARDS)} postings_per_board {POSTINGS_PER_BOARD} "
        f"company_slugs {companies} requests {requests} latency_ms {LATENCY_MS}",
        f"job_search.postings found {last['found']} unique {last['unique']} "
        f"stored {last['stored']}",
        f"job_search.wall_seconds {parallel:.3f} (median of {rounds}, boards in parallel)",
        f"job_search.baseline_sequential_wall_seconds {sequential:.3f} (one board at a time)",
        f"job_search.parallel_speedup {sequential / parallel:.2f}x",
        f"job_search.phase_seconds fetch {fetch_seconds:.3f} rank {rank_seconds:.3f} "
        f"store {store_seconds:.3f}",
        f"job_search.postings_scored_per_second {last['unique'] / rank_seconds:,.0f} "
        f"(filter, dedupe and score of {last['unique']} postings)",
        f"job_search.postings_per_second_end_to_end {last['found'] / parallel:,.0f}",
    ]
