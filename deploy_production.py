"""Prepare (or check) a production deployment of the Job Application Agent server.

    python deploy_production.py                  # prepare: create what is missing, then check
    python deploy_production.py --check          # report only: change nothing
    python deploy_production.py --generate-secrets --admin-email admin@example.com
    python deploy_production.py --rolling --restart-command 'systemctl restart job-agent-web@{port}'

Each numbered step prints what it found; a failure names its fix. Running it again changes
nothing that is already in place (the database, migrations, folders and first admin are created
only when missing; secrets in `.env` are never overwritten). Exit code 0 only when the
deployment is ready to start; 1 when a step failed; 2 for a bad command line.

Settings are read as the service reads them (`server/core/config.py`): the process environment over
`.env` (`--env-file`). The first admin comes from `--admin-email`/`--admin-password`, else
`DEPLOY_ADMIN_EMAIL`/`DEPLOY_ADMIN_PASSWORD`, else a prompt (not with `--non-interactive`).

`--rolling` restarts the web instances listed in nginx.conf's upstream one at a time, each
drained in nginx first, so no request fails (docs/rolling-restarts.md).
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIN_PYTHON = (3, 11)
MIN_REDIS = (6, 2)
SECRET_NAMES = ("JWT_SECRET_KEY", "ENCRYPTION_KEY")


@dataclass
class Report:
    """What the steps found: failures stop the deployment, warnings do not."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def ok(self, message: str) -> None:
        print(f"      ok       {message}", flush=True)

    def warn(self, message: str, fix: str) -> None:
        self.warnings.append(f"{message} -> {fix}")
        print(f"      WARNING  {message}\n               fix: {fix}", flush=True)

    def fail(self, message: str, fix: str) -> None:
        self.failures.append(f"{message} -> {fix}")
        print(f"      FAILED   {message}\n               fix: {fix}", flush=True)

    def changed(self, message: str) -> None:
        self.changes.append(message)
        print(f"      done     {message}", flush=True)


class StepFailed(Exception):
    """A step cannot go on (reported already); later steps that need it are skipped."""


@dataclass
class Context:
    args: argparse.Namespace
    report: Report
    environ: dict[str, str] = field(default_factory=dict)
    settings: object | None = None
    app: object | None = None
    database_ready: bool = False
    redis: object | None = None

    @property
    def check_only(self) -> bool:
        return bool(self.args.check)


# ---------------------------------------------------------------------------------------------
# .env handling


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def generate_secret(name: str) -> str:
    if name == "ENCRYPTION_KEY":
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()
    import secrets

    return secrets.token_urlsafe(48)


