"""SQLite: a copy through the online backup API, and the facts a manifest records."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from server.backup_manager.errors import BackupError
from server.backup_manager.streams import WrittenFile, write_from
from server.core.config import Settings


def database_path(url: str | URL) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def facts(path: Path) -> tuple[dict[str, int], str | None]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path}: SQLite integrity check failed")
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in tables}
        counts = {
            # Names from sqlite_master, quoted as identifiers.
            name: conn.execute("SELECT count(*) FROM " + quoted[name]).fetchone()[0]  # noqa: S608
            for name in tables
        }
        version = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            version = row[0] if row else None
        return counts, version
    finally:
        conn.close()


def dump(settings: Settings, folder: Path, secret: str) -> tuple[list[WrittenFile], dict]:
    """Copy the live SQLite database with the online backup API, then store the copy."""
    source_path = database_path(settings.database_url)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".scratch-") as scratch:
        copy = Path(scratch) / "copy.sqlite3"
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(copy)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        row_counts, alembic = facts(copy)
        with open(copy, "rb") as handle:
            written = write_from(
                folder / "database.sqlite3", handle, secret=secret, part="database", fmt="sqlite3"
            )
    info = {
        "dialect": "sqlite",
        "name": source_path.name,
        "server_version": sqlite3.sqlite_version,
        "alembic_version": alembic,
        "row_counts": row_counts,
    }
    return [written], info
