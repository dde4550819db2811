"""One page of a query, in the API's one shape for lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from server.core.extensions import db


def paginate(query: Select, *, page: int, per_page: int) -> dict[str, Any]:
    """`{items, meta: {page, per_page, total}}` for an ordered query; a page past the end is
    empty. Counting and slicing are Flask-SQLAlchemy's `db.paginate`."""
    result = db.paginate(query, page=page, per_page=per_page, max_per_page=None, error_out=False)
    return {
        "items": list(result.items),
        "meta": {"page": page, "per_page": per_page, "total": result.total},
    }
