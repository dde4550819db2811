"""Bodies of the admin routes."""

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import OneOf, Range

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
