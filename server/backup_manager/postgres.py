"""PostgreSQL: pg_dump under an exported snapshot, pg_dumpall globals, scratch databases,
pg_restore, and the facts a manifest records (row counts, migration version)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, table, text
from sqlalchemy.engine import URL, Connection, make_url

from server.backup_manager.errors import BackupError
from server.backup_manager.streams import WrittenFile, write_from
from server.core.config import Settings

log = logging.getLogger("server.backup_manager")

_DB_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


@dataclass
class PgTarget:
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    database: str
    sslmode: str | None

    @classmethod
    def from_url(cls, url: URL) -> PgTarget:
        sslmode = url.query.get("sslmode")
        return cls(
            url.host,
            url.port,
            url.username,
            url.password,
            url.database or "postgres",
            sslmode if isinstance(sslmode, str) else None,
        )

    def args(self, database: str | None = None) -> list[str]:
        found = []
        if self.host:
            found += ["--host", self.host]
        if self.port:
            found += ["--port", str(self.port)]
        if self.user:
            found += ["--username", self.user]
        return [*found, "--dbname", database or self.database]

    def args_without_db(self) -> list[str]:
        return self.args()[:-2]


def _pgpass_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


@contextlib.contextmanager
def pg_environment(target: PgTarget) -> Iterator[dict[str, str]]:
    """The environment of a pg_* command: PATH, locale, and the password in a private
    PGPASSFILE (never on the command line, where `ps` shows it)."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "HOME") if key in os.environ}
    env["PGCONNECT_TIMEOUT"] = "15"
    if target.sslmode:
        env["PGSSLMODE"] = target.sslmode
    with tempfile.TemporaryDirectory(prefix="pgpass-") as folder:
        if target.password:
            path = Path(folder) / "pgpass"
            path.touch(mode=0o600)
            path.write_text(_pgpass_line(target.password))
            env["PGPASSFILE"] = str(path)
        yield env


def pg_tool(settings: Settings, name: str, server_version_num: int | None) -> str:
    """The path of a PostgreSQL client program (`pg_dump`, `pg_restore`, ...).

    BACKUP_PG_BIN_DIR wins; else the Debian/Ubuntu layout for the server's major version
    (`/usr/lib/postgresql/<major>/bin`), since pg_dump refuses a newer server and an older
    pg_restore cannot read a newer dump; else `PATH`.
    """
    if settings.backup_pg_bin_dir:
        return str(settings.backup_pg_bin_dir / name)
    if server_version_num:
        candidate = Path(f"/usr/lib/postgresql/{server_version_num // 10000}/bin/{name}")
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian package postgresql-client)")
    return found


def run_tool(argv: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {done.returncode}): {' '.join(detail)}")
    return done


def _table_names(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
            "('pg_catalog', 'information_schema') ORDER BY 1, 2"
        )
    )
    return [(row[0], row[1]) for row in rows]


def row_counts(conn: Connection) -> dict[str, int]:
    counts = {}
    for schema, name in _table_names(conn):
        label = name if schema == "public" else f"{schema}.{name}"
        counts[label] = conn.scalar(select(func.count()).select_from(table(name, schema=schema)))
    return counts


def _alembic_version(conn: Connection) -> str | None:
    try:
        with conn.begin_nested() if conn.in_transaction() else contextlib.nullcontext():
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 - a database without migrations has no version
        return None


