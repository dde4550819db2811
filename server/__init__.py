"""The Job Application Agent server: `create_app()` wires the service together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from apiflask import APIFlask
from werkzeug.routing import Rule

from server.core.config import PROJECT_ROOT, Settings, config_errors_exit, load_settings
from server.core.version import API_TITLE, API_VERSION


class _Rule(Rule):
    """werkzeug's rule, with its URL builders compiled once per process.

    werkzeug compiles two small functions for each rule of each app it builds (most of the
    time `create_app` takes). A builder depends only on the rule's text, its parts and its
    defaults, and takes the rule it builds for as its first argument, so every app of the
    process shares one per rule. A rule with a default for one of its variables is compiled
    as werkzeug does (the default is converted into the code).
    """

    _builders: ClassVar[dict[tuple, Any]] = {}

    def _compile_builder(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(dynamic and name in defaults for dynamic, name in self._trace):
            return super()._compile_builder(append_unknown)
        key = (
            self.rule,
            self.subdomain,
            self.host,
            tuple(self._trace),
            tuple(sorted(defaults)),
            append_unknown,
        )
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders.setdefault(key, super()._compile_builder(append_unknown))
        return builder


class App(APIFlask):
    """The service's app: Flask, with the sync/async check of each hook and view made once.

    Flask asks `inspect.iscoroutinefunction` of every before/after/teardown hook and of the
    view on every request (some fifteen calls per request here); the answer never changes
    for a function, so it is kept.
    """

    _MAX_KEPT = 4096
    url_rule_class = _Rule

    def ensure_sync(self, func):
        kept = self.__dict__.setdefault("_sync_functions", {})
        try:
            return kept[func]
        except KeyError:
            sync = super().ensure_sync(func)
            if len(kept) < self._MAX_KEPT:
                kept[func] = sync
            return sync
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> App:
    """Build the app. Starts no threads and does no network I/O.

    `config` is a `Settings`, or a mapping of Flask config keys and `Settings` field overrides.
    """
    import server.workers.applicant_handlers  # noqa: F401 - the handlers register their job types
    import server.workers.job_handlers  # noqa: F401
    from server import cli, rate_limiter, schemas, security_manager
    from server.core import errors, logging_config, metrics, redis_client
    from server.core.extensions import db, migrate
    from server.ops import database_optimizer
    from server.security_manager import auth
    from server.web import fast_path, openapi, request_gate, request_hooks
    from server.web.routes import (
        admin,
        applications,
        health,
        jobs,
        pages,
        projects,
        tailored_resumes,
        user,
    )
    from server.web.routes import auth as auth_routes
    from server.web.routes import metrics as metrics_routes
    from server.web.routes import postings as postings_routes

    settings, flask_overrides = _resolve_settings(config)
    app = App(
        __name__,
        title=API_TITLE,
        version=API_VERSION,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
        docs_oauth2_redirect_path="/api/docs/oauth2-redirect",
        instance_path=str(settings.instance_dir),
    )
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.jwt_secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=database_optimizer.engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        TESTING=settings.is_testing,
        DEBUG=False,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_overrides)

    errors.init_app(app)
    metrics.init_app(app)  # first: times the whole request, refusals included
    schemas.init_app(app)
    fast_path.init_app(app)  # innermost WSGI layer: the polled reads below Flask
    request_hooks.init_app(app)
    security_manager.init_app(app, defer_error_signal=request_gate.defer_error_signal)
    logging_config.init_app(app)
    db.init_app(app)
    database_optimizer.init_app(app)  # pool per process, slow-query timing, pool gauges
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    redis_client.init_app(app)
    auth.init_app(app)
    rate_limiter.init_app(
        app,
        client_subject=request_hooks.client_subject,
        exempt_endpoints=health.PROBE_ENDPOINTS,
    )
    # IP block, token, session state and limits: one round trip
    request_gate.init_app(app, exempt_endpoints=health.PROBE_ENDPOINTS)
    openapi.init_app(app)
    cli.init_app(app)
    app.register_blueprint(metrics_routes.bp)  # GET /metrics

    app.register_blueprint(health.bp)
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(user.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(projects.bp)
    app.register_blueprint(applications.bp)
    app.register_blueprint(postings_routes.bp)
    app.register_blueprint(tailored_resumes.bp)
    return app


def _resolve_settings(config) -> tuple[Settings, dict[str, Any]]:
    if isinstance(config, Settings):
        return config, {}
    with config_errors_exit():  # the `flask` CLI and gunicorn: one line and exit code 2
        settings = load_settings()
    if not config:
        return settings, {}
    fields = set(Settings.model_fields)
    overrides = {k: v for k, v in config.items() if k in fields}
    flask_keys = {k: v for k, v in config.items() if k not in fields}
    return settings.replace(**overrides), flask_keys
