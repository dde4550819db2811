"""Retention: which backups of a series expire (a pure function)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CatalogueEntry:
    """What retention needs to know of a backup."""

    id: str
    created_at: datetime
    verified: bool


def select_expired(
    backups: Iterable[CatalogueEntry], *, daily: int, weekly: int, monthly: int
) -> set[str]:
    """The ids retention deletes, from backups of one type.

    Kept: the newest backup of each of the `daily` most recent days that have one, of each of
    the `weekly` most recent ISO weeks, of each of the `monthly` most recent months, and the
    newest verified backup whatever its age. Everything else expires. A pure function.
    """
    ordered = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    keep: set[str] = set()
    tiers = (
        (daily, lambda moment: moment.date()),
        (weekly, lambda moment: moment.isocalendar()[:2]),
        (monthly, lambda moment: (moment.year, moment.month)),
    )
    for count, period_of in tiers:
        periods: set[Any] = set()
        for backup in ordered:
            if len(periods) >= count:
                break
            period = period_of(backup.created_at.astimezone(UTC))
            if period not in periods:
                periods.add(period)
                keep.add(backup.id)
    newest_verified = next((backup for backup in ordered if backup.verified), None)
    if newest_verified is not None:
        keep.add(newest_verified.id)
    return {backup.id for backup in ordered} - keep
