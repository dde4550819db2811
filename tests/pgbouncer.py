"""Debian's PgBouncer in front of the test PostgreSQL, on a free loopback port, in transaction
pooling mode (the mode DB_PGBOUNCER is for)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.sentinel_set import free_port

POOL_SIZE = 20  # server connections per database and user


class PgBouncer:
    """One pgbouncer process; `url` reaches `database_url`'s database through it."""

    def __init__(self, database_url: str, *, statement_timeout_ms: int = 30_000) -> None:
        self.target = make_url(database_url)
        self.port = free_port()
        self.statement_timeout_ms = statement_timeout_ms
        # PgBouncer refuses to run as root: as root it runs as `postgres`, in a folder that
        # user can read and write.
        self.folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.target.set(
            drivername="postgresql+psycopg", host="127.0.0.1", port=self.port
        ).render_as_string(hide_password=False)

    def _config(self) -> str:
        name = self.target.database
        return (
            "[databases]\n"
            f"{name} = host={self.target.host or '127.0.0.1'} port={self.target.port or 5432} "
            f"dbname={name} connect_query='SET statement_timeout = {self.statement_timeout_ms}'\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {POOL_SIZE}\n"
            "max_client_conn = 1000\n"
            f"admin_users = {self.target.username}\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
            f"pidfile = {self.folder / 'pgbouncer.pid'}\n"
        )

    def start(self) -> PgBouncer:
        (self.folder / "userlist.txt").write_text(f'"{self.target.username}" ""\n')
        ini = self.folder / "pgbouncer.ini"
        ini.write_text(self._config())
        argv = [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", str(ini)]
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            argv = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--clear-groups",
                *argv,
            ]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        plain = self.url.replace("postgresql+psycopg://", "postgresql://")
        while True:
            try:
                psycopg.connect(plain, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.folder / "pgbouncer.log"
                    raise RuntimeError(
                        "pgbouncer did not start: "
                        + (log.read_text()[-2000:] if log.exists() else "no log")
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # immediate shutdown
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def pgbouncer(database_url: str, **options) -> Iterator[PgBouncer]:
    """A started `PgBouncer` in front of `database_url`, stopped at the end."""
    running = PgBouncer(database_url, **options)
    try:
        yield running.start()
    finally:
        running.stop()