def dump(settings: Settings, folder: Path, secret: str) -> tuple[list[WrittenFile], dict]:
    """Dump the live PostgreSQL database (and its globals) into `folder`."""
    url = make_url(settings.direct_database_url)
    target = PgTarget.from_url(url)
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    written: list[WrittenFile] = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            version_num = int(conn.scalar(text("SHOW server_version_num")))
            server_version = conn.scalar(text("SHOW server_version"))
            counts = row_counts(conn)
            alembic = _alembic_version(conn)
            pg_dump = pg_tool(settings, "pg_dump", version_num)
            with pg_environment(target) as env:
                argv = [pg_dump, "--format=custom", f"--snapshot={snapshot}", *target.args()]
                path = folder / "database.dump"
                errors = tempfile.TemporaryFile()  # a file: a full pipe would stall pg_dump
                process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                    argv, env=env, stdout=subprocess.PIPE, stderr=errors
                )
                try:
                    written.append(
                        write_from(
                            path,
                            process.stdout,
                            secret=secret,
                            part="database",
                            fmt="pg_dump-custom",
                        )
                    )
                except BaseException:
                    # Writing failed (a full disk): pg_dump would wait for ever to write into
                    # the pipe no one reads any more.
                    process.kill()
                    raise
                finally:
                    process.stdout.close()
                    code = process.wait()
                    errors.seek(0)
                    stderr = errors.read().decode(errors="replace")
                    errors.close()
                if code != 0:
                    raise BackupError(f"pg_dump failed (exit {code}): {stderr.strip()[-500:]}")
                dump_version = run_tool([pg_dump, "--version"], env, "pg_dump --version")
                globals_note = _dump_globals(settings, target, env, version_num, folder, secret)
            conn.rollback()
    finally:
        engine.dispose()
    if globals_note["included"]:
        written.append(globals_note.pop("file"))
    info = {
        "dialect": "postgresql",
        "name": target.database,
        "server_version": server_version,
        "pg_dump_version": dump_version.stdout.decode().strip(),
        "alembic_version": alembic,
        "row_counts": counts,
        "globals": globals_note,
    }
    return written, info


def _dump_globals(
    settings: Settings,
    target: PgTarget,
    env: dict[str, str],
    version_num: int,
    folder: Path,
    secret: str,
) -> dict[str, Any]:
    """Roles and tablespaces (`pg_dumpall --globals-only`), which pg_dump leaves out.

    Role passwords need a superuser; without one, roles are dumped without passwords; a role
    that may not read even that gets a note in the manifest instead of a failed backup.
    """
    pg_dumpall = pg_tool(settings, "pg_dumpall", version_num)
    base = [pg_dumpall, "--globals-only", *target.args_without_db(), "--database", target.database]
    failures = []
    for extra, note in (([], "with role passwords"), (["--no-role-passwords"], "no passwords")):
        done = subprocess.run(  # noqa: S603 - our own argv, no shell
            [*base, *extra], env=env, capture_output=True, check=False
        )
        if done.returncode == 0:
            entry = write_from(
                folder / "globals.sql",
                io.BytesIO(done.stdout),
                secret=secret,
                part="database",
                fmt="pg_dumpall-globals",
            )
            return {"included": True, "note": note, "file": entry}
        failures.append(done.stderr.decode(errors="replace").strip()[-200:])
    log.warning("globals not dumped (not permitted)", extra={"reason": failures[-1]})
    return {"included": False, "note": f"not permitted: {failures[-1]}"}


def _admin_engine(url: URL):
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def check_db_name(name: str) -> str:
    if not _DB_NAME_PATTERN.match(name):
        raise BackupError(f"{name!r} is not a database name this tool accepts")
    return name


def database_exists(url: URL, name: str) -> bool:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            )
    finally:
        engine.dispose()


def create_database(url: URL, name: str) -> None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(check_db_name(name))
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def drop_database(url: URL, name: str) -> None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(check_db_name(name))
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        engine.dispose()


def restore(settings: Settings, dump: Path, url: URL, database: str, *, clean: bool) -> None:
    target = PgTarget.from_url(url)
    engine = create_engine(url.set(database=database))
    try:
        with engine.connect() as conn:
            version_num = int(conn.scalar(text("SHOW server_version_num")))
    finally:
        engine.dispose()
    pg_restore = pg_tool(settings, "pg_restore", version_num)
    argv = [
        pg_restore,
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--jobs={settings.backup_restore_jobs}",
        *target.args(database),
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    with pg_environment(target) as env:
        run_tool([*argv, str(dump)], env, "pg_restore")


def facts(url: URL, database: str) -> tuple[dict[str, int], str | None]:
    engine = create_engine(url.set(database=database))
    try:
        with engine.connect() as conn:
            return row_counts(conn), _alembic_version(conn)
    finally:
        engine.dispose()