def write_missing_secrets(path: Path, names: list[str]) -> list[str]:
    """Give each named variable a strong value in `.env` where it has none (absent or `NAME=`).

    A variable with a value is never touched. The file ends up mode 0600."""
    lines = path.read_text().splitlines() if path.exists() else []
    written = []
    for name in names:
        pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=\s*(['\"]?)\s*\2\s*$")
        value = generate_secret(name)
        for index, line in enumerate(lines):
            if pattern.match(line):
                lines[index] = f"{name}={value}"
                break
        else:
            lines.append(f"{name}={value}")
        written.append(name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return written


# ---------------------------------------------------------------------------------------------
# Steps


def step_python(ctx: Context) -> None:
    version = sys.version_info
    if version[:2] < MIN_PYTHON:
        ctx.report.fail(
            f"Python {version.major}.{version.minor} is too old",
            f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ and run this script with it",
        )
        raise StepFailed
    ctx.report.ok(f"Python {version.major}.{version.minor}.{version.micro} ({sys.executable})")


def marker_applies(marker: str) -> bool:
    """Whether an environment marker holds here (packaging's, else `sys_platform` tests)."""
    try:
        from packaging.markers import Marker
    except ImportError:  # a bare interpreter: the requirements use sys_platform only
        match = re.fullmatch(r"sys_platform\s*(==|!=)\s*['\"]([^'\"]+)['\"]", marker)
        if match is None:
            return True
        return (sys.platform == match.group(2)) == (match.group(1) == "==")
    return Marker(marker).evaluate()


def required_packages(path: Path) -> list[tuple[str, str]]:
    """(name, pinned version) of each requirement that applies to this platform."""
    pins = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, _, marker = line.partition(";")
        if marker.strip() and not marker_applies(marker.strip()):
            continue
        name, _, version = spec.partition("==")
        pins.append((re.sub(r"\[.*\]", "", name).strip(), version.strip()))
    return pins


def step_packages(ctx: Context) -> None:
    from importlib import metadata

    requirements = ROOT / "requirements_production.txt"
    missing, wrong = [], []
    pins = required_packages(requirements)
    for name, version in pins:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if version and installed != version:
            wrong.append(f"{name} {installed} (pinned {version})")
    fix = f"{sys.executable} -m pip install -r {requirements}"
    if missing:
        ctx.report.fail("missing packages: " + ", ".join(missing), fix)
        raise StepFailed
    if wrong:
        ctx.report.warn("versions differ from the pins: " + ", ".join(wrong), fix)
    ctx.report.ok(f"{len(pins)} required packages installed")


def step_settings(ctx: Context) -> None:
    from server.core.config import (
        ConfigError,
        environment_variable,
        load_settings,
        read_environment,
        weak_secret_reason,
    )

    env_file = ctx.args.env_file
    report = ctx.report
    if env_file.exists():
        mode = stat.S_IMODE(env_file.stat().st_mode)
        if mode & 0o077:
            if ctx.check_only:
                report.warn(
                    f"{env_file} is readable by other users (mode {mode:o})",
                    f"chmod 600 {env_file}",
                )
            else:
                os.chmod(env_file, 0o600)
                report.changed(f"{env_file}: mode {mode:o} -> 600 (it holds secrets)")
        report.ok(f"reading {env_file}")
    else:
        report.warn(
            f"{env_file} does not exist; only the process environment is read",
            f"cp {ROOT / 'env_production_example.txt'} {env_file} and edit it",
        )
    environ = read_environment(env_file)

    absent = [name for name in SECRET_NAMES if not environ.get(name)]
    if absent and ctx.args.generate_secrets:
        if ctx.check_only:
            report.fail(
                "--generate-secrets with --check: nothing written",
                "run again without --check to write " + ", ".join(absent),
            )
        else:
            written = write_missing_secrets(env_file, absent)
            report.changed(f"wrote strong {', '.join(written)} into {env_file} (mode 600)")
            environ = read_environment(env_file)

    if environ.get("FLASK_ENV", environ.get("APP_ENV", "")).strip().lower() != "production":
        report.fail(
            "FLASK_ENV is not 'production' (the start-up checks of the secrets stay off)",
            f"set FLASK_ENV=production in {env_file}",
        )
    for name in SECRET_NAMES:
        reason = weak_secret_reason(environ.get(name))
        if reason:
            fix = (
                f"run `python deploy_production.py --generate-secrets` or set {name} in {env_file}"
                if reason == "is missing"
                else f"replace {name} in {env_file} with a strong random value "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
            report.fail(f"{name} {reason}", fix)
        else:
            report.ok(f"{name} is set and strong enough")
    ctx.environ = environ
    # Weak secrets are reported above; stand-ins let the other steps still report (nothing
    # those steps do depends on the secrets' values).
    checked = {**environ, "FLASK_ENV": "production"}
    for name in SECRET_NAMES:
        if weak_secret_reason(environ.get(name)):
            checked[name] = generate_secret(name)
    try:
        settings = load_settings(checked)
    except ConfigError as exc:
        report.fail(f"configuration: {exc}", f"correct the variable in {env_file}")
        raise StepFailed from None
    ctx.settings = settings

    if settings.database_is_default:
        report.fail(
            "no database configured (the SQLite file under instance/ is for development)",
            f"set DATABASE_URL (or DB_HOST/DB_NAME/DB_USER/DB_PASSWORD) in {env_file}",
        )
    if not settings.redis_configured:
        report.fail(
            "no Redis configured (the embedded Redis is for development)",
            f"set REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD, or REDIS_SENTINELS) in "
            f"{env_file}",
        )
    advice = [
        (
            not settings.password_pepper,
            "PASSWORD_PEPPER is not set: password hashes are unpeppered",
            "set PASSWORD_PEPPER to a random value before the first account (it cannot change later)",
        ),
        (
            not settings.smtp_host,
            "SMTP_HOST is not set: verification and reset mails are written to instance/outbox/",
            f"set SMTP_HOST, SMTP_USERNAME, SMTP_PASSWORD in {env_file}",
        ),
        (
            settings.trusted_proxy_count == 0,
            "TRUSTED_PROXY_COUNT is 0: behind nginx every client would share nginx's address",
            "set TRUSTED_PROXY_COUNT=1 when nginx (nginx.conf) is the only proxy in front",
        ),
        (
            not settings.public_base_url.startswith("https://"),
            f"PUBLIC_BASE_URL is {settings.public_base_url} (links in mails are not https)",
            "set PUBLIC_BASE_URL=https://your.domain",
        ),
        (
            not settings.google_api_key,
            "GOOGLE_API_KEY is not set: the built-in local engine answers instead of Gemini",
            "set GOOGLE_API_KEY to use Gemini",
        ),
    ]
    for condition, message, fix in advice:
        if condition:
            report.warn(message, fix)
    if not ctx.environ.get(environment_variable("job_queue_max_workers")):
        report.ok(f"JOB_QUEUE_MAX_WORKERS defaults to {settings.job_queue_max_workers}")
    report.ok("settings parse")


def _database_url(ctx: Context) -> str:
    return ctx.settings.database_url  # type: ignore[union-attr]


def step_database(ctx: Context) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if ctx.settings is None or ctx.settings.database_is_default:
        raise StepFailed
    url = make_url(_database_url(ctx))
    shown = url.render_as_string(hide_password=True)
    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
        ctx.report.ok(f"connected to {shown} (PostgreSQL {version})")
        if ctx.settings.db_pgbouncer:
            check_pgbouncer(ctx, url)
        ctx.database_ready = True
        return
    except OperationalError as exc:
        missing = "does not exist" in str(exc)
        if not missing:
            ctx.report.fail(
                f"cannot connect to {shown}: {_first_line(exc)}",
                "start PostgreSQL and check DATABASE_URL (host, port, user, password)",
            )
            raise StepFailed from None
    finally:
        engine.dispose()
    if ctx.check_only:
        ctx.report.fail(
            f"database {url.database!r} does not exist",
            "run without --check to create it, or: createdb " + str(url.database),
        )
        raise StepFailed
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            quoted = '"' + str(url.database).replace('"', '""') + '"'
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    except (OperationalError, ProgrammingError) as exc:
        ctx.report.fail(
            f"database {url.database!r} does not exist and cannot be created: {_first_line(exc)}",
            f"as a PostgreSQL superuser: CREATE DATABASE {url.database} OWNER {url.username};",
        )
        raise StepFailed from None
    finally:
        admin.dispose()
    ctx.report.changed(f"created database {url.database!r}")
    ctx.database_ready = True


def check_pgbouncer(ctx: Context, url) -> None:
    """PgBouncer (DB_PGBOUNCER): its pool mode and prepared statements (from its admin
    console) and the statement timeout its server connections carry."""
    import psycopg

    settings = ctx.settings
    assert settings is not None
    admin = url.set(drivername="postgresql", database="pgbouncer")
    try:
        with psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        ) as conn:
            config = {row[0]: row[1] for row in conn.execute("SHOW CONFIG").fetchall()}
            version = conn.info.parameter_status("server_version") or "?"
            cursor = conn.execute("SHOW DATABASES")
            columns = [column.name for column in cursor.description or ()]
            databases = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor}
    except psycopg.Error as exc:
        ctx.report.warn(
            f"PgBouncer's admin console is closed to {url.username}: {_first_line(exc)}",
            "add the user to stats_users in pgbouncer.ini so the pool mode can be checked",
        )
        return
    mode = config.get("pool_mode")
    own_mode = databases.get(url.database, {}).get("pool_mode")
    mode = own_mode or mode  # a database's line may set its own
    if mode != "transaction":
        advice = (
            "session pooling holds a server connection per client connection: no saving"
            if mode == "session"
            else "statement pooling breaks every multi-statement transaction"
        )
        ctx.report.fail(
            f"PgBouncer {version.split('/')[0]} pools in {mode} mode ({advice})",
            "set pool_mode = transaction in pgbouncer.ini",
        )
    else:
        ctx.report.ok(f"PgBouncer {version.split('/')[0]}, pool_mode transaction")
    prepared = config.get("max_prepared_statements")
    ctx.report.ok(
        "prepared statements: the service prepares none (DB_PGBOUNCER=true); "
        + (
            "this PgBouncer cannot keep them (before 1.21)"
            if prepared is None
            else f"max_prepared_statements = {prepared}"
        )
    )
    if settings.db_statement_timeout_ms:
        from sqlalchemy import create_engine, text

        from server.ops.database_optimizer import engine_options

        engine = create_engine(url, connect_args=engine_options(settings)["connect_args"])
        try:
            with engine.connect() as conn:
                timeout_ms = conn.execute(
                    text("SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'")
                ).scalar()
        finally:
            engine.dispose()
        if not timeout_ms:
            ctx.report.warn(
                "statements through PgBouncer run without a timeout (DB_STATEMENT_TIMEOUT_MS "
                "cannot be sent through it)",
                f"add connect_query='SET statement_timeout={settings.db_statement_timeout_ms}' "
                "to the database's line in pgbouncer.ini",
            )
        else:
            ctx.report.ok(f"statement_timeout through PgBouncer: {timeout_ms} ms")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _app(ctx: Context):
    if ctx.app is None:
        from server import create_app

        settings = ctx.settings.replace(log_to_stdout=False)  # type: ignore[union-attr]
        if ctx.check_only:
            # The app opens its log files when built: --check writes them elsewhere, so it
            # creates nothing in the deployment.
            scratch = tempfile.mkdtemp(prefix="deploy-check-")
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            settings = settings.replace(log_dir=Path(scratch))
        ctx.app = create_app(settings)
    return ctx.app


@contextmanager
def app_context(ctx: Context) -> Iterator[None]:
    app = _app(ctx)
    with app.app_context():
        yield


def step_migrations(ctx: Context) -> None:
    if not ctx.database_ready:
        ctx.report.fail("skipped: no database", "fix the database step first")
        raise StepFailed
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import upgrade

    from server.core.extensions import db

    script = ScriptDirectory(str(ROOT / "migrations"))
    heads = set(script.get_heads())
    with app_context(ctx):
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            ctx.report.ok(f"schema at the latest revision ({', '.join(sorted(heads))})")
            return
        pending = ", ".join(sorted(current)) or "an empty database"
        if ctx.check_only:
            ctx.report.fail(
                f"migrations pending (database at {pending}, latest {', '.join(sorted(heads))})",
                "run without --check, or: flask --app server db upgrade",
            )
            raise StepFailed
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    ctx.report.changed(f"migrated from {pending} to {', '.join(sorted(heads))}")


def step_indexes(ctx: Context) -> None:
    if not ctx.database_ready:
        raise StepFailed
    from sqlalchemy import inspect

    from server.core.extensions import db

    missing = []
    with app_context(ctx):
        inspector = inspect(db.engine)
        tables = set(inspector.get_table_names())
        count = 0
        for table in db.metadata.sorted_tables:
            if table.name not in tables:
                missing.append(f"table {table.name}")
                continue
            indexes = inspector.get_indexes(table.name)
            names = {index["name"] for index in indexes}
            column_sets = {tuple(index["column_names"]) for index in indexes}
            column_sets |= {
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)
            }
            for index in table.indexes:
                count += 1
                if index.name not in names:
                    missing.append(f"index {index.name} on {table.name}")
            for constraint in table.constraints:
                columns = tuple(c.name for c in getattr(constraint, "columns", ()))
                if type(constraint).__name__ == "UniqueConstraint" and columns:
                    count += 1
                    if columns not in column_sets:
                        missing.append(f"unique ({', '.join(columns)}) on {table.name}")
        db.engine.dispose()
    if missing:
        ctx.report.fail(
            "missing: " + "; ".join(missing),
            "run `flask --app server db upgrade`; if it says the schema is current, the database "
            "was changed by hand: restore the index from migrations/versions/",
        )
        raise StepFailed
    ctx.report.ok(f"{len(db.metadata.sorted_tables)} tables and {count} indexes in place")


def step_encrypted_data(ctx: Context) -> None:
    """Every encrypted value (stored credentials, EEO answers) must open with ENCRYPTION_KEY;
    one under an older key of it is a rotation still to run."""
    if not ctx.database_ready:
        raise StepFailed
    from sqlalchemy import inspect

    from server.core.extensions import db
    from server.security_manager.encryption import encrypted_columns
    from server.services import encryption_keys

    with app_context(ctx):
        try:
            tables = set(inspect(db.engine).get_table_names())
            if any(column.table.name not in tables for column in encrypted_columns()):
                raise StepFailed  # the Indexes step names the missing tables
            counts = encryption_keys.census()
        finally:
            db.session.remove()
            db.engine.dispose()
    rotate = "flask --app server rotate-encryption-key"
    for counted in counts:
        if counted.unreadable:
            ctx.report.fail(
                f"{counted.unreadable} value(s) of {counted.column} are under a key that is not "
                f"in ENCRYPTION_KEY ({', '.join(counted.unreadable_rows)}): they cannot be read",
                "put the key they were written with back into ENCRYPTION_KEY, after the newest, "
                f"then run {rotate}; if that key is lost, so are these values (their owners can "
                "clear or replace them)",
            )
        if counted.older:
            ctx.report.warn(
                f"{counted.older} value(s) of {counted.column} are still under an older key of "
                "ENCRYPTION_KEY",
                f"run {rotate} before dropping that key",
            )
    if all(counted.done for counted in counts):
        total = sum(counted.newest for counted in counts)
        ctx.report.ok(
            f"{total} encrypted value(s) in {len(counts)} column(s), all under the newest key of "
            "ENCRYPTION_KEY"
        )


def check_sentinels(ctx: Context) -> None:
    """The Sentinel set: every sentinel answers, the quorum can be reached, which is primary."""
    import redis

    from server.core.redis_client import sentinel_manager

    settings = ctx.settings
    assert settings is not None
    name = settings.redis_sentinel_master
    manager = sentinel_manager(settings, {"socket_connect_timeout": 2, "socket_timeout": 2})
    answering, quorum, verdict = [], None, None
    for address, sentinel in zip(settings.redis_sentinels, manager.sentinels, strict=True):
        try:
            state = sentinel.sentinel_master(name)
        except redis.ResponseError as exc:  # this sentinel does not monitor `name`
            ctx.report.fail(
                f"sentinel {address} does not know {name!r}: {_first_line(exc)}",
                "set REDIS_SENTINEL_MASTER to the name in the sentinels' `sentinel monitor` line",
            )
            raise StepFailed from None
        except redis.RedisError as exc:
            ctx.report.warn(
                f"sentinel {address} does not answer: {_first_line(exc)}",
                "start redis-sentinel there: a failover needs a majority of the sentinels",
            )
            continue
        answering.append(address)
        quorum = state.get("quorum")
        try:
            verdict = sentinel.execute_command("SENTINEL CKQUORUM", name)
        except redis.ResponseError as exc:
            ctx.report.fail(
                f"sentinel {address}: the quorum of {name!r} cannot be reached: {_first_line(exc)}",
                "start the missing sentinels: a failover needs a majority of them",
            )
            raise StepFailed from None
    if not answering:
        ctx.report.fail(
            f"no sentinel of REDIS_SENTINELS ({', '.join(settings.redis_sentinels)}) answers",
            "start redis-sentinel on those hosts and check REDIS_SENTINEL_PASSWORD",
        )
        raise StepFailed
    try:
        host, port = manager.discover_master(name)
    except redis.RedisError as exc:
        ctx.report.fail(
            f"the sentinels name no healthy primary for {name!r}: {_first_line(exc)}",
            "check the primary's redis-server and the sentinels' logs",
        )
        raise StepFailed from None
    replicas = manager.discover_slaves(name)
    ctx.report.ok(
        f"Sentinel: {len(answering)} of {len(settings.redis_sentinels)} sentinels answer, "
        f"quorum {quorum} reachable ({verdict}); primary of {name!r} is {host}:{port}, "
        f"{len(replicas)} healthy replica(s)"
    )
    if not replicas:
        ctx.report.warn(
            f"{name!r} has no healthy replica: the sentinels have nothing to promote",
            "start a replica (replicaof <primary> <port>) that the sentinels discover",
        )


def step_redis(ctx: Context) -> None:
    if ctx.settings is None or not ctx.settings.redis_configured:
        raise StepFailed
    import redis

    from server.core.redis_client import build_redis

    if ctx.settings.redis_sentinels:
        check_sentinels(ctx)
    conn = build_redis(ctx.settings, socket_timeout=5, health_check_interval=0)
    try:
        info = conn.info("server")
    except redis.RedisError as exc:
        ctx.report.fail(
            f"cannot reach Redis: {_first_line(exc)}",
            "start Redis (redis-server) and check REDIS_URL (host, port, password, database)",
        )
        raise StepFailed from None
    version = tuple(int(part) for part in str(info["redis_version"]).split(".")[:2])
    if version < MIN_REDIS:
        ctx.report.fail(f"Redis {info['redis_version']} is too old", "install Redis 6.2 or newer")
    else:
        ctx.report.ok(f"Redis {info['redis_version']} answers")
    ctx.redis = conn
    try:
        policy = conn.config_get("maxmemory-policy").get("maxmemory-policy")
        persistence = conn.config_get("appendonly") | conn.config_get("save")
    except redis.ResponseError:
        ctx.report.warn(
            "CONFIG is not allowed on this Redis: eviction and persistence cannot be checked",
            "make sure maxmemory-policy is noeviction and AOF or RDB snapshots are on",
        )
        return
    if policy != "noeviction":
        ctx.report.warn(
            f"maxmemory-policy is {policy}: Redis may evict queue entries, limits and the token "
            "revocation cache",
            "redis-cli CONFIG SET maxmemory-policy noeviction (and set it in redis.conf)",
        )
    else:
        ctx.report.ok("maxmemory-policy noeviction")
    if persistence.get("appendonly") != "yes" and not persistence.get("save"):
        ctx.report.warn(
            "no persistence (appendonly no, no save points): a restart loses the token "
            "blocklist cache, IP blocks and limits (rebuilt from PostgreSQL, but slower)",
            "redis-cli CONFIG SET appendonly yes (and appendonly yes in redis.conf)",
        )
    else:
        ctx.report.ok(
            "persistence: "
            + ("AOF" if persistence.get("appendonly") == "yes" else f"save {persistence['save']}")
        )


def _backup_dir(settings) -> Path:
    return Path(getattr(settings, "backup_dir", None) or settings.instance_dir / "backups")


def step_folders(ctx: Context) -> None:
    if ctx.settings is None:
        raise StepFailed
    settings = ctx.settings
    folders = [
        ("log", Path(settings.log_dir), 0o750),
        ("instance", Path(settings.instance_dir), 0o750),
        ("uploads", Path(settings.uploads_dir), 0o750),
        ("backup", _backup_dir(settings), 0o700),
    ]
    for label, path, mode in folders:
        if not path.exists():
            if ctx.check_only:
                ctx.report.fail(f"{label} folder {path} does not exist", "run without --check")
                continue
            path.mkdir(parents=True, exist_ok=True, mode=mode)
            os.chmod(path, mode)
            ctx.report.changed(f"created {label} folder {path} (mode {mode:o})")
            continue
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o007:
            if ctx.check_only:
                ctx.report.fail(
                    f"{label} folder {path} is open to other users (mode {current:o})",
                    f"chmod {mode:o} {path}",
                )
            else:
                os.chmod(path, mode)
                ctx.report.changed(f"{label} folder {path}: mode {current:o} -> {mode:o}")
            continue
        if not os.access(path, os.W_OK):
            ctx.report.fail(
                f"{label} folder {path} is not writable by {getpass.getuser()}",
                f"chown {getpass.getuser()} {path}",
            )
            continue
        ctx.report.ok(f"{label} folder {path} (mode {current:o})")


def step_admin(ctx: Context) -> None:
    if not ctx.database_ready:
        ctx.report.fail("skipped: no database", "fix the database step first")
        raise StepFailed
    from sqlalchemy import func, select

    from server.core.errors import ApiError
    from server.core.extensions import db
    from server.models import Role, User

    with app_context(ctx):
        admins = db.session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN.value)
        )
        db.session.rollback()
        if admins:
            ctx.report.ok(f"{admins} admin account(s) exist")
            db.engine.dispose()
            return
        email = ctx.args.admin_email or ctx.environ.get("DEPLOY_ADMIN_EMAIL")
        password = ctx.args.admin_password or ctx.environ.get("DEPLOY_ADMIN_PASSWORD")
        fix = (
            "run `python deploy_production.py --admin-email EMAIL` (the password is asked for, "
            "or --admin-password / DEPLOY_ADMIN_PASSWORD), or "
            "`flask --app server create-admin EMAIL`"
        )
        if ctx.check_only:
            ctx.report.fail("no admin account exists", fix)
            raise StepFailed
        interactive = not ctx.args.non_interactive and sys.stdin.isatty()
        if not email and interactive:
            email = input("      first admin's email: ").strip()
        if email and not password and interactive:
            password = getpass.getpass("      first admin's password: ")
            if getpass.getpass("      again: ") != password:
                ctx.report.fail("the passwords differ", "run again and type the same password")
                raise StepFailed
        if not email or not password:
            ctx.report.fail("no admin account exists and none was given", fix)
            raise StepFailed
        from server.services import accounts

        try:
            outcome = accounts.create_admin(email=email, name="Administrator", password=password)
        except ApiError as exc:
            ctx.report.fail(
                f"cannot create the admin {email}: {exc.message}",
                "choose a longer, less guessable password (see docs/security.md: password policy)",
            )
            raise StepFailed from None
        finally:
            db.session.remove()
            db.engine.dispose()
    verb = "created admin" if outcome.created else "promoted to admin"
    ctx.report.changed(f"{verb} {outcome.user.email} (id {outcome.user.id})")


