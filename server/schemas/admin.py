"""Bodies of the admin routes."""

from datetime import UTC

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from server.schemas.auth import UserOut
from server.schemas.common import StrictSchema, UtcDateTime

MAX_ID = 2**31 - 1


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


class EventQuery(PageQuery):
    action = String(validate=Length(min=1, max=64))
    outcome = String(validate=Length(min=1, max=16))
    actor_user_id = Integer(validate=Range(min=1, max=MAX_ID))
    client_ip = String(validate=Length(min=1, max=64))
    since = AwareDateTime(default_timezone=UTC)
    until = AwareDateTime(default_timezone=UTC)


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
    ttl_seconds = Integer(load_default=86400, validate=Range(min=60, max=90 * 86400))


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
    severity = String(required=True, validate=OneOf(["info", "low", "medium", "high", "critical"]))
    message = String(required=True)


class AuditSummaryOut(Schema):
    info = Integer(required=True)
    low = Integer(required=True)
    medium = Integer(required=True)
    high = Integer(required=True)
    critical = Integer(required=True)
    worst = String(required=True)
    total = Integer(required=True)


class AuditOut(Schema):
    findings = List(Nested(FindingOut), required=True)
    summary = Nested(AuditSummaryOut, required=True)
    ran_at = UtcDateTime(required=True)
