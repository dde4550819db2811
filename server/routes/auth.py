"""Registration, login, token refresh and logout."""

from apiflask import APIBlueprint

from server.auth import public, refresh_token_required
from server.rate_limiter import rate_limit
from server.routes import app_settings
from server.schemas.auth import (
    AccessTokenOut,
    LoginIn,
    LogoutIn,
    MessageOut,
    RegisterIn,
    TokensOut,
    UserOut,
)
from server.services import accounts

bp = APIBlueprint("auth", __name__, url_prefix="/api/auth", tag="Auth")


@bp.post("/register")
@public
@rate_limit("auth_register_per_ip_per_hour")
@bp.input(RegisterIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create an account", responses=[201, 409, 422, 429])
def register(body):
    return accounts.create_user(
        email=body["email"], password=body["password"], name=body["name"], settings=app_settings()
    )


@bp.post("/login")
@public
@rate_limit("auth_login_per_ip_per_minute")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Log in and receive an access and a refresh token", responses=[200, 401, 422, 429])
def login(body):
    settings = app_settings()
    user = accounts.authenticate(email=body["email"], password=body["password"], settings=settings)
    return accounts.issue_tokens(user=user, settings=settings)


@bp.post("/refresh")
@refresh_token_required
@rate_limit("auth_refresh_per_ip_per_minute")
@bp.output(AccessTokenOut)
@bp.doc(summary="Exchange a refresh token for a new access token", responses=[200, 401, 429])
def refresh():
    from server.auth import current_user

    return accounts.refresh_access_token(user=current_user(), settings=app_settings())


@bp.post("/logout")
@bp.input(LogoutIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(summary="Revoke the access token and the given refresh token", responses=[200, 401, 422])
def logout(body):
    from flask import g

    accounts.logout(access_payload=g.jwt, refresh_token=body.get("refresh_token"))
    return {"message": "Logged out"}
