"""Marshmallow schemas for every request and response body."""

from apiflask.schema_adapters.marshmallow import parser

from server.schemas import json_body


def init_app(app) -> None:
    """Parse JSON bodies strictly, and let each schema's own `unknown` policy (RAISE) apply to
    query strings too."""
    json_body.init_app(app)
    parser.DEFAULT_UNKNOWN_BY_LOCATION = {
        **parser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }
