"""The OpenAPI document: what APIFlask derives from the routes and schemas, completed.

APIFlask builds paths, parameters and schemas; this module adds what it cannot know: the
server URL (from configuration, never from a request), the security scheme of each
operation, the errors and headers every operation can answer with, which bodies are
required, the union of job submissions, limits taken from the settings, one component per
schema class and one named enum per shared closed set. It also serves the docs page's Swagger
UI files from the pinned `flask-swagger-ui` package, so the page works offline.
"""

from __future__ import annotations

import copy
import re
from importlib.resources import files
from typing import Any

from apiflask import APIFlask
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, send_from_directory

from server.core.errors import NotFound
from server.schemas.auth import ROLES
from server.schemas.jobs import (
    JOB_SUBMISSION_SCHEMAS,
    PRIORITY_NAMES,
    PUBLIC_JOB_TYPES,
    STATUS_NAMES,
)
from server.security_manager.auth import auth_mode, public
from server.services.credentials import KNOWN_SERVICES

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
_UUID_ARGUMENT = re.compile(r"<uuid:([a-zA-Z_][a-zA-Z0-9_]*)>")
_SCHEMAS = "#/components/schemas/"
_ERROR = {"application/json": {"schema": {"$ref": _SCHEMAS + "ErrorResponse"}}}
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


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS = {
    "X-Request-ID": {
        **_header("This request's id (the client's `X-Request-ID` when it sent a valid one)"),
        "required": True,
    },
    "Retry-After": _header(
        "Seconds to wait before trying again (on a 403, only when the address is blocked)",
        {"type": "integer"},
    ),
    "RateLimit-Policy": _header("Every limit this request counted against (IETF draft)"),
    "RateLimit": _header("The most constraining limit: remaining and reset (IETF draft)"),
    "X-RateLimit-Limit": _header("The most constraining limit's size", {"type": "integer"}),
    "X-RateLimit-Remaining": _header("Requests left in its window", {"type": "integer"}),
    "X-RateLimit-Reset": _header("Seconds until it frees capacity", {"type": "integer"}),
    "Location": _header("The URL of the job's status", {"type": "string", "format": "uri"}),
    "Content-Disposition": _header("`attachment` with the file name as uploaded"),
}
_RATE_LIMIT_HEADERS = (
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retried submit with the same key returns the same job; the same key "
    "with a different body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
# Request fields that set a new password: their minimum comes from PASSWORD_MIN_LENGTH.
NEW_PASSWORD_FIELDS = {
    "RegisterIn": "password",
    "PasswordChangeIn": "new_password",
    "PasswordResetConfirmIn": "new_password",
}
# Operations whose success headers are not the common ones.
_SUCCESS_HEADERS = {"submitJob": ("Location",), "downloadResume": ("Content-Disposition",)}


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


def _document_headers(operation: dict, is_api: bool) -> None:
    """Name the headers each response carries."""
    for status, response in operation.get("responses", {}).items():
        if "$ref" in response:
            continue
        names = ["X-Request-ID"]
        if is_api:
            names.extend(_RATE_LIMIT_HEADERS)
        if status in ("403", "429", "503"):  # 403: while the address is blocked
            names.append("Retry-After")
        if status.startswith("2"):
            names.extend(_SUCCESS_HEADERS.get(operation.get("operationId", ""), ()))
        headers = response.setdefault("headers", {})
        for name in names:
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


def _type_path_arguments(operation: dict, rule_text: str) -> None:
    """UUIDs (the `uuid` converter) and closed sets say so in the document too."""
    uuids = set(_UUID_ARGUMENT.findall(rule_text))
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path":
            continue
        if parameter.get("name") in uuids:
            parameter["schema"] = {"type": "string", "format": "uuid"}
        elif parameter.get("name") in _PATH_ARGUMENT_ENUMS:
            values = _PATH_ARGUMENT_ENUMS[parameter["name"]]
            parameter["schema"] = {"type": "string", "enum": list(values)}


def _require_bodies(spec: dict, operation: dict) -> None:
    """A body whose schema has required fields (or is a union) must be sent."""
    body = operation.get("requestBody")
    if not body:
        return
    for media in body.get("content", {}).values():
        schema = _resolve(spec, media.get("schema", {}))
        if schema.get("required") or "oneOf" in schema:
            body["required"] = True


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref", "")
    if ref.startswith(_SCHEMAS):
        return spec["components"]["schemas"].get(ref[len(_SCHEMAS) :], {})
    return schema


def _merge_duplicate_schemas(spec: dict) -> None:
    """One component per schema class.

    APIFlask registers a schema used both nested and as a response body twice (`UserOut`,
    `UserOut1`), which a client generator turns into two unrelated classes. Point every
    reference at the first and drop the copy.
    """
    schemas = spec["components"]["schemas"]
    renames = {}
    for name in list(schemas):
        match = re.fullmatch(r"(.+?)(\d+)", name)
        if match and schemas.get(match.group(1)) == schemas[name]:
            renames[_SCHEMAS + name] = _SCHEMAS + match.group(1)
            del schemas[name]
    if renames:
        _rewrite_refs(spec, renames)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


# Closed sets used in several places: one named enum each, so a generated client has one class
# for each rather than one per field.
NAMED_ENUMS = {
    "JobStatus": STATUS_NAMES,
    "JobPriority": PRIORITY_NAMES,
    "JobType": list(PUBLIC_JOB_TYPES),
    "Role": ROLES,
    "TokenType": ["Bearer"],
    "CredentialService": list(KNOWN_SERVICES),
}
# Path arguments that take one of a closed set.
_PATH_ARGUMENT_ENUMS = {"service": list(KNOWN_SERVICES)}


def _name_shared_enums(spec: dict) -> None:
    """Replace each inline copy of a shared closed set with a reference to its named enum."""
    by_values = {tuple(values): name for name, values in NAMED_ENUMS.items()}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            name = by_values.get(tuple(node.get("enum", ())))
            if name and node.get("type") == "string":
                del node["enum"], node["type"]
                node["$ref"] = _SCHEMAS + name
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(spec["paths"])
    visit(spec["components"]["schemas"])
    for name, values in NAMED_ENUMS.items():
        spec["components"]["schemas"][name] = {"type": "string", "enum": list(values)}


def _job_submission_union(app: APIFlask, spec: dict) -> None:
    """`POST /api/jobs` takes one of the public job types, each with its own payload schema."""
    helper = APISpec(
        title="job submissions",
        version="1",
        openapi_version=spec["openapi"],
        plugins=[MarshmallowPlugin(schema_name_resolver=app.schema_name_resolver)],
    )
    for schema in JOB_SUBMISSION_SCHEMAS.values():
        helper.components.schema(app.schema_name_resolver(schema), schema=schema)
    schemas = spec["components"]["schemas"]
    for name, definition in helper.to_dict()["components"]["schemas"].items():
        schemas.setdefault(name, definition)
    mapping = {
        job_type: _SCHEMAS + app.schema_name_resolver(schema)
        for job_type, schema in JOB_SUBMISSION_SCHEMAS.items()
    }
    schemas["JobSubmitIn"] = {
        "description": "A job: its `type` chooses the schema of its `payload`. Types without a "
        "handler yet are refused with 422 `job_type_unavailable` after the payload is checked.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


# Bodies that take one schema per media type (APIFlask documents one schema for all of them).
_BODY_PER_MEDIA_TYPE = {
    "uploadResume": {
        "multipart/form-data": (
            "ResumeUploadIn",
            {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "PDF, DOCX, TXT or MD",
                    }
                },
                "additionalProperties": False,
            },
        ),
        "application/json": (
            "ResumeLinkIn",
            {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 2048,
                        "description": "A Google Docs link (read through its public DOCX "
                        "export) or a direct https link to a PDF or DOCX",
                    }
                },
                "additionalProperties": False,
            },
        ),
    }
}


