"""Blueprints. Views parse input, call one service function and serialise the result."""

from flask import current_app

from server.config import Settings


def app_settings() -> Settings:
    """The typed settings of the running app."""
    return current_app.config["SETTINGS"]
