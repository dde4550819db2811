"""Log files: who may read them."""

import logging
import os
import stat

import pytest

from server.core.logging_config import SECURITY_LOGGER, configure_logging


@pytest.fixture
def permissive_umask():
    """The loosest umask a service could be started with."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def fresh_log_dir(tmp_path):
    """A log folder that does not exist yet; its handlers are detached afterwards."""
    log_dir = tmp_path / "var" / "logs"
    yield log_dir
    for name in ("server", SECURITY_LOGGER):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if str(getattr(handler, "baseFilename", "")).startswith(str(tmp_path)):
                logger.removeHandler(handler)
                handler.close()


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_files_and_their_folder_are_not_world_readable(
    base_settings, fresh_log_dir, permissive_umask
):
    configure_logging(base_settings.replace(log_dir=fresh_log_dir))
    logging.getLogger("server.test").warning("a line")
    assert mode_of(fresh_log_dir) == 0o750
    for name in ("api_server.log", "security.log"):
        assert mode_of(fresh_log_dir / name) == 0o640, name


def test_an_older_world_readable_log_file_is_narrowed(base_settings, fresh_log_dir):
    fresh_log_dir.mkdir(parents=True)
    old = fresh_log_dir / "security.log"
    old.write_text("{}\n")
    old.chmod(0o644)
    configure_logging(base_settings.replace(log_dir=fresh_log_dir))
    assert mode_of(old) == 0o640
    assert old.read_text() == "{}\n"


def _access_lines(log_dir) -> list[dict]:
    import json

    lines = (log_dir / "api_server.log").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["logger"] == "server.access"]


def test_each_request_writes_one_access_line_with_its_fields(make_app, fresh_log_dir):
    from datetime import datetime

    app = make_app(log_dir=fresh_log_dir)
    client = app.test_client()
    answer = client.get("/api/nothing-here", headers={"X-Request-ID": "req-1"})
    assert answer.status_code == 404
    (entry,) = _access_lines(fresh_log_dir)
    assert list(entry) == [
        "time",
        "level",
        "logger",
        "message",
        "method",
        "path",
        "status",
        "duration_ms",
        "user_id",
        "client_ip",
        "request_id",
    ]
    assert entry["level"] == "INFO" and entry["message"] == "request"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/nothing-here", 404)
    assert entry["user_id"] is None and entry["client_ip"] == "127.0.0.1"
    assert entry["request_id"] == "req-1" and entry["duration_ms"] >= 0
    stamp = datetime.fromisoformat(entry["time"])
    assert stamp.utcoffset().total_seconds() == 0 and entry["time"].endswith("+00:00")
    assert len(entry["time"].split(".")[1]) == len("123+00:00")


def test_an_access_line_reaches_a_handler_added_by_an_operator(make_app, fresh_log_dir):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    server_logger = logging.getLogger("server")
    app = make_app(log_dir=fresh_log_dir)
    server_logger.addHandler(keep)
    try:
        app.test_client().get("/api/nothing-here")
    finally:
        server_logger.removeHandler(keep)
    access = [r for r in records if r.name == "server.access"]
    assert len(access) == 1 and access[0].path == "/api/nothing-here"
    assert len(_access_lines(fresh_log_dir)) == 1  # and the file still has its line


def test_a_full_log_file_rolls_over_even_between_size_checks(base_settings, fresh_log_dir):
    configure_logging(base_settings.replace(log_dir=fresh_log_dir))
    (handler,) = [
        h
        for h in logging.getLogger("server").handlers
        if str(getattr(h, "baseFilename", "")).startswith(str(fresh_log_dir))
    ]
    handler.maxBytes = 2000
    for _ in range(40):
        logging.getLogger("server.test").warning("x" * 100)
    assert (fresh_log_dir / "api_server.log.1").exists()
    assert (fresh_log_dir / "api_server.log").stat().st_size < 2000
