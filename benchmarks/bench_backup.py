"""Backup benchmark: backup and restore throughput (MB/s) and the restore time of a database
of about 200 MB (`--backup-size-mb`), generated for the run.

Ours (`backup_manager.create_backup` / `restore_backup`: pg_dump under an exported snapshot,
SHA-256 while writing, the manifest; restore checks every hash, runs pg_restore and compares
the row counts with the manifest) against the bare tools on the same database in the same run
(`pg_dump -Fc -f` and `pg_restore`), interleaved, best of two rounds each, so the ratio
is what our checks cost. Throughput is the
database's size on disk (`pg_database_size`) over the wall time. Uses (and recreates) the
local PostgreSQL databases `job_agent_bench_backup` and `job_agent_bench_restore`, and no Redis.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.scratch import fresh_database
from server import backup_manager, create_app
from server.backup_manager import postgres
from server.core.config import Settings, normalise_database_url

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_BACKUP_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_backup"
    )
)
RESTORE_DATABASE = "job_agent_bench_restore"
DEFAULT_SIZE_MB = 200
# Rows of `bench_rows` per MB on disk (table, TOAST-free text and primary key index).
ROWS_PER_MB = 3900
ROUNDS = 2  # interleaved: bare, ours, bare, ours; the best of each is reported


def _generate(url: str, size_mb: float) -> None:
    """Fill `bench_rows` with about `size_mb` MB of text that compresses like real data."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_rows"))
        conn.execute(
            text(
                "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, user_id int NOT NULL, "
                "title text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bench_rows (user_id, title, body, created_at) "
                "SELECT i % 1000, 'posting ' || md5(i::text), "
                "md5(i::text) || ' ' || md5((i * 7)::text) || ' engineer python postgres ' "
                "|| md5((i * 13)::text), now() - (i || ' seconds')::interval "
                "FROM generate_series(1, :rows) AS i"
            ),
            {"rows": max(100, int(size_mb * ROWS_PER_MB))},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE bench_rows"))
    engine.dispose()


def _database_mb(url: str) -> float:
    engine = create_engine(url)
    with engine.connect() as conn:
        size = conn.scalar(text("SELECT pg_database_size(current_database())"))
    engine.dispose()
    return size / 1e6


def _bare_tools(settings: Settings, folder: Path) -> tuple[float, float]:
    """Seconds of a bare `pg_dump -Fc` and of a bare `pg_restore` of it (the baseline)."""
    url = make_url(settings.database_url)
    target = postgres.PgTarget.from_url(url)
    pg_dump = postgres.pg_tool(settings, "pg_dump", 0)
    pg_restore = postgres.pg_tool(settings, "pg_restore", 0)
    dump = folder / "bare.dump"
    postgres.drop_database(url, RESTORE_DATABASE)
    postgres.create_database(url, RESTORE_DATABASE)
    with postgres.pg_environment(target) as env:
        began = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own argv
            [pg_dump, "--format=custom", "-f", str(dump), *target.args()], env=env, check=True
        )
        dumped = time.perf_counter() - began
        began = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own argv
            [
                pg_restore,
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--jobs={settings.backup_restore_jobs}",
                *target.args(RESTORE_DATABASE),
                str(dump),
            ],
            env=env,
            check=True,
        )
        restored = time.perf_counter() - began
    dump.unlink()
    postgres.drop_database(url, RESTORE_DATABASE)
    return dumped, restored


def run(args) -> list[str]:
    """Generate the database, then time the bare tools and ours on it; returns the lines."""
    size_mb = float(getattr(args, "backup_size_mb", DEFAULT_SIZE_MB))
    fresh_database(DATABASE_URL)
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as scratch:
        folder = Path(scratch)
        settings = Settings(
            env="testing",
            instance_dir=folder,
            log_dir=folder / "logs",
            log_to_stdout=False,
            database_url=DATABASE_URL,
            database_is_default=False,
            redis_url=args.redis_url,
            jwt_secret_key="b" * 40,
            encryption_key="e" * 44,
            auto_migrate=False,
            backup_dir=folder / "backups",
        )
        app = create_app(settings)
        logging.getLogger("server").setLevel(logging.WARNING)
        logging.getLogger("security").setLevel(logging.WARNING)
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
        _generate(DATABASE_URL, size_mb)
        database_mb = _database_mb(DATABASE_URL)
        url = make_url(DATABASE_URL)
        bare_dumps, bare_restores, our_dumps, our_restores = [], [], [], []
        for _round in range(ROUNDS):
            dumped, restored = _bare_tools(settings, folder)
            bare_dumps.append(dumped)
            bare_restores.append(restored)
            with app.app_context():
                began = time.perf_counter()
                made = backup_manager.create_backup(backup_type="database")
                our_dumps.append(time.perf_counter() - began)
                postgres.drop_database(url, RESTORE_DATABASE)
                began = time.perf_counter()
                backup_manager.restore_backup(backup_id=made["id"], target=RESTORE_DATABASE)
                our_restores.append(time.perf_counter() - began)
                postgres.drop_database(url, RESTORE_DATABASE)
                from server.core.extensions import db

                db.engine.dispose()
        bare_dump, bare_restore = min(bare_dumps), min(bare_restores)
        ours_dump, ours_restore = min(our_dumps), min(our_restores)
        dump_mb = made["size_bytes"] / 1e6
        lines += [
            f"backup.database_mb {database_mb:.1f}",
            f"backup.dump_mb {dump_mb:.1f}",
            f"backup.backup_mb_per_s {database_mb / ours_dump:.1f} "
            f"(bare pg_dump {database_mb / bare_dump:.1f}; ratio {bare_dump / ours_dump:.2f})",
            f"backup.restore_mb_per_s {database_mb / ours_restore:.1f} "
            f"(bare pg_restore {database_mb / bare_restore:.1f}; "
            f"ratio {bare_restore / ours_restore:.2f})",
            f"backup.backup_seconds {ours_dump:.1f}",
            f"backup.restore_seconds {ours_restore:.1f} (bare pg_restore {bare_restore:.1f})",
        ]
    return lines
