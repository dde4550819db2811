"""Structured JSON logging: the access log, the application log and the security log."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from typing import Any

import orjson
from flask import Flask, g, request

from server.core.config import Settings

ACCESS_LOGGER = "server.access"
# When a layer in front of Flask began on the request (`time.perf_counter()`): the fast path
# (`server.web.fast_path`) sets it on a request it hands to Flask, so its part is timed too.
STARTED_KEY = "server.request_started"
SECURITY_LOGGER = "security"
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Values json.dumps(default=str) would write as str(value), as orjson then does too.
_AS_JSON_DUMPS_WOULD = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

# The job a worker thread is running: stamped on every log line written while it runs.
current_job_id: ContextVar[str | None] = ContextVar("current_job_id", default=None)


class JobIdFilter(logging.Filter):
    """Add the running job's id to records that do not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = current_job_id.get()
        if job_id is not None and not hasattr(record, "job_id"):
            record.job_id = job_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields passed with `extra=` become keys.

    orjson (json.dumps where orjson cannot: an integer wider than 64 bits) escapes CR and LF
    inside strings, and NEL and the Unicode line and paragraph separators are escaped too, so
    user data cannot forge a log line. A record's line is made once and
    kept on the record, for every handler that writes it.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = record.__dict__.get("_json_line")
        if line is not None:
            return line
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = record._json_line = _json_line(entry)
        return line


