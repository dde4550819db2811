"""OpenAPI document details: the bearer scheme and which operations need it."""

from __future__ import annotations

import re

from apiflask import APIFlask

from server.auth import auth_mode

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def init_app(app: APIFlask) -> None:
    """Declare bearer auth and mark each operation public or protected."""
    app.security_schemes = {
        "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }

    @app.spec_processor
    def _mark_security(spec: dict) -> dict:
        for rule in app.url_map.iter_rules():
            path = _CONVERTER.sub(r"{\1}", rule.rule)
            operations = spec.get("paths", {}).get(path, {})
            mode = auth_mode(app, rule.endpoint)
            for method in rule.methods or ():
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                operation["security"] = [] if mode == "public" else [{"BearerAuth": []}]
                if mode == "admin":
                    operation.setdefault("description", "Requires the admin role.")
        return spec
