"""Helpers shared by the models."""

from datetime import UTC, datetime

# The `info` of a column whose values are Fernet tokens under ENCRYPTION_KEY: the key rotation
# and the deployment check find every such column by it (`security_manager.encryption`).
ENCRYPTED = {"encrypted": True}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Attach UTC to naive datetimes read back from SQLite."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z suffix, or None."""
    value = as_utc(value)
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