# Line breaks JSON leaves as they are inside strings, but that a line-oriented reader (Python's
# splitlines, some log viewers) takes for the end of a line: written as escapes, so user data
# cannot forge a line for those readers either.
_LINE_BREAKS_JSON_KEEPS = str.maketrans(
    {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _json_line(entry: dict) -> str:
    try:
        line = orjson.dumps(entry, default=str, option=_AS_JSON_DUMPS_WOULD).decode()
    except (orjson.JSONEncodeError, TypeError):
        line = json.dumps(entry, default=str, ensure_ascii=False)
    return line.translate(_LINE_BREAKS_JSON_KEEPS)


# Logs name users, addresses and request paths: the owner writes, the group (log shippers)
# reads, nobody else does, whatever the process's umask.
LOG_FILE_MODE = 0o640
LOG_DIR_MODE = 0o750


# How often a log file's size is asked of the file system (other processes append to it too):
# at most once a second, and whenever this process's own lines could have filled it.
ROLLOVER_CHECK_SECONDS = 1.0


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log file created 0640 (and narrowed to it when an older file is looser).

    Whether the file is a regular one (only those roll over) is noted when it is opened, not
    asked of the file system for every record as the standard library does; its size is
    asked at most once a second (`ROLLOVER_CHECK_SECONDS`) unless this process's own lines
    since could reach `maxBytes`, so a file overshoots by at most a second of the other
    processes' lines.
    """

    _regular_file = True
    _known_size = 0  # the file's size when last asked, plus what this process wrote since
    _next_check = 0.0

    def _open(self):
        stream = open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, LOG_FILE_MODE),
        )
        status = os.fstat(stream.fileno())
        os.fchmod(stream.fileno(), status.st_mode & LOG_FILE_MODE)
        self._regular_file = stat.S_ISREG(status.st_mode)
        return stream

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - stdlib name
        return self._full_after(len(self.format(record)) + 1)

    def _full_after(self, size: int) -> bool:
        """Whether writing `size` more characters should roll the file over first."""
        if self.stream is None:
            self.stream = self._open()
            self._next_check = 0.0
        if self.maxBytes <= 0 or not self._regular_file:
            return False
        now = time.monotonic()
        if now >= self._next_check or self._known_size + size >= self.maxBytes:
            self.stream.seek(0, 2)  # the end, where other processes may have written too
            self._known_size = self.stream.tell()
            self._next_check = now + ROLLOVER_CHECK_SECONDS
            if self._known_size + size >= self.maxBytes:
                return True
        self._known_size += size
        return False

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        super().doRollover()
        self._known_size = 0
        self._next_check = 0.0


def _make_log_dir(path) -> None:
    if not path.exists():
        # Only a folder made here is narrowed: LOG_DIR may name a shared one such as /var/log.
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(LOG_DIR_MODE)


_configured_dirs: set[str] = set()


def configure_logging(settings: Settings) -> None:
    """Attach JSON handlers once per process and log directory."""
    key = str(settings.log_dir)
    if key in _configured_dirs:
        return
    _configured_dirs.add(key)
    _make_log_dir(settings.log_dir)
    formatter = JsonFormatter()
    job_ids = JobIdFilter()

    app_handler = PrivateRotatingFileHandler(
        settings.log_dir / "api_server.log", maxBytes=10 * 1024 * 1024, backupCount=5
    )
    app_handler.setFormatter(formatter)
    app_handler.addFilter(job_ids)
    server_logger = logging.getLogger("server")
    server_logger.setLevel(logging.INFO)
    server_logger.addHandler(app_handler)
    if settings.log_to_stdout:
        stdout = logging.StreamHandler(sys.stdout)
        stdout.setFormatter(formatter)
        stdout.addFilter(job_ids)
        server_logger.addHandler(stdout)
    server_logger.propagate = False

    security_handler = PrivateRotatingFileHandler(
        settings.log_dir / "security.log", maxBytes=10 * 1024 * 1024, backupCount=10
    )
    security_handler.setFormatter(formatter)
    security_logger = logging.getLogger(SECURITY_LOGGER)
    security_logger.setLevel(logging.INFO)
    security_logger.addHandler(security_handler)
    security_logger.propagate = False


def _plain_handlers(logger: logging.Logger) -> list[logging.Handler] | None:
    """The handlers an INFO record of `logger` reaches, when each is one of ours (a JSON file
    or stream with no filter but `JobIdFilter`, and no logger on the way filters): those can
    be handed a finished line. None when any other handler or filter is involved."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.disabled or current.filters:
            return None
        for handler in current.handlers:
            if (
                type(handler) not in _LINE_HANDLERS
                or handler.level > logging.INFO
                or type(handler.formatter) is not JsonFormatter
                or any(type(f) is not JobIdFilter for f in handler.filters)
            ):
                return None
            handlers.append(handler)
        if not current.propagate:
            break
        current = current.parent  # type: ignore[assignment]
    return handlers


_LINE_HANDLERS = (PrivateRotatingFileHandler, logging.StreamHandler)
_clock_second = -1
_clock_prefix = ""


def _timestamp(now: float) -> str:
    """`JsonFormatter`'s time (ISO 8601 in UTC, milliseconds), the date part made once a
    second."""
    global _clock_second, _clock_prefix
    second = int(now)
    if second != _clock_second:
        _clock_prefix = datetime.fromtimestamp(second, UTC).isoformat()[:19]
        _clock_second = second
    return f"{_clock_prefix}.{int((now - second) * 1000):03d}+00:00"


def _write_line(handler: logging.Handler, line: str) -> bool:
    """Write a finished line as `handler.emit` would; False when it failed (the caller then
    logs the record the usual way, which reports the failure)."""
    handler.acquire()
    try:
        if isinstance(handler, PrivateRotatingFileHandler):
            if handler._full_after(len(line) + 1):
                handler.doRollover()
        stream = handler.stream  # type: ignore[attr-defined]
        stream.write(line + "\n")
        stream.flush()
    except Exception:  # noqa: BLE001 - reported by the usual path
        return False
    finally:
        handler.release()
    return True


def init_app(app: Flask) -> None:
    """Log one structured line per request."""
    configure_logging(app.config["SETTINGS"])
    access = logging.getLogger(ACCESS_LOGGER)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = request.environ.get(STARTED_KEY) or time.perf_counter()

    @app.after_request
    def _log_request(response):
        if not access.isEnabledFor(logging.INFO):
            return response
        started = g.get("request_started")
        log_access(
            access,
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
            user_id=g.get("user_id"),
            client_ip=request.remote_addr,
            request_id=g.get("request_id"),
        )
        return response


def access_logger() -> logging.Logger:
    """The logger of the one line per request."""
    return logging.getLogger(ACCESS_LOGGER)


def log_access(access: logging.Logger, **fields: Any) -> None:
    """Write one request's access-log line (fields: method, path, status, duration_ms,
    user_id, client_ip, request_id)."""
    handlers = _plain_handlers(access) if current_job_id.get() is None else None
    if handlers:
        # The line `JsonFormatter` would write, made here and handed to the handlers:
        # a record, its formatting and the logging machinery cost more than the view.
        entry = {
            "time": _timestamp(time.time()),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": "request",
            **fields,
        }
        line = _json_line(entry)
        handlers = [h for h in handlers if not _write_line(h, line)]
        if not handlers:
            return
    # Built and handed over directly: `Logger.info` would also walk the stack to find
    # the caller's file and line, which the access log does not write.
    record = access.makeRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        0,
        "request",
        (),
        None,
        extra=fields,
    )
    if handlers:  # the handlers that failed to take the line report it the usual way
        for handler in handlers:
            handler.handle(record)
    else:
        access.handle(record)
