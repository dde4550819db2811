"""Retention over generated catalogues: tiers respected, the newest verified backup kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from server.backup_manager import CatalogueEntry, select_expired

START = datetime(2025, 1, 1, tzinfo=UTC)

catalogues = st.lists(
    st.tuples(st.integers(min_value=0, max_value=400 * 24), st.booleans()),
    max_size=60,
    unique_by=lambda item: item[0],
).map(
    lambda items: [
        CatalogueEntry(f"b{index:03d}", START + timedelta(hours=hours), verified)
        for index, (hours, verified) in enumerate(items)
    ]
)
tier = st.integers(min_value=0, max_value=8)


def newest_per_period(backups, count, period_of):
    """The newest backup of each of the `count` most recent periods that have one."""
    newest = {}
    for backup in sorted(backups, key=lambda b: b.created_at, reverse=True):
        newest.setdefault(period_of(backup.created_at), backup.id)
    periods = sorted(newest, reverse=True)[:count]
    return {newest[period] for period in periods}


@settings(max_examples=300, deadline=None)
@given(catalogues, tier, tier, tier)
def test_retention_keeps_each_tier_and_the_newest_verified_backup(backups, daily, weekly, monthly):
    expired = select_expired(backups, daily=daily, weekly=weekly, monthly=monthly)
    kept = {b.id for b in backups} - expired
    assert expired <= {b.id for b in backups}

    verified = [b for b in backups if b.verified]
    if verified:
        assert max(verified, key=lambda b: b.created_at).id in kept

    tiers = [
        newest_per_period(backups, daily, lambda t: t.date()),
        newest_per_period(backups, weekly, lambda t: t.isocalendar()[:2]),
        newest_per_period(backups, monthly, lambda t: (t.year, t.month)),
    ]
    for wanted in tiers:
        assert wanted <= kept
    # Nothing is kept without a reason, so at most one per tier slot plus the verified one.
    justified = set().union(*tiers)
    if verified:
        justified.add(max(verified, key=lambda b: b.created_at).id)
    assert kept == justified
    assert len(kept) <= daily + weekly + monthly + 1


def test_with_no_tiers_only_the_newest_verified_backup_stays():
    backups = [
        CatalogueEntry("old-verified", START, True),
        CatalogueEntry("newer-verified", START + timedelta(days=3), True),
        CatalogueEntry("newest", START + timedelta(days=9), False),
    ]
    assert select_expired(backups, daily=0, weekly=0, monthly=0) == {"old-verified", "newest"}


def test_seven_daily_backups_keep_seven_days():
    backups = [
        CatalogueEntry(f"d{day}", START + timedelta(days=day, hours=2), False) for day in range(30)
    ]
    expired = select_expired(backups, daily=7, weekly=0, monthly=0)
    assert {b.id for b in backups} - expired == {f"d{day}" for day in range(23, 30)}