def nginx_body_size(text: str) -> int | None:
    """`client_max_body_size` of an nginx configuration, in bytes (None when absent)."""
    match = re.search(r"^\s*client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", text, re.M)
    if not match:
        return None
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    return int(match.group(1)) * factor


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_refusal(nginx: str, conf: Path) -> str | None:
    """What `nginx -t` says is wrong with `conf` (None when it accepts it)."""
    with tempfile.TemporaryDirectory(prefix="nginx-check-") as scratch:
        # Its own pid and error log: the check needs no root and touches no running nginx.
        done = subprocess.run(  # noqa: S603 - fixed argv
            [
                nginx,
                "-t",
                "-q",
                "-p",
                scratch,
                "-c",
                str(conf.resolve()),
                "-g",
                f"pid {scratch}/nginx.pid; error_log {scratch}/error.log;",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if done.returncode == 0:
        return None
    # "2026/01/01 00:00:00 [emerg] 123#123: message": the message is what matters.
    lines = [
        re.sub(r"^.*?\[(emerg|alert|crit|error|warn)\] \d+#\d+: ", "", line)
        for line in done.stderr.splitlines()
        if line.strip()
    ]
    return lines[0] if lines else f"exit {done.returncode}"


def step_nginx(ctx: Context) -> None:
    conf = ctx.args.nginx_conf
    if ctx.args.skip_nginx:
        ctx.report.ok("skipped (--skip-nginx)")
        return
    if not conf.exists():
        ctx.report.fail(f"{conf} does not exist", "pass --nginx-conf PATH, or --skip-nginx")
        return
    text = conf.read_text()
    size = nginx_body_size(text)
    if ctx.settings is not None and size is not None:
        if size < ctx.settings.max_content_length:
            ctx.report.warn(
                f"client_max_body_size ({size} bytes) is below MAX_CONTENT_LENGTH "
                f"({ctx.settings.max_content_length}): nginx refuses bodies the app accepts",
                f"set client_max_body_size {ctx.settings.max_content_length // 1024 // 1024}m; "
                f"in {conf}",
            )
    nginx = nginx_binary()
    if nginx is None:
        ctx.report.warn(
            "nginx is not installed here: nginx.conf was not validated",
            "apt-get install nginx, then run this again (or --skip-nginx for another proxy)",
        )
        return
    refusal = nginx_refusal(nginx, conf)
    if refusal is not None:
        ctx.report.fail(
            f"nginx -t refuses {conf}: {refusal}",
            "set ssl_certificate/ssl_certificate_key and server_name (the lines marked "
            f"SETTING) in {conf}; then nginx -t -c {conf.resolve()}",
        )
        return
    ctx.report.ok(f"nginx -t accepts {conf}")


def step_audit(ctx: Context) -> None:
    if not ctx.database_ready or ctx.redis is None:
        ctx.report.fail("skipped: needs the database and Redis", "fix those steps first")
        raise StepFailed
    from server.security_manager import audit

    with app_context(ctx):
        result = audit.run_audit(settings=ctx.settings, conn=ctx.redis, debug=False)
        from server.core.extensions import db

        db.session.remove()
        db.engine.dispose()
    for finding in result["findings"]:
        line = f"[{finding['severity']}] {finding['check']}: {finding['message']}"
        if finding["severity"] == "critical":
            ctx.report.fail(line, "correct it, then run this again")
        elif finding["severity"] == "high":
            ctx.report.warn(line, "correct it before going live")
    summary = result["summary"]
    ctx.report.ok(
        f"{summary['total']} checks: {summary['critical']} critical, {summary['high']} high, "
        f"{summary['medium']} medium, {summary['low']} low"
    )


def _major(version_num: int) -> int:
    return version_num // 10000


def step_backups(ctx: Context) -> None:
    """What the scheduled backups need: a writable folder and the PostgreSQL client programs
    of the server's major version (pg_dump refuses a newer server; an older pg_restore cannot
    read a newer dump)."""
    if ctx.settings is None:
        raise StepFailed
    settings = ctx.settings
    folder = Path(settings.backups_dir)
    if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
        ctx.report.ok(f"backups are written to {folder}")
    elif folder.exists() and not folder.is_dir():
        ctx.report.fail(f"BACKUP_DIR {folder} is not a folder", "set BACKUP_DIR to a folder")
    elif folder.exists():
        ctx.report.fail(
            f"backup folder {folder} is not writable by {getpass.getuser()}",
            f"chown {getpass.getuser()} {folder} && chmod 700 {folder}",
        )
    else:
        ctx.report.ok(f"backup folder {folder} is made by the Folders step (run without --check)")
    if settings.backup_s3_bucket:
        ctx.report.ok(f"backups are also copied to s3://{settings.backup_s3_bucket}")
    if not settings.backup_encryption_key:
        ctx.report.warn(
            "BACKUP_ENCRYPTION_KEY is not set: backups are stored unencrypted",
            "set BACKUP_ENCRYPTION_KEY (see docs/backups.md) when backups leave this machine",
        )
    if not ctx.database_ready:
        ctx.report.fail("pg_dump not checked: no database", "fix the database step first")
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(_database_url(ctx))
    if url.get_backend_name() != "postgresql":
        ctx.report.ok(f"{url.get_backend_name()}: backups use its online backup API")
        return
    from server.backup_manager import BackupError
    from server.backup_manager.postgres import pg_tool

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            server_num = int(conn.scalar(text("SHOW server_version_num")))
    finally:
        engine.dispose()
    major = _major(server_num)
    fix = (
        f"apt-get install postgresql-client-{major} (it installs "
        f"/usr/lib/postgresql/{major}/bin), or set BACKUP_PG_BIN_DIR to the folder of "
        f"PostgreSQL {major}'s pg_dump"
    )
    for name in ("pg_dump", "pg_restore"):
        try:
            path = pg_tool(settings, name, server_num)
        except BackupError as exc:
            ctx.report.fail(f"{name}: {exc}", fix)
            continue
        try:
            done = subprocess.run(  # noqa: S603 - a fixed program with --version
                [path, "--version"], capture_output=True, text=True, timeout=30, check=False
            )
        except OSError as exc:
            ctx.report.fail(f"{name} at {path} cannot run: {exc.strerror}", fix)
            continue
        found = re.search(r"(\d+)(?:\.(\d+))?", done.stdout)
        if done.returncode != 0 or found is None:
            ctx.report.fail(f"{path} --version failed: {done.stderr.strip()[:200]}", fix)
            continue
        tool_major = int(found.group(1))
        if tool_major < major:
            ctx.report.fail(
                f"{path} is PostgreSQL {tool_major}'s; the server is {major} "
                f"({'it refuses a newer server' if name == 'pg_dump' else 'it cannot read its dumps'})",
                fix,
            )
        else:
            ctx.report.ok(f"{name} {found.group(0)} ({path}) for PostgreSQL {major}")


def step_storage(ctx: Context) -> None:
    """Where user files go: with STORAGE_S3_BUCKET, a probe object written, read back and
    deleted through the service's own client; and files still to move there."""
    if ctx.settings is None:
        raise StepFailed
    settings = ctx.settings
    from server.core.errors import StorageUnavailable
    from server.storage.backends import MissingObject, S3Backend

    if not settings.storage_s3_bucket:
        ctx.report.ok(
            f"user files are kept sealed under {settings.storage_root} (one machine; set "
            "STORAGE_S3_BUCKET when several machines serve)"
        )
    else:
        where = f"s3://{settings.storage_s3_bucket}/{settings.storage_s3_prefix}"
        try:
            S3Backend(settings).probe()
        except (StorageUnavailable, MissingObject) as exc:
            cause = exc.__cause__ or exc
            ctx.report.fail(
                f"{where}: the probe object could not be written, read back and deleted "
                f"({_first_line(cause)})",
                "check STORAGE_S3_ENDPOINT_URL, STORAGE_S3_BUCKET and the credentials; the "
                "service needs s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket "
                "on the prefix",
            )
            return
        ctx.report.ok(f"{where}: a probe object written, read back and deleted")
    if not ctx.database_ready:
        return
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from server.core.extensions import db
    from server.models import ApplicationScreenshot, Resume

    with app_context(ctx):
        try:
            elsewhere = db.session.scalar(
                select(func.count())
                .select_from(Resume)
                .where(Resume.storage != settings.storage_backend)
            ) + db.session.scalar(
                select(func.count())
                .select_from(ApplicationScreenshot)
                .where(
                    ApplicationScreenshot.storage.is_(None)
                    | (ApplicationScreenshot.storage != settings.storage_backend)
                )
            )
        except SQLAlchemyError:
            return  # the schema is behind: the Migrations step says so
        finally:
            db.session.remove()
            db.engine.dispose()
    if elsewhere:
        ctx.report.warn(
            f"{elsewhere} user file(s) are not in the configured store yet (they are read from "
            "where they are)",
            "flask --app server storage-migrate",
        )


def step_scheduler(ctx: Context) -> None:
    """Every scheduled job's trigger builds from the settings; who leads now."""
    if ctx.settings is None:
        raise StepFailed
    from datetime import UTC, datetime

    from server.ops.scheduler import LEADER_KEY, SCHEDULED_JOBS

    settings = ctx.settings
    now = datetime.now(UTC)
    for job in SCHEDULED_JOBS:
        try:
            trigger = job.trigger(settings)
            upcoming = trigger.get_next_fire_time(None, now)
        except (ValueError, TypeError) as exc:
            ctx.report.fail(f"scheduled job {job.id}: {exc}", "correct its setting in .env")
            continue
        when = upcoming.strftime("%Y-%m-%d %H:%M %Z") if upcoming else "never"
        ctx.report.ok(f"{job.id}: {trigger}, next run {when}")
    if not settings.scheduler_enabled:
        ctx.report.warn(
            "SCHEDULER_ENABLED is false: processes started with these settings never run the "
            "scheduled jobs (lease reaper, backups, maintenance, alert checks)",
            "leave SCHEDULER_ENABLED=true here, or make sure a process on another machine "
            "sharing this Redis has it",
        )
    if ctx.redis is not None:
        import redis

        try:
            leader = ctx.redis.get(LEADER_KEY)
        except redis.RedisError:
            leader = None
        ctx.report.ok(
            f"leader now: {leader}"
            if leader
            else "no leader now: the first worker process (or WEB_RUNS_WORKERS web process) "
            "to start becomes it"
        )


def step_monitoring(ctx: Context) -> None:
    """/metrics under gunicorn (PROMETHEUS_MULTIPROC_DIR) and where alerts go."""
    if ctx.settings is None:
        raise StepFailed
    settings = ctx.settings
    folder = settings.prometheus_multiproc_dir
    if folder is None:
        if settings.gunicorn_workers > 1:
            ctx.report.warn(
                f"PROMETHEUS_MULTIPROC_DIR is not set: under gunicorn ({settings.gunicorn_workers} "
                "web processes) /metrics shows only the figures of the process that answers",
                "set PROMETHEUS_MULTIPROC_DIR=/var/lib/job-agent/metrics (a folder only the "
                "service uses, for the web and the worker processes)",
            )
        else:
            ctx.report.ok("one web process: PROMETHEUS_MULTIPROC_DIR is not needed")
    else:
        folder = Path(folder)
        parent = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if folder.exists() and not folder.is_dir():
            ctx.report.fail(
                f"PROMETHEUS_MULTIPROC_DIR {folder} is not a folder",
                "set PROMETHEUS_MULTIPROC_DIR to a folder only the service uses",
            )
        elif parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            ctx.report.fail(
                f"PROMETHEUS_MULTIPROC_DIR {folder} cannot be created or written by "
                f"{getpass.getuser()} (every web and worker process writes its figures there)",
                f"mkdir -p {folder} && chown {getpass.getuser()} {folder}, or choose another "
                "folder",
            )
        elif folder in {Path(settings.instance_dir), Path(settings.log_dir), ROOT}:
            ctx.report.fail(
                f"PROMETHEUS_MULTIPROC_DIR {folder} is a folder the service keeps other files "
                "in: gunicorn.conf.py removes files from it at every start",
                "use a folder of its own, e.g. /var/lib/job-agent/metrics",
            )
        else:
            ctx.report.ok(f"gunicorn's web processes add up their metrics in {folder}")
    if not settings.metrics_enabled:
        ctx.report.warn("METRICS_ENABLED is false: /metrics is off", "set METRICS_ENABLED=true")
    if settings.alert_webhook_url:
        ctx.report.ok("alerts are posted to ALERT_WEBHOOK_URL and logged")
    else:
        ctx.report.warn(
            "ALERT_WEBHOOK_URL is not set: alerts are only logged (`alert firing`)",
            "set ALERT_WEBHOOK_URL to a Slack-compatible incoming webhook",
        )


def step_browser(ctx: Context) -> None:
    """The browser channel: Chromium's version, a headless start, the sandbox as this user."""
    if ctx.settings is None:
        raise StepFailed
    from server.agent.browser import runtime

    settings = ctx.settings
    missing = runtime.unavailable_reason(settings)
    if missing:
        ctx.report.warn(
            f"browser channel unavailable: {missing}; applications use the other channels",
            "apt-get install chromium (Debian's package; never `playwright install`), "
            "util-linux for setpriv, and pip install -r requirements_production.txt",
        )
        return
    try:
        version = runtime.chromium_version(settings.browser_executable)
        tried = runtime.self_test(settings)
    except runtime.BrowserUnavailable as exc:
        sandbox = settings.browser_sandbox and os.geteuid() == 0
        ctx.report.warn(
            f"Chromium does not start headless: {_first_line(exc)}",
            "run the service as an unprivileged user (Chromium refuses its sandbox as root)"
            if sandbox
            else "check `chromium --headless=new --dump-dom about:blank` as the service user",
        )
        return
    ctx.report.ok(f"{version} starts headless in {tried['seconds']} s")
    if not settings.browser_sandbox:
        ctx.report.warn(
            "BROWSER_SANDBOX=false: pages run without Chromium's sandbox",
            "run the service as an unprivileged user and unset BROWSER_SANDBOX",
        )
    else:
        ctx.report.ok("Chromium's sandbox works as this user")


# ---------------------------------------------------------------------------------------------
# Rolling restart (--rolling): docs/rolling-restarts.md

UPSTREAM_BLOCK = re.compile(r"^[ \t]*upstream[ \t]+agent_app[ \t]*\{.*?^[ \t]*\}", re.M | re.S)
UPSTREAM_SERVER = re.compile(r"^([ \t]*server[ \t]+)([^\s;#]+)((?:[ \t]+[^\s;#]+)*)[ \t]*;", re.M)


class RollingStopped(Exception):
    """The rolling restart cannot go on; the message says where it stopped and what to do."""


def upstream_servers(text: str) -> list[tuple[str, bool]]:
    """(address, marked down) of each `server` line of nginx.conf's `upstream agent_app`."""
    block = UPSTREAM_BLOCK.search(text)
    if block is None:
        return []
    return [
        (match.group(2), "down" in match.group(3).split())
        for match in UPSTREAM_SERVER.finditer(block.group(0))
    ]


def with_server_down(text: str, address: str, *, down: bool) -> str:
    """`text` with the upstream server `address` marked `down` (or not); nothing else changes."""
    block = UPSTREAM_BLOCK.search(text)
    assert block is not None

    def edit(match: re.Match) -> str:
        if match.group(2) != address:
            return match.group(0)
        params = [param for param in match.group(3).split() if param != "down"]
        if down:
            params.append("down")
        return match.group(1) + address + "".join(f" {param}" for param in params) + ";"

    return text[: block.start()] + UPSTREAM_SERVER.sub(edit, block.group(0)) + text[block.end() :]


def nginx_pid_file(text: str) -> Path:
    """Where the running nginx keeps its master's pid: the `pid` directive, else Debian's."""
    match = re.search(r"^[ \t]*pid[ \t]+([^\s;]+)[ \t]*;", text, re.M)
    return Path(match.group(1)) if match else Path("/run/nginx.pid")


def child_processes(parent: int) -> set[int]:
    """Pids of the processes whose parent is `parent` (Linux /proc)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (name) state ppid ...": the name may hold spaces and parentheses.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.add(int(entry.name))
    return children


def _ready(address: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{address}/readyz", timeout=2) as answer:  # noqa: S310 - http to an upstream
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class Rolling:
    args: argparse.Namespace
    report: Report
    nginx: str
    text: str  # nginx.conf as it is now

    @property
    def conf(self) -> Path:
        return self.args.nginx_conf

    def master_pid(self) -> int:
        path = self.args.nginx_pid_file or nginx_pid_file(self.text)
        try:
            pid = int(path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            raise RollingStopped(
                f"nginx is not running with {self.conf} (no live pid in {path}); start it "
                f"(nginx -c {self.conf.resolve()}) or pass --nginx-pid-file"
            ) from None
        return pid

    def write_conf(self, text: str) -> None:
        mode = stat.S_IMODE(self.conf.stat().st_mode)
        fd, tmp = tempfile.mkstemp(dir=self.conf.parent, prefix=".nginx.conf.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, self.conf)

    def reload(self, text: str, *, drain: bool) -> float:
        """Write `text` into nginx.conf and reload nginx; with `drain`, wait until every
        nginx worker that ran the old configuration has exited (it holds no connection to
        an instance marked down any more). Returns the seconds the old workers took."""
        import time

        previous = self.text
        self.write_conf(text)
        refusal = nginx_refusal(self.nginx, self.conf)
        if refusal is not None:
            self.write_conf(previous)
            raise RollingStopped(f"nginx -t refuses the edited {self.conf}: {refusal}")
        self.text = text
        master = self.master_pid()
        old_workers = child_processes(master)
        command = [
            part.format(conf=self.conf.resolve(), nginx=self.nginx)
            for part in shlex.split(self.args.nginx_reload_command)
        ]
        done = subprocess.run(  # noqa: S603 - the operator's command
            command, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RollingStopped(
                f"`{shlex.join(command)}` failed: {(done.stderr or done.stdout).strip()[:300]}"
            )
        started = time.monotonic()
        applied = _wait(lambda: bool(child_processes(master) - old_workers), 30)
        if not applied:
            raise RollingStopped(
                f"nginx (pid {master}) started no workers with the new configuration within "
                "30 s; see its error log"
            )
        if drain and not _wait(
            lambda: not (child_processes(master) & old_workers), self.args.drain_seconds
        ):
            self.report.warn(
                f"nginx workers of the old configuration still serve after "
                f"{self.args.drain_seconds:.0f} s (long requests such as event streams)",
                "nothing to do: the instance is stopped gracefully (gunicorn lets running "
                "requests finish) and event-stream clients reconnect",
            )
        return time.monotonic() - started


def restart_instance(rolling: Rolling, address: str) -> None:
    """Drain one instance, restart it, wait until it is ready, put it back."""
    import time

    report = rolling.report
    host, _, port = address.rpartition(":")
    seconds = rolling.reload(with_server_down(rolling.text, address, down=True), drain=True)
    report.changed(
        f"marked down in {rolling.conf}; nginx reloaded and its old workers finished "
        f"({seconds:.1f} s): no request reaches {address}"
    )
    command = [
        part.format(host=host, port=port, address=address)
        for part in shlex.split(rolling.args.restart_command)
    ]
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - the operator's command
        command, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RollingStopped(
            f"`{shlex.join(command)}` failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[:300]}; {address} stays marked down in "
            f"{rolling.conf} while the others serve"
        )
    report.changed(f"restarted: {shlex.join(command)} ({time.monotonic() - started:.1f} s)")
    started = time.monotonic()
    if not _wait(lambda: _ready(address), rolling.args.ready_seconds):
        raise RollingStopped(
            f"{address} does not answer /readyz {rolling.args.ready_seconds:.0f} s after its "
            f"restart (see its log); it stays marked down in {rolling.conf} while the others "
            "serve. When it answers, remove `down` from its line and reload nginx"
        )
    report.ok(f"http://{address}/readyz answers 200 ({time.monotonic() - started:.1f} s)")
    rolling.reload(with_server_down(rolling.text, address, down=False), drain=False)
    report.changed(f"back in {rolling.conf}; nginx reloaded")


def rolling_restart(args: argparse.Namespace) -> int:
    """Restart the web instances of nginx.conf's upstream one at a time (exit code)."""
    report = Report()
    conf = args.nginx_conf
    print(f"Job Application Agent: rolling restart of the web instances in {conf}", flush=True)
    nginx = nginx_binary()
    if nginx is None or not conf.exists():
        print(f"FAILED: {'nginx is not installed' if nginx is None else f'{conf} does not exist'}")
        return 1
    rolling = Rolling(args=args, report=report, nginx=nginx, text=conf.read_text())
    servers = upstream_servers(rolling.text)
    addresses = [address for address, _ in servers]
    print("[check] instances", flush=True)
    if len(servers) < 2:
        report.fail(
            f"upstream agent_app in {conf} lists {len(servers)} instance(s): restarting the "
            "only one leaves nobody to serve",
            "run a second gunicorn (GUNICORN_BIND=127.0.0.1:5001) and add `server "
            "127.0.0.1:5001;` to the upstream block (docs: rolling-restarts.md)",
        )
    for address, down in servers:
        if address.startswith("unix:") or ":" not in address:
            report.fail(
                f"{address}: only host:port instances can be checked",
                "bind each instance to 127.0.0.1:PORT",
            )
        elif down:
            report.fail(
                f"{address} is marked down in {conf}",
                "start it; when it answers /readyz remove `down` and reload nginx",
            )
        elif not _ready(address):
            report.fail(
                f"{address} does not answer /readyz: restarting another instance would leave "
                "too few serving",
                "start it (or take its line out of the upstream block), then run this again",
            )
        else:
            report.ok(f"{address} answers /readyz")
    try:
        if not report.failures:
            report.ok(f"nginx runs (pid {rolling.master_pid()})")
    except RollingStopped as exc:
        report.fail(str(exc), "start nginx with this configuration")
    if report.failures:
        print("NOT RESTARTED: nothing was changed.", flush=True)
        return 1
    for number, address in enumerate(addresses, start=1):
        print(f"[{number}/{len(addresses)}] {address}", flush=True)
        try:
            restart_instance(rolling, address)
        except RollingStopped as exc:
            report.fail(str(exc), "fix it, then run --rolling again")
            print(f"STOPPED at {address}; the instances before it run the new code.", flush=True)
            return 1
    print(f"DONE: {len(addresses)} instances restarted one at a time.", flush=True)
    return 0


STEPS: list[tuple[str, Callable[[Context], None]]] = [
    ("Python version", step_python),
    ("Required packages", step_packages),
    ("Settings (.env)", step_settings),
    ("Folders", step_folders),
    ("PostgreSQL", step_database),
    ("Migrations", step_migrations),
    ("Indexes", step_indexes),
    ("Encrypted data", step_encrypted_data),
    ("Redis", step_redis),
    ("First admin", step_admin),
    ("Backups", step_backups),
    ("File storage", step_storage),
    ("Scheduler", step_scheduler),
    ("Monitoring", step_monitoring),
    ("Browser channel", step_browser),
    ("nginx.conf", step_nginx),
    ("Security audit", step_audit),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deploy_production.py",
        description="Prepare or check a production deployment (docs/deployment.md).",
    )
    parser.add_argument("--check", action="store_true", help="report only; change nothing")
    parser.add_argument(
        "--non-interactive", action="store_true", help="never prompt (for scripts and CI)"
    )
    parser.add_argument(
        "--generate-secrets",
        action="store_true",
        help="write strong JWT_SECRET_KEY and ENCRYPTION_KEY into .env where absent",
    )
    parser.add_argument("--admin-email", help="first admin's email (or DEPLOY_ADMIN_EMAIL)")
    parser.add_argument(
        "--admin-password", help="first admin's password (or DEPLOY_ADMIN_PASSWORD)"
    )
    parser.add_argument(
        "--env-file", type=Path, default=ROOT / ".env", help="settings file (default: .env)"
    )
    parser.add_argument(
        "--nginx-conf", type=Path, default=ROOT / "nginx.conf", help="default: nginx.conf"
    )
    parser.add_argument(
        "--skip-nginx", action="store_true", help="another proxy is used: do not check nginx"
    )
    rolling = parser.add_argument_group(
        "rolling restart", "restart the web instances one at a time (docs: rolling-restarts.md)"
    )
    rolling.add_argument(
        "--rolling",
        action="store_true",
        help="restart each instance of nginx.conf's upstream in turn: drain, restart, ready, back",
    )
    rolling.add_argument(
        "--restart-command",
        help="restarts one instance and returns; {port}, {host}, {address} are filled in "
        "(e.g. 'systemctl restart job-agent-web@{port}')",
    )
    rolling.add_argument(
        "--nginx-reload-command",
        default="{nginx} -s reload -c {conf}",
        help="reloads the running nginx (default: %(default)s)",
    )
    rolling.add_argument(
        "--nginx-pid-file",
        type=Path,
        help="the running nginx's pid file (default: nginx.conf's `pid`, else /run/nginx.pid)",
    )
    rolling.add_argument(
        "--drain-seconds",
        type=float,
        default=150.0,
        help="longest wait for nginx's old workers to finish their requests (default: %(default)s)",
    )
    rolling.add_argument(
        "--ready-seconds",
        type=float,
        default=120.0,
        help="longest wait for a restarted instance's /readyz (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.rolling and not args.restart_command:
        parser.error(
            "--rolling needs --restart-command (e.g. 'systemctl restart job-agent-web@{port}')"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rolling:
        return rolling_restart(args)
    ctx = Context(args=args, report=Report())
    mode = "check only" if args.check else "prepare"
    print(f"Job Application Agent: production deployment ({mode})", flush=True)
    total = len(STEPS)
    for number, (title, step) in enumerate(STEPS, start=1):
        print(f"[{number:>2}/{total}] {title}", flush=True)
        try:
            step(ctx)
        except StepFailed:
            if step in (step_python, step_packages):
                # The later steps import the service: without its packages they cannot run.
                print(f"[stopped] the remaining steps need step {number}", flush=True)
                break
    report = ctx.report
    print("", flush=True)
    print("Summary", flush=True)
    for change in report.changes:
        print(f"  changed: {change}", flush=True)
    for warning in report.warnings:
        print(f"  warning: {warning}", flush=True)
    for failure in report.failures:
        print(f"  FAILED:  {failure}", flush=True)
    if report.failures:
        print(
            f"NOT READY: {len(report.failures)} problem(s) above, each with its fix; "
            "run this again when they are fixed.",
            flush=True,
        )
        return 1
    print("READY. Next:", flush=True)
    print(
        '  1. Web:     gunicorn -c gunicorn.conf.py "server:create_app()"   '
        "(or all-in-one: python server/api_server.py)\n"
        "  2. Workers: python -m server.worker   (one or more, on any machine)\n"
        f"  3. Proxy:   nginx -c {args.nginx_conf.resolve()}   (TLS; TRUSTED_PROXY_COUNT=1)\n"
        "  4. Check:   curl -s https://YOUR-DOMAIN/readyz ; then log in as the admin and\n"
        '              curl -s -H "Authorization: Bearer $TOKEN" '
        "https://YOUR-DOMAIN/api/admin/job-queue/stats",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
