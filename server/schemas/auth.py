"""Request and response bodies of the auth and user routes."""

from apiflask import Schema
from apiflask.fields import Boolean, Email, Integer, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import pre_load

from server.schemas.common import StrictSchema, UtcDateTime

ROLES = ["user", "admin"]


class _EmailInput(StrictSchema):
    @pre_load
    def _trim_email(self, data, **_kwargs):
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].strip()}
        return data


class RegisterIn(_EmailInput):
    email = Email(required=True, validate=Length(max=320))
    password = String(required=True, validate=Length(min=1, max=1024))
    name = String(required=True, validate=Length(min=1, max=200))


class LoginIn(_EmailInput):
    email = String(required=True, validate=Length(min=1, max=320))
    password = String(required=True, validate=Length(min=1, max=1024))


class LogoutIn(StrictSchema):
    refresh_token = String(validate=Length(min=1, max=4096))


class UserOut(Schema):
    """The public view of an account: an allowlist, no hashes or secrets."""

    id = Integer(required=True)
    email = String(required=True)
    name = String(required=True)
    role = String(required=True, validate=OneOf(ROLES))
    is_active = Boolean(required=True)
    created_at = UtcDateTime(required=True)
    last_login_at = UtcDateTime(allow_none=True)
    email_verified_at = UtcDateTime(allow_none=True)


class TokensOut(Schema):
    access_token = String(required=True)
    refresh_token = String(required=True)
    token_type = String(required=True, validate=OneOf(["Bearer"]))
    expires_in = Integer(required=True, metadata={"description": "Access token lifetime, seconds"})
    user = Nested(UserOut, required=True)


class RefreshOut(Schema):
    """A rotated pair: the old refresh token is retired, use the new one next time."""

    access_token = String(required=True)
    refresh_token = String(required=True)
    token_type = String(required=True, validate=OneOf(["Bearer"]))
    expires_in = Integer(required=True)


class MessageOut(Schema):
    message = String(required=True)


class TokenIn(StrictSchema):
    token = String(required=True, validate=Length(min=1, max=200))


class PasswordResetRequestIn(_EmailInput):
    email = Email(required=True, validate=Length(max=320))


class PasswordResetConfirmIn(StrictSchema):
    token = String(required=True, validate=Length(min=1, max=200))
    new_password = String(required=True, validate=Length(min=1, max=1024))
