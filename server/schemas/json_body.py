"""Reading JSON request bodies: one strict parser behind every route.

orjson parses every body (it refuses lone UTF-16 surrogates, NaN and Infinity, and numbers no
double can hold, and says where it stopped); nesting is capped on top of that, so nothing
downstream (marshmallow, `json.dumps` into PostgreSQL) recurses deeply. A body that fails is a
400 naming the line and column; a body that is not JSON at all is a 415 saying JSON is expected.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from marshmallow import missing

from server.core.errors import ApiError, BadRequest

# Deeper than any body of this API needs, shallow enough for every recursive consumer.
MAX_DEPTH = 32
JSON_EXPECTED = "Send the request body as JSON with the header Content-Type: application/json"


# orjson's words for the refusals a client is most likely to meet, said for people.
_REASONS = {
    "depth limit exceeded": f"nested more than {MAX_DEPTH} levels deep",
    "number is infinity when parsed as double": "a number is too large",
}
_LONE_SURROGATE = "a string holds a lone UTF-16 surrogate escape (not valid Unicode)"
_REASONS.update(
    dict.fromkeys(
        (
            "no low surrogate in string",
            "invalid low surrogate in string",
            "invalid high surrogate in string",
        ),
        _LONE_SURROGATE,
    )
)


class MalformedJson(ValueError):
    """A body that is not acceptable JSON; `line` and `column` are 1-based when known."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None):
        super().__init__(reason)
        self.reason, self.line, self.column = reason, line, column


class UnsupportedMediaType(ApiError):
    status_code, code = 415, "unsupported_media_type"


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative, so a deep value cannot exhaust the stack while it is being measured.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(data: str | bytes) -> Any:
    """Parse a request body strictly; raises `MalformedJson` saying what and where."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = _REASONS.get(exc.msg, exc.msg)
        raise MalformedJson(reason, line=exc.lineno, column=exc.colno) from None
    if isinstance(value, (dict, list)) and _deeper_than(value, MAX_DEPTH):
        raise MalformedJson(f"nested more than {MAX_DEPTH} levels deep")
    return value


class StrictJsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with the strict parser; output is unchanged."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


class ApiRequest(Request):
    """A request whose JSON errors become 400/415 answers that say what is wrong."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise UnsupportedMediaType(
                JSON_EXPECTED, details={"content_type": self.content_type or None}
            )
        if isinstance(e, MalformedJson) and e.line is not None:
            raise BadRequest(
                f"Malformed JSON at line {e.line}, column {e.column}: {e.reason}",
                code="malformed_json",
                details={"line": e.line, "column": e.column},
            )
        raise BadRequest(f"Malformed JSON: {e}", code="malformed_json")


def load_json_body(request: Request, schema) -> Any:
    """The webargs loader for `location="json"`: the body parsed strictly, or missing.

    A request that does not say it is JSON gets a 415 naming the header, rather than a list
    of "missing" fields, unless the route needs no field at all.
    """
    if request.get_data(cache=True):
        return request.get_json()  # 415 when not declared JSON, 400 when malformed
    if not request.is_json and any(field.required for field in schema.fields.values()):
        return request.on_json_loading_failed(None)
    return missing


def init_app(app: Flask) -> None:
    """Parse every JSON body (Flask's and the schemas') with the strict parser."""
    from apiflask.schema_adapters.marshmallow import parser

    app.request_class = ApiRequest
    app.json = StrictJsonProvider(app)
    parser.location_loader("json")(load_json_body)
