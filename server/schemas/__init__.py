"""Marshmallow schemas for every request and response body."""

from apiflask.schema_adapters.marshmallow import parser


def init_app(_app) -> None:
    """Let each schema's own `unknown` policy (RAISE) apply to query strings too."""
    parser.DEFAULT_UNKNOWN_BY_LOCATION = {
        **parser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }
