"""LLM engines: Gemini and the offline local engine, behind one task interface.

`get_engine()` picks Gemini when `GOOGLE_API_KEY` is set and the local engine otherwise.
google-genai is imported only when a key is set.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app

from server.agent.engines.base import Engine, EngineError
from server.agent.engines.local import LocalEngine
from server.core.config import Settings
from server.core.redis_client import get_redis

_EXTENSION_KEY = "llm_engine"
_lock = threading.Lock()


def build_engine(settings: Settings, *, app: Flask) -> Engine:
    """The engine the settings ask for: Gemini with a key, else the local engine."""
    if settings.google_api_key:
        from server.agent.engines.gemini import GeminiEngine

        return GeminiEngine(settings=settings, redis_conn=get_redis(app))
    return LocalEngine()


def engine_in_use(settings: Settings) -> dict[str, str]:
    """The engine `build_engine` picks for these settings (`name`, `model`), without building it."""
    if settings.google_api_key:
        return {"name": "gemini", "model": settings.gemini_model}
    return {"name": LocalEngine.name, "model": LocalEngine.model}


def get_engine(app: Flask | None = None) -> Engine:
    """This app's engine in this process (built once, like the Redis client)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    pid = os.getpid()
    holder = app.extensions.get(_EXTENSION_KEY)
    if holder is None or holder["pid"] != pid:
        with _lock:
            holder = app.extensions.get(_EXTENSION_KEY)
            if holder is None or holder["pid"] != pid:
                engine = build_engine(app.config["SETTINGS"], app=app)
                holder = app.extensions[_EXTENSION_KEY] = {"pid": pid, "engine": engine}
    return holder["engine"]


__all__ = ["Engine", "EngineError", "LocalEngine", "build_engine", "engine_in_use", "get_engine"]
