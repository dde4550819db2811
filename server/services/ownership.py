"""Object-level access control: every lookup by a client-supplied id checks the owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from server.core.errors import NotFound
from server.core.extensions import db
from server.security_manager.events import record_event
from server.services.hot_reads import HotQuery, read_row

T = TypeVar("T")


def get_owned(
    model: type[T], *, object_id: Any, user_id: int, object_type: str, lock: bool = False
) -> T:
    """The object if it belongs to the user; otherwise 404, the same as for a missing one.

    Someone else's object is logged as an authorization failure (it may be an IDOR probe).
    `lock` reads the row `FOR UPDATE`: a concurrent request waits until this transaction ends.
    """
    # An integer id beyond the column's range names nothing (and must not reach the driver).
    out_of_range = isinstance(object_id, int) and not 0 < object_id < 2**31
    obj = (
        None
        if out_of_range
        else db.session.get(model, object_id, with_for_update=True if lock else None)
    )
    _check_owner(obj, object_id=object_id, user_id=user_id, object_type=object_type)
    return obj


def read_owned(
    query: HotQuery,
    params: Mapping[str, Any],
    *,
    object_id: Any,
    user_id: int,
    object_type: str,
) -> Any:
    """`get_owned` for the hot path: the row `query` selects with `params` (it must include
    `user_id`), read in one statement without the ORM (`server.services.hot_reads`), with the same
    owner check."""
    row = read_row(query, params)
    _check_owner(row, object_id=object_id, user_id=user_id, object_type=object_type)
    return row  # type: ignore[return-value]


def _check_owner(obj: Any, *, object_id: Any, user_id: int, object_type: str) -> None:
    if obj is None:
        raise NotFound(resource=object_type)
    if obj.user_id != user_id:
        record_event(
            action="authorization_failure",
            outcome="denied",
            object_type=object_type,
            object_id=object_id,
            details={"reason": "object belongs to another user"},
        )
        raise NotFound(resource=object_type)
