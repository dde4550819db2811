"""Log files: who may read them."""

import logging
import os
import stat

import pytest

from server.logging_config import SECURITY_LOGGER, configure_logging


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
