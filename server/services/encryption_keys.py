"""ENCRYPTION_KEY across every encrypted column: which key each value is under, and rotation.

The columns are the registry's (`encryption.encrypted_columns()`), so a new encrypted column is
rotated and checked without a change here. A value under the newest key is done; one under an
older key of ENCRYPTION_KEY is re-encrypted by `rotate_all`; one under no key of it can be read
only once the key that wrote it is back in ENCRYPTION_KEY (until then its owner can clear it or
write a new value).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, select, update

from server.core.config import get_settings
from server.core.extensions import db
from server.security_manager import encryption
from server.security_manager.events import record_event
from server.services import stored_files
from server.services.key_counts import ColumnKeys, ColumnRotation

BATCH = 500
# Rows named in a report, per column: enough to find them, never the whole table.
NAMED_ROWS = 20


@dataclass
class Rotation:
    """A rotation's work per column, then the count of every value afterwards."""

    rotated: list[ColumnRotation]
    after: list[ColumnKeys]

    @property
    def complete(self) -> bool:
        """True when every encrypted value is under the newest key."""
        return all(column.done for column in self.after)


def _name(column: Column) -> str:
    return f"{column.table.name}.{column.name}"


def _primary_key(column: Column) -> Column:
    return next(iter(column.table.primary_key.columns))


def _values(column: Column) -> Iterator[list[tuple[Any, str]]]:
    """The column's non-null values with their row's key, a batch at a time, in key order."""
    key = _primary_key(column)
    last = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = [(row[0], row[1]) for row in db.session.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _census_of(column: Column, keys: tuple[str, ...]) -> ColumnKeys:
    counted = ColumnKeys(_name(column))
    key_name = _primary_key(column).name
    for rows in _values(column):
        for row_key, token in rows:
            index = encryption.key_index(token, keys=keys)
            if index == 0:
                counted.newest += 1
            elif index is not None:
                counted.older += 1
            else:
                counted.unreadable += 1
                if len(counted.unreadable_rows) < NAMED_ROWS:
                    counted.unreadable_rows.append(f"{key_name} {row_key}")
    return counted


def census() -> list[ColumnKeys]:
    """Which key of ENCRYPTION_KEY every encrypted value is under, per column (reads only)."""
    keys = get_settings().encryption_keys
    counts = [_census_of(column, keys) for column in encryption.encrypted_columns()]
    db.session.rollback()
    return counts


def _rotate_column(column: Column, keys: tuple[str, ...]) -> ColumnRotation:
    done = ColumnRotation(_name(column))
    key = _primary_key(column)
    # Rotation is no change of the row: columns that move on update keep their value.
    unchanged = {c.name: c for c in column.table.columns if c.onupdate is not None}
    for rows in _values(column):
        for row_key, token in rows:
            if encryption.key_index(token, keys=keys) in (0, None):
                continue
            written = db.session.execute(
                update(column.table)
                .where(key == row_key, column == token)
                .values({column.name: encryption.rotate(token, keys=keys), **unchanged})
            )
            if written.rowcount:
                done.rotated += 1
            else:
                done.changed_meanwhile += 1
        db.session.commit()
    return done


def rotate_all() -> Rotation:
    """Re-encrypt every value under an older key of ENCRYPTION_KEY with the newest, then count
    every value again: `complete` says whether the older keys can be dropped.

    A batch is committed at a time, and a value is replaced only if it is still the one read,
    so a value its owner changes meanwhile is kept as written; running it again is safe.
    The user files in the store (`stored_files`) are sealed again too, and counted as one
    more "column".
    """
    keys = get_settings().encryption_keys
    rotated = [_rotate_column(column, keys) for column in encryption.encrypted_columns()]
    rotated.append(stored_files.rotate())
    after = [*census(), stored_files.census()]
    outcome = Rotation(rotated, after)
    record_event(
        action="encryption_key_rotated",
        outcome="success" if outcome.complete else "incomplete",
        details={
            done.column: {
                "rotated": done.rotated,
                "older_left": counted.older,
                "unreadable": counted.unreadable,
            }
            for done, counted in zip(rotated, after, strict=True)
        },
    )
    return outcome
