"""Helpers for the backup tests: content checksums of whole databases, some data to back up."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server.core.extensions import db
from server.models import Job, SecurityEvent, User, utcnow


def pg_table_digests(url: str, database: str | None = None) -> dict[str, tuple[int, str]]:
    """Every table of a PostgreSQL database: (row count, MD5 of its rows in a fixed order)."""
    parsed = make_url(url)
    engine = create_engine(parsed.set(database=database) if database else parsed)
    digests = {}
    try:
        with engine.connect() as conn:
            names = conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            ).all()
            for name in names:
                # Names from the catalog, quoted.
                source = '"' + name.replace('"', '""') + '"'
                rows = "md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), ''))"
                query = f"SELECT count(*), {rows} FROM {source} t"  # noqa: S608
                row = conn.execute(text(query)).one()
                digests[name] = (row[0], row[1])
    finally:
        engine.dispose()
    return digests


def sqlite_table_digests(path: Path) -> dict[str, tuple[int, str]]:
    """Every table of a SQLite file: (row count, SHA-256 of its rows in a fixed order)."""
    conn = sqlite3.connect(path)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        digests = {}
        for name in names:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{name}"'))  # noqa: S608
            digests[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return digests
    finally:
        conn.close()


def add_rows(users: int = 5, jobs_each: int = 3) -> None:
    """Accounts, jobs and events in the current app's database."""
    for index in range(users):
        user = User(
            email=f"backup-user{index}-{utcnow().timestamp()}@example.com",
            password_hash="not-a-hash",
            name=f"Backup User {index} ✓",
        )
        db.session.add(user)
        db.session.flush()
        for number in range(jobs_each):
            db.session.add(
                Job(
                    user_id=user.id,
                    job_type="diagnostic",
                    priority=3,
                    payload={"n": number, "text": "ünïcode"},
                    status="succeeded",
                )
            )
        db.session.add(SecurityEvent(action="login", outcome="success", actor_user_id=user.id))
    db.session.commit()
