"""Fixtures: a real PostgreSQL database migrated once per run, real Redis, per-test isolation.

TEST_DATABASE_URL and TEST_REDIS_URL choose the servers (defaults: the local PostgreSQL's
`job_agent_test` database and Redis database 15). Every test starts with empty tables and an
empty Redis database.

Under pytest-xdist (`make test` runs `-n 4`) each worker has a database and a Redis database of
its own, so workers never see each other's rows or keys: worker `gwN` uses `<name>_gwN` (created
by `ensure_database`) and Redis database `<number> + N` (counting down instead when that would
pass 15, Redis's last database by default).
"""

from __future__ import annotations

import gc
import getpass
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server import create_app
from server.core.config import Settings, normalise_database_url
from server.core.extensions import db
from tests.helpers import ApiClient

# Fixtures shared by the queue tests (`run_pool`).
pytest_plugins = ["tests.queue_helpers"]

# "gw0", "gw1", ... in a pytest-xdist worker; empty when the tests run in one process.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_LAST_DATABASE = 15


def worker_database_url(url: str, worker: str) -> str:
    """The database a worker uses: `<name>_<worker>` beside the one named (itself alone)."""
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


def worker_redis_url(url: str, worker: str) -> str:
    """The Redis database a worker uses: the one named plus the worker's number (minus it,
    when plus would go past the last database)."""
    if not worker:
        return url
    parts = urlsplit(url)
    named = int(parts.path.strip("/") or 0)
    index = int(worker.removeprefix("gw"))
    chosen = named + index if named + index <= REDIS_LAST_DATABASE else named - index
    if chosen < 0:
        raise RuntimeError(f"no Redis database left for xdist worker {worker} from {url}")
    return urlunsplit(parts._replace(path=f"/{chosen}"))


TEST_DATABASE_URL = worker_database_url(
    normalise_database_url(
        os.environ.get(
            "TEST_DATABASE_URL", f"postgresql://{getpass.getuser()}@127.0.0.1:5432/job_agent_test"
        )
    ),
    XDIST_WORKER,
)
TEST_REDIS_URL = worker_redis_url(
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), XDIST_WORKER
)
TEST_JWT_SECRET = "test-jwt-secret-" + "x" * 40


def ensure_database(url: str) -> None:
    """Create the test database if it does not exist yet."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def reset_schema(url: str) -> None:
    """Drop everything in the public schema, so the migrations run from empty."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# Figure lines the evaluation (tests/eval) prints under "evaluation" when the run ends.
EVALUATION_FIGURES: list[str] = []


def pytest_sessionfinish(session):
    """In an xdist worker: hand the evaluation's lines to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["evaluation_figures"] = list(EVALUATION_FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """In the xdist controller: a worker is done; keep the evaluation lines it sent."""
    EVALUATION_FIGURES.extend(getattr(node, "workeroutput", {}).get("evaluation_figures", []))


def pytest_terminal_summary(terminalreporter):
    if EVALUATION_FIGURES:
        terminalreporter.section("evaluation")
        for line in EVALUATION_FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_finish(session):
    """What is loaded by now (the service, the libraries, the test modules) lives as long as
    the process: the collector leaves it alone, and collects less often. The tests create
    and drop many short-lived objects; at the default thresholds a sixth of the run's CPU
    went to full collections of a heap that hardly changes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# Seconds each unit of work took in a recent run (`make test-durations` writes it): a test
# file, or an `xdist_group` of its own. `make test` starts the longest units first.
UNIT_DURATIONS_FILE = Path(__file__).with_name("unit_durations.json")
# A file that took longer is split into one unit per test function.
SPLIT_FILE_SECONDS = 40.0


def pytest_addoption(parser):
    parser.addoption(
        "--record-unit-durations",
        metavar="PATH",
        help="write the seconds each test file (or xdist group) took to PATH, as JSON",
    )


def pytest_configure(config):
    # The controller sends the units in the order the collection gives them (longest first,
    # below), not by their number of tests.
    if getattr(config.option, "dist", None) == "loadgroup":
        config.option.loadscopereorder = False


