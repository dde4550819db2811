"""Bodies of the admin routes."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp

from server.schemas.auth import ROLES, UserOut
from server.schemas.common import Rfc3339DateTime, StrictSchema, TextInteger, UtcDateTime

MAX_ID = 2**31 - 1
SEVERITIES = ["info", "low", "medium", "high", "critical"]


class PageQuery(StrictSchema):
    page = TextInteger(load_default=1, validate=Range(min=1, max=100_000))
    per_page = TextInteger(load_default=20, validate=Range(min=1, max=100))


class UserListQuery(PageQuery):
    role = String(validate=OneOf(ROLES))


class PageMeta(Schema):
    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True)


class UserPageOut(Schema):
    items = List(Nested(UserOut), required=True)
    meta = Nested(PageMeta, required=True)


class EventQuery(PageQuery):
    action = String(validate=Length(min=1, max=64))
    outcome = String(validate=Length(min=1, max=16))
    actor_user_id = TextInteger(validate=Range(min=1, max=MAX_ID))
    client_ip = String(validate=Length(min=1, max=64))
    since = Rfc3339DateTime()
    until = Rfc3339DateTime()


class EventOut(Schema):
    id = Integer(required=True)
    created_at = UtcDateTime(required=True)
    actor_user_id = Integer(allow_none=True)
    actor_email = String(allow_none=True)
    client_ip = String(allow_none=True)
    action = String(required=True)
    object_type = String(allow_none=True)
    object_id = String(allow_none=True)
    outcome = String(required=True)
    request_id = String(allow_none=True)
    details = Dict(required=True)


class EventPageOut(Schema):
    items = List(Nested(EventOut), required=True)
    meta = Nested(PageMeta, required=True)


class IpBlockIn(StrictSchema):
    ip = String(required=True, validate=Length(min=1, max=64))
    reason = String(required=True, validate=Length(min=1, max=200))
    ttl_seconds = Integer(strict=True, load_default=86400, validate=Range(min=60, max=90 * 86400))


class IpBlockOut(Schema):
    ip = String(required=True)
    reason = String(required=True)
    automatic = Boolean(required=True)
    created_by_user_id = Integer(allow_none=True)
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(required=True)


class IpBlockListOut(Schema):
    items = List(Nested(IpBlockOut), required=True)


class FindingOut(Schema):
    check = String(required=True)
    severity = String(required=True, validate=OneOf(SEVERITIES))
    message = String(required=True)


class AuditSummaryOut(Schema):
    info = Integer(required=True)
    low = Integer(required=True)
    medium = Integer(required=True)
    high = Integer(required=True)
    critical = Integer(required=True)
    worst = String(required=True, validate=OneOf(SEVERITIES))
    total = Integer(required=True)


class AuditOut(Schema):
    findings = List(Nested(FindingOut), required=True)
    summary = Nested(AuditSummaryOut, required=True)
    ran_at = UtcDateTime(required=True)


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
    kind = String(required=True, validate=OneOf(["window", "concurrency"]))
    scope = String(required=True, validate=OneOf(["user", "ip", "global"]))
    key = String(required=True)
    limit_value = Integer(required=True)
    window_seconds = Float(allow_none=True, metadata={"description": "Null for a cap"})
    used = Integer(required=True)
    remaining = Integer(required=True)
    reset_seconds = Float(required=True, metadata={"description": "Until capacity next frees"})


class RateLimitUsageOut(Schema):
    subject = String(
        required=True, metadata={"description": "As counted: an IPv6 address as its /64"}
    )
    scope = String(
        required=True,
        validate=OneOf(["user", "ip", "global"]),
        metadata={"description": "The kind of subject; only its limits are listed"},
    )
    degraded = Boolean(required=True, metadata={"description": "Redis unreachable"})
    limits = List(Nested(RateLimitUsage), required=True)
