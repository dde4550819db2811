"""Helpers for queue and worker tests: users, fresh job rows, waiting, pools."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from server.core.extensions import db
from server.models import Job, Role, User

_users = itertools.count(1)


def make_user(*, admin: bool = False) -> int:
    """An account row, created directly (no password hashing); returns its id."""
    user = User(
        email=f"queue-user{next(_users)}-{time.monotonic_ns()}@example.com",
        password_hash="not-a-hash",
        name="Queue User",
        role=Role.ADMIN.value if admin else Role.USER.value,
    )
    db.session.add(user)
    db.session.commit()
    return user.id


def fetch_job(job_id: str) -> Job:
    """The job row as PostgreSQL has it now."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Job, job_id)


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05):
    """Poll until the predicate is truthy; fail with a message after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def run_pool():
    """Start worker pools; each is stopped (grace 2 s) when the test ends."""
    from server.workers.worker import WorkerPool

    pools = []

    def start(app, threads: int = 2, **options) -> WorkerPool:
        pool = WorkerPool(app, threads=threads, name=f"test-pool-{len(pools)}", **options)
        pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.stop(grace_seconds=2)


@pytest.fixture
def handler():
    """Register test-only job types; forgotten after the test."""
    from server.workers.job_handlers import register_handler, unregister_handler

    names = []

    def register(name, run, **options):
        register_handler(name, **options)(run)
        names.append(name)

    yield register
    for name in names:
        unregister_handler(name)