def unit_of(nodeid: str) -> str:
    """`path::test@unit` -> `unit`; `path::test` -> `path`."""
    return nodeid.rpartition("@")[2] if "@" in nodeid else nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup`: a test file is a unit of work that one worker runs, apart from the
    tests of an `xdist_group`, which are a unit of their own. The units run longest first.

    Each test is named `<node id>@<unit>`, as pytest-xdist 3.8 means to name a group's tests
    (it sets `_nodeid`, which pytest 9 no longer reads). A file's tests share its fixtures on
    one worker, and the tests that mostly wait (for leases, timeouts, other processes) run
    beside files that compute, not beside each other. The order of the tests within a file
    is pytest-randomly's."""
    if not getattr(config.option, "loadgroup", False):
        return
    import json

    from _pytest.nodeid import coerce_node_id

    try:
        seconds = json.loads(UNIT_DURATIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seconds = {}

    def file_seconds(path: str) -> float:
        """A file's seconds, whole or as the sum of its functions' (a file run split)."""
        return seconds.get(path) or sum(
            value for unit, value in seconds.items() if unit.startswith(f"{path}::")
        )

    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        path = item.nodeid.split("::", 1)[0]
        if groups:
            unit = "_".join(sorted(groups))
        elif file_seconds(path) > SPLIT_FILE_SECONDS:
            # A long file would be the last to finish: each test function (with all its
            # parameters) is a unit.
            unit = f"{path}::{getattr(item, 'originalname', item.name)}"
        else:
            unit = path
        if "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{unit}")
        units.setdefault(unit_of(item.nodeid), []).append(item)

    def unit_seconds(unit: str) -> float:
        if unit in seconds:
            return seconds[unit]
        path = unit.split("::", 1)[0]
        in_file = [i for i in items if i.nodeid.startswith(f"{path}::")]
        if "::" in unit and file_seconds(path):  # a share of the file's time
            return file_seconds(path) * len(units[unit]) / len(in_file)
        # Not measured yet: as long as its tests took on average.
        return sum(seconds.values()) / max(1, len(items)) * len(units[unit])

    order = sorted(units, key=lambda unit: -unit_seconds(unit))
    items[:] = [item for unit in order for item in units[unit]]


_unit_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    _unit_seconds[unit_of(report.nodeid)] = (
        _unit_seconds.get(unit_of(report.nodeid), 0.0) + report.duration
    )


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    path = config.getoption("record_unit_durations", None)
    if path and not hasattr(config, "workerinput") and _unit_seconds:
        import json

        ordered = dict(sorted(_unit_seconds.items(), key=lambda kv: (-kv[1], kv[0])))
        rounded = {unit: round(value, 1) for unit, value in ordered.items()}
        Path(path).write_text(json.dumps(rounded, indent=1) + "\n", encoding="utf-8")


LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@pytest.fixture(scope="session", autouse=True)
def _no_name_lookups_beyond_this_machine():
    """No test reaches the internet: resolving any name but localhost fails at once.

    Address literals resolve as usual (no lookup is made for them), so code under test still
    decides for itself which addresses it may connect to.
    """
    import ipaddress
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name.lower().rstrip(".") not in LOCAL_NAMES:
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                raise socket.gaierror(
                    socket.EAI_NONAME, f"test network guard: no name lookup for {name!r}"
                ) from None
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory) -> Settings:
    root: Path = tmp_path_factory.mktemp("instance")
    return Settings(
        env="testing",
        instance_dir=root,
        log_dir=root / "logs",
        log_to_stdout=False,
        database_url=TEST_DATABASE_URL,
        database_is_default=False,
        redis_url=TEST_REDIS_URL,
        jwt_secret_key=TEST_JWT_SECRET,
        encryption_key=Fernet.generate_key().decode(),
        bcrypt_rounds=4,
        auto_migrate=False,
    )


@pytest.fixture(scope="session")
def migrated_database(base_settings) -> str:
    """The test database, migrated from empty to head once per run."""
    from flask_migrate import upgrade

    ensure_database(TEST_DATABASE_URL)
    reset_schema(TEST_DATABASE_URL)
    app = create_app(base_settings)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return TEST_DATABASE_URL


@pytest.fixture
def settings(base_settings, migrated_database) -> Settings:
    """Settings for one test; override fields with `settings.replace(...)`."""
    return base_settings


@pytest.fixture
def redis_conn() -> redis.Redis:
    conn = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def _isolated_state(request):
    """Empty Redis before, empty tables after: each test sees a clean world.

    The queue's state marker and the security cache's marker are there, as a running service
    has them: a test that wants Redis to have lost its data flushes it itself.
    """
    from server.core import outages
    from server.jobs.job_queue import STATE_KEY
    from server.models import utcnow
    from server.security_manager import security_cache

    needs_state = any(
        name in request.fixturenames for name in ("settings", "app", "client", "redis_conn")
    )
    if not needs_state:
        yield
        return
    conn = redis.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    conn.set(STATE_KEY, "tests")
    # The security records' copy is whole (the tables are empty), as a running service's is.
    conn.set(security_cache.CACHE_READY_KEY, utcnow().isoformat())
    yield
    conn.flushdb()
    conn.close()
    # An outage a test staged is over for the next one (the process's logs are per dependency).
    outages._logs.clear()
    if "migrated_database" in request.fixturenames or "settings" in request.fixturenames:
        truncate_all_tables(TEST_DATABASE_URL)


_TRUNCATE_ENGINES: dict[str, object] = {}
# The id sequences of the models' tables that have handed out a value since they were last
# restarted (pg_sequences shows NULL for one that has not).
_USED_SEQUENCES = text(
    """
    SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename)
    FROM pg_sequences s
    JOIN pg_class seq ON seq.relname = s.sequencename
    JOIN pg_namespace ns ON ns.oid = seq.relnamespace AND ns.nspname = s.schemaname
    JOIN pg_depend d ON d.objid = seq.oid AND d.classid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i')
    JOIN pg_class owner ON owner.oid = d.refobjid
    WHERE s.last_value IS NOT NULL AND owner.relname = ANY(:tables)
    """
)


def truncate_all_tables(url: str) -> None:
    """Empty the models' tables and restart their id sequences, as `TRUNCATE all RESTART
    IDENTITY` would, touching only what a test used: the tables that hold rows (a DELETE of a
    few rows) and the sequences that handed out ids (a TRUNCATE of every table costs about half
    a second a test)."""
    engine = _TRUNCATE_ENGINES.get(url)
    if engine is None:
        # One connection kept for the whole run (checked before each use: a test may have
        # terminated it).
        engine = _TRUNCATE_ENGINES[url] = create_engine(
            url, pool_size=1, max_overflow=0, pool_pre_ping=True
        )
    tables = [t.name for t in db.metadata.sorted_tables]
    if not tables:
        return
    holding_rows = text(
        " UNION ALL ".join(
            f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")"  # noqa: S608 - model names
            for name in tables
        )
    )
    with engine.begin() as conn:
        # As TRUNCATE does, wait for every transaction still writing to them (a worker thread
        # or process that is finishing), and keep new writers out until the tables are empty.
        everything = ", ".join(f'"{name}"' for name in tables)
        conn.execute(text(f"LOCK TABLE {everything} IN SHARE MODE"))
        filled = conn.scalars(holding_rows).all()
        # Referencing tables first, so no row is left pointing at a deleted one.
        for name in reversed(tables):
            if name in filled:
                conn.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608 - a model's table
        for sequence in conn.scalars(_USED_SEQUENCES, {"tables": tables}).all():
            conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))


@pytest.fixture
def make_app(settings):
    """Build extra apps with setting overrides; each is torn down after the test."""
    apps = []

    def build(**overrides):
        app = create_app(settings.replace(**overrides) if overrides else settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app) -> ApiClient:
    return ApiClient(app.test_client())


class CapturedMail:
    """Messages the SMTP stand-in received.

    `reply_delays`: seconds the server waits, after storing each next message, before its
    final reply (a slow server that has the message already).
    """

    def __init__(self):
        self.messages = []
        self.reply_delays: list[float] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        import asyncio
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        if self.reply_delays:
            await asyncio.sleep(self.reply_delays.pop(0))
        return "250 Message accepted for delivery"

    def bodies_to(self, address: str) -> list[str]:
        return [m.get_content() for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailbox = CapturedMail()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.port = port
    yield mailbox
    controller.stop()


@pytest.fixture
def deliver_mail(run_pool):
    """Run an app's queued mail jobs with a worker pool; returns once none is left to run."""
    from sqlalchemy import func, select

    from server.models import Job
    from server.models.job import TERMINAL_STATUSES
    from server.services.accounts import MAIL_JOB
    from tests.queue_helpers import wait_for

    pools = {}

    def open_mail_jobs() -> int:
        db.session.rollback()
        return db.session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.job_type == MAIL_JOB, Job.status.not_in(TERMINAL_STATUSES))
        )

    def deliver(app) -> None:
        if app not in pools:
            pools[app] = run_pool(app, threads=1)
        with app.app_context():
            wait_for(lambda: open_mail_jobs() == 0)

    return deliver


@pytest.fixture
def mail_app(make_app, smtp_server):
    """An app that sends mail to the SMTP stand-in."""
    app = make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_use_tls=False)
    with app.app_context():
        yield app


@pytest.fixture
def mail_client(mail_app) -> ApiClient:
    return ApiClient(mail_app.test_client())
