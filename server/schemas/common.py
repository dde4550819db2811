"""Field helpers shared by the schemas."""

import re
from collections.abc import Mapping

from apiflask import Schema
from apiflask.fields import AwareDateTime, DateTime, Integer, String
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
                if _holds_nul(key) or _holds_nul(value)
            }
            if bad:
                raise ValidationError(bad)
        return data


def _holds_nul(value, depth: int = 0) -> bool:
    """True when a string, or any string inside lists and objects, holds a NUL character
    (PostgreSQL's JSON cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if depth > 32:  # deeper than any accepted body (the JSON parser refuses more)
        return False
    if isinstance(value, Mapping):
        return any(_holds_nul(k, depth + 1) or _holds_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(item, depth + 1) for item in value)
    return False


_DECIMAL_INTEGER = re.compile(r"[+-]?[0-9]+")


class TextInteger(Integer):
    """An integer sent as text (a query parameter): ASCII digits with an optional sign.

    Python's `int()` also reads `1_000`, ` 5 ` and other scripts' digits such as `١`; the
    document's `type: integer` does not, so neither does the API.
    """

    def _validated(self, value):
        if isinstance(value, str) and not _DECIMAL_INTEGER.fullmatch(value):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


_RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.IGNORECASE,
)


class Rfc3339DateTime(AwareDateTime):
    """A date-time as RFC 3339 writes it (the document's `format: date-time`), offset included.

    Python's `fromisoformat` also reads `2020-01-01`, `20200101T000000` and week dates, which
    the document does not allow.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not _RFC3339_DATE_TIME.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        return super()._deserialize(
            value.upper() if isinstance(value, str) else value, attr, data, **kwargs
        )


class UtcDateTime(DateTime):
    """ISO 8601 in UTC with a Z suffix, also for naive values read back from SQLite."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class DroppedClaimOut(Schema):
    """A claim the verifier left out: where, the sentence, the words, their kind, why."""

    section = String(required=True)
    text = String(required=True)
    claim = String(required=True)
    kind = String(
        required=True,
        metadata={
            "description": "employer, name, title, date, degree, institution, certification, "
            "number, skill, action, look-alike, symbol or word (a best guess); or the field a "
            "structural check put back"
        },
    )
    reason = String(required=True)
