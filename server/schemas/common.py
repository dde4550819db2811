"""Field helpers shared by the schemas."""

from apiflask import Schema
from apiflask.fields import DateTime
from marshmallow import RAISE

from server.models.base import isoformat


class StrictSchema(Schema):
    """Rejects unknown fields, so a client cannot set `role`, `user_id` and the like."""

    class Meta:
        unknown = RAISE


class UtcDateTime(DateTime):
    """ISO 8601 in UTC with a Z suffix, also for naive values read back from SQLite."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)
