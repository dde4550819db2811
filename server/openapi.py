"""OpenAPI document details: the bearer scheme and which operations need it; the docs page's
Swagger UI files, served from the pinned `flask-swagger-ui` package so the page works offline."""

from __future__ import annotations

import re
from importlib.resources import files

from apiflask import APIFlask
from flask import Blueprint, send_from_directory

from server.auth import auth_mode, public
from server.errors import NotFound

DOCS_ASSETS_PATH = "/api/docs/assets"
# Swagger UI's dist folder as the package ships it (its version is in dist/VERSION).
SWAGGER_UI_DIST = files("flask_swagger_ui") / "dist"
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }
)

# A plain Flask blueprint: the OpenAPI document leaves it out.
docs_assets = Blueprint("docs_assets", __name__, url_prefix=DOCS_ASSETS_PATH)


@docs_assets.get("/<name>")
@public
def docs_asset(name: str):
    """One of Swagger UI's files, for the docs page."""
    if name not in DOCS_ASSETS:
        raise NotFound(resource="docs_asset")
    return send_from_directory(str(SWAGGER_UI_DIST), name, max_age=86400)


_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Missing, invalid, expired or revoked token",
    403: "Forbidden (wrong role, or the client address is blocked: code `ip_blocked`)",
    404: "Not found",
    413: "Request body too large",
    415: "The body is not declared as JSON (send Content-Type: application/json)",
    422: "Invalid input",
    429: "A rate limit was reached (see Retry-After and the RateLimit headers)",
    503: "Overloaded (load shedding) or a backing service is unavailable; see Retry-After",
}


def _document_common_errors(operation: dict, mode: str, has_path_args: bool, is_api: bool) -> None:
    """Every operation can answer these; say so, so clients and fuzzers know the shape."""
    statuses = {403}  # any address may be blocked
    if is_api:  # request limits and load shedding apply to every /api request
        statuses.update({429, 503})
    if mode != "public":
        statuses.add(401)
    if has_path_args:
        statuses.update({404, 422})
    if "requestBody" in operation:
        statuses.update({400, 413, 415, 422})
    if operation.get("parameters"):
        statuses.add(422)
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": _DESCRIPTIONS[status], "content": _ERROR})


def init_app(app: APIFlask) -> None:
    """Declare bearer auth, mark each operation public or protected, serve the docs' files."""
    app.config.update(
        SWAGGER_UI_CSS=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{DOCS_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{DOCS_ASSETS_PATH}/favicon-32x32.png",
    )
    app.register_blueprint(docs_assets)
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
                _document_common_errors(
                    operation, mode, bool(rule.arguments), rule.rule.startswith("/api/")
                )
                if mode == "admin":
                    operation.setdefault("description", "Requires the admin role.")
        return spec
