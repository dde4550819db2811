"""Bodies of the admin routes."""

from apiflask import Schema
from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp

from server.schemas.auth import UserOut
from server.schemas.common import StrictSchema


class PageQuery(StrictSchema):
    page = Integer(load_default=1, validate=Range(min=1, max=100_000))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))


class UserListQuery(PageQuery):
    role = String(validate=OneOf(["user", "admin"]))


class PageMeta(Schema):
    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True)


class UserPageOut(Schema):
    items = List(Nested(UserOut), required=True)
    meta = Nested(PageMeta, required=True)


class RateLimitResetIn(StrictSchema):
    limit = String(required=True, validate=Length(min=1, max=100))
    subject = String(
        required=True,
        validate=Regexp(r"^\S{1,200}$", error="a user id, an IP address or 'global'"),
        metadata={"description": "User id, client IP, or `global`"},
    )


class RateLimitResetOut(Schema):
    limit = String(required=True)
    subject = String(required=True)
    key = String(required=True, metadata={"description": "The Redis key that was deleted"})
    deleted = Boolean(required=True, metadata={"description": "False when nothing was counted"})


class RateLimitUsage(Schema):
    limit = String(required=True)
    kind = String(required=True, metadata={"description": "`window` or `concurrency`"})
    scope = String(required=True, metadata={"description": "`user`, `ip` or `global`"})
    key = String(required=True)
    limit_value = Integer(required=True)
    window_seconds = Float(allow_none=True, metadata={"description": "Null for a cap"})
    used = Integer(required=True)
    remaining = Integer(required=True)
    reset_seconds = Float(required=True, metadata={"description": "Until capacity next frees"})


class RateLimitUsageOut(Schema):
    subject = String(required=True)
    degraded = Boolean(required=True, metadata={"description": "Redis unreachable"})
    limits = List(Nested(RateLimitUsage), required=True)
