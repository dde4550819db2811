"""Counts the PostgreSQL and Redis round trips a process makes, by thread (for the queue's cost
per job: `python -m benchmarks queue_drain` and the suite's budget test).

PostgreSQL (psycopg 3, through SQLAlchemy's events): `statements` is every statement sent;
`commits` every transaction committed (a COMMIT sent, or a statement run in autocommit, which
is a transaction of its own); `round_trips` adds to the statements the BEGINs psycopg sends
before a transaction's first statement, the COMMITs and ROLLBACKs sent, and the pre-pings of
pool checkouts.
Redis: `commands` is every command sent (a pipeline's each), `round_trips` every send (a
pipeline is one).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import redis.connection
from sqlalchemy import event
from sqlalchemy.engine import Engine

# Threads are counted under the name they start with (the worker pool's names); others as "other".
THREAD_GROUPS = ("job-worker", "job-dispatcher", "job-heartbeat", "job-recorder")
# The threads whose work is per job: claims, runs and outcomes. The heartbeat's is per time
# (one lease renewal for all the jobs running, every half second at most), so a count per job
# leaves it out.
PER_JOB_GROUPS = ("job-worker", "job-dispatcher", "job-recorder")
FIGURES = (
    "pg_statements",
    "pg_commits",
    "pg_round_trips",
    "redis_commands",
    "redis_round_trips",
)


def _group() -> str:
    name = threading.current_thread().name
    return next((g for g in THREAD_GROUPS if name.startswith(g)), "other")


def _in_transaction(dbapi_connection) -> bool:
    info = getattr(dbapi_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    return status is not None and int(status) != 0  # 0: psycopg's TransactionStatus.IDLE


class RoundTrips:
    """What was sent while `counting` was active, per thread group: `counts[group][figure]`."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}
        self._lock = threading.Lock()

    def add(self, figure: str, n: int = 1, group: str | None = None) -> None:
        with self._lock:
            self.counts.setdefault(group or _group(), Counter())[figure] += n

    def total(self, figure: str, groups: tuple[str, ...] = THREAD_GROUPS) -> int:
        """The figure summed over these thread groups (the worker pool's, by default)."""
        with self._lock:
            return sum(self.counts.get(g, Counter())[figure] for g in groups)

    def per_job(self, jobs: int, groups: tuple[str, ...] = PER_JOB_GROUPS) -> dict[str, float]:
        """Every figure divided by `jobs`, summed over these thread groups."""
        return {figure: self.total(figure, groups) / jobs for figure in FIGURES}

    @contextmanager
    def counting(self, engine: Engine) -> Iterator[RoundTrips]:
        """Count `engine`'s statements and every Redis command of this process meanwhile."""
        pre_ping = bool(getattr(engine.pool, "_pre_ping", False))

        def before_execute(conn, _cursor, _statement, _parameters, _context, executemany):
            dbapi = conn.connection.dbapi_connection
            sent = 1
            if getattr(dbapi, "autocommit", False):
                self.add("pg_commits")  # the statement is a transaction of its own
            elif not _in_transaction(dbapi):
                sent += 1  # psycopg's BEGIN goes first, in a round trip of its own
            self.add("pg_statements")
            self.add("pg_round_trips", sent)

        def on_commit(conn):
            if _in_transaction(conn.connection.dbapi_connection):
                self.add("pg_commits")
                self.add("pg_round_trips")

        def on_rollback(conn):
            if _in_transaction(conn.connection.dbapi_connection):
                self.add("pg_round_trips")

        def on_checkout(*_args):
            if pre_ping:
                self.add("pg_round_trips")

        listeners = [
            (engine, "before_cursor_execute", before_execute),
            (engine, "commit", on_commit),
            (engine, "rollback", on_rollback),
            (engine.pool, "checkout", on_checkout),
        ]
        for target, name, function in listeners:
            event.listen(target, name, function)
        connection = redis.connection.AbstractConnection
        originals = {
            name: getattr(connection, name)
            for name in ("send_packed_command", "send_command", "pack_commands")
        }

        def send_packed_command(conn, command, check_health=True):
            self.add("redis_round_trips")
            return originals["send_packed_command"](conn, command, check_health)

        def send_command(conn, *args, **kwargs):
            self.add("redis_commands")
            return originals["send_command"](conn, *args, **kwargs)

        def pack_commands(conn, commands):
            commands = list(commands)
            self.add("redis_commands", len(commands))
            return originals["pack_commands"](conn, commands)

        connection.send_packed_command = send_packed_command
        connection.send_command = send_command
        connection.pack_commands = pack_commands
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(connection, name, function)
            for target, name, function in listeners:
                event.remove(target, name, function)


def describe(per_job: dict[str, float]) -> str:
    """`pg_statements=1.50 pg_commits=... ...`: the figures of `RoundTrips.per_job`."""
    return " ".join(f"{figure}={per_job[figure]:.2f}" for figure in FIGURES)