def _bodies_per_media_type(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    for _method, _path, operation in _operations(spec):
        media_types = _BODY_PER_MEDIA_TYPE.get(operation.get("operationId"))
        if not media_types:
            continue
        content = operation["requestBody"]["content"]
        for media_type, (name, schema) in media_types.items():
            schemas[name] = schema
            content[media_type] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        operation["requestBody"]["required"] = True
    schemas.pop("ResumeIntakeDoc", None)


def _operations(spec: dict):
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, path, operation


def _password_minimums(app: APIFlask, spec: dict) -> None:
    minimum = app.config["SETTINGS"].password_min_length
    schemas = spec["components"]["schemas"]
    for schema_name, field in NEW_PASSWORD_FIELDS.items():
        schemas[schema_name]["properties"][field]["minLength"] = minimum


def init_app(app: APIFlask) -> None:
    """Complete the document APIFlask derives from the routes; serve the docs page's files."""
    settings = app.config["SETTINGS"]
    # Never the request's Host: the document is cached, and the docs page sends "Try it out"
    # requests to this URL.
    app.config["SERVERS"] = [{"url": settings.public_base_url}]
    app.config.update(
        SWAGGER_UI_CSS=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{DOCS_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{DOCS_ASSETS_PATH}/favicon-32x32.png",
    )
    app.register_blueprint(docs_assets)
    app.security_schemes = {
        "BearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from `login` or `refreshTokens`",
        },
        "RefreshToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A refresh token: accepted by `refreshTokens` only",
        },
        "JobEventsToken": {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "A token from `createJobEventsToken`: opens that job's event stream "
            "only, for a short while (for clients that cannot send a header)",
        },
    }

    @app.spec_processor
    def _complete(spec: dict) -> dict:
        _merge_duplicate_schemas(spec)
        _job_submission_union(app, spec)
        _password_minimums(app, spec)
        spec["components"]["headers"] = copy.deepcopy(HEADERS)
        for rule in app.url_map.iter_rules():
            path = _CONVERTER.sub(r"{\1}", rule.rule)
            operations = spec.get("paths", {}).get(path, {})
            mode = auth_mode(app, rule.endpoint)
            is_api = rule.rule.startswith("/api/")
            for method in rule.methods or ():
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                security = {"public": [], "refresh": [{"RefreshToken": []}]}
                operation["security"] = security.get(mode, [{"BearerAuth": []}])
                view = app.view_functions.get(rule.endpoint)
                if getattr(view, "_scoped_token", None) is not None:
                    operation["security"].append({"JobEventsToken": []})
                _document_common_errors(operation, mode, bool(rule.arguments), is_api)
                _require_bodies(spec, operation)
                _type_path_arguments(operation, rule.rule)
                if mode == "admin":
                    operation.setdefault("description", "Requires the admin role.")
                if operation.get("operationId") == "submitJob":
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                _document_headers(operation, is_api)
        _bodies_per_media_type(spec)
        _name_shared_enums(spec)
        return spec
