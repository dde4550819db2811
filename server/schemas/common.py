"""Field helpers shared by the schemas."""

from collections.abc import Mapping

from apiflask import Schema
from apiflask.fields import DateTime
from marshmallow import RAISE, ValidationError, pre_load

from server.models.base import isoformat


class StrictSchema(Schema):
    """Rejects unknown fields, so a client cannot set `role`, `user_id` and the like.

    Text with NUL characters is refused too: no store can keep it, and no person types it.
    """

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_nul_characters(self, data, **_kwargs):
        if isinstance(data, Mapping):
            bad = {
                key: ["must not contain NUL characters"]
                for key, value in data.items()
                if isinstance(value, str) and "\x00" in value
            }
            if bad:
                raise ValidationError(bad)
        return data


class UtcDateTime(DateTime):
    """ISO 8601 in UTC with a Z suffix, also for naive values read back from SQLite."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)
