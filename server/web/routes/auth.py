"""Registration, login, token refresh and logout, email verification, password reset."""

from apiflask import APIBlueprint
from flask import g

from server.rate_limiter import rate_limit
from server.schemas.auth import (
    LoginIn,
    LogoutIn,
    MessageOut,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshOut,
    RegisterIn,
    TokenIn,
    TokensOut,
    UserOut,
)
from server.security_manager.auth import current_user, public, refresh_token_required
from server.services import accounts
from server.web.request_hooks import client_subject

bp = APIBlueprint("auth", __name__, url_prefix="/api/auth", tag="Auth")


@bp.post("/register")
@public
@rate_limit("auth_register_per_ip_per_hour")
@bp.input(RegisterIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(
    operation_id="register",
    summary="Create an account",
    description="An address that has an account already gets the same answer (201, the same "
    "body, the same work) and nothing is created: its owner is mailed instead, so the answer "
    "never tells whether an address has an account.",
    responses=[201, 422, 429],
)
def register(body):
    return accounts.register(email=body["email"], password=body["password"], name=body["name"])


@bp.post("/login")
@public
@rate_limit("auth_login_per_ip_per_minute")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(
    operation_id="login",
    summary="Log in and receive an access and a refresh token",
    description="Unknown account, wrong password, locked and disabled account all answer the "
    "same 401. Too many failures from one address answer 429 with Retry-After.",
    responses=[200, 401, 422, 429],
)
def login(body):
    user = accounts.authenticate(
        email=body["email"],
        password=body["password"],
        client_ip=client_subject(),  # an IPv6 client's failures count against its /64
    )
    return accounts.issue_tokens(user=user)


@bp.post("/refresh")
@refresh_token_required
@rate_limit("auth_refresh_per_ip_per_minute")
@bp.output(RefreshOut)
@bp.doc(
    operation_id="refreshTokens",
    summary="Rotate: exchange a refresh token for a new access and a new refresh token",
    description="The presented refresh token is retired. Presenting it again revokes every "
    "token of the login.",
    responses=[200, 401, 429, 503],
)
def refresh():
    return accounts.refresh_tokens(user=current_user(), refresh_payload=g.jwt)


@bp.post("/logout")
@bp.input(LogoutIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    operation_id="logout",
    summary="Revoke the access token and the given refresh token",
    responses=[200, 401, 422],
)
def logout(body):
    accounts.logout(access_payload=g.jwt, refresh_token=body.get("refresh_token"))
    return {"message": "Logged out"}


@bp.post("/verify-email/request")
@rate_limit("auth_verify_email_per_user_per_hour")
@bp.output(MessageOut, status_code=202)
@bp.doc(
    operation_id="requestEmailVerification",
    summary="Mail the caller a link to verify their address",
    description="The mail is queued and sent by a worker, retried if the mail server fails.",
    responses=[202, 401, 429, 503],
)
def request_email_verification():
    queued = accounts.request_email_verification(user=current_user())
    return {
        "message": "A verification email is on its way"
        if queued
        else "Email address already verified"
    }


@bp.post("/verify-email/confirm")
@public
@rate_limit("auth_token_confirm_per_ip_per_minute")
@bp.input(TokenIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    operation_id="confirmEmailVerification",
    summary="Confirm an address with the token from the mail",
    responses=[200, 400, 422],
)
def confirm_email_verification(body):
    accounts.confirm_email_verification(token=body["token"])
    return {"message": "Email address verified"}


@bp.post("/password-reset/request")
@public
@rate_limit("auth_password_reset_per_ip_per_hour")
@bp.input(PasswordResetRequestIn, arg_name="body")
@bp.output(MessageOut, status_code=202)
@bp.doc(
    operation_id="requestPasswordReset",
    summary="Ask for a password reset link",
    description="Answers the same whether or not the address has an account.",
    responses=[202, 422],
)
def request_password_reset(body):
    accounts.request_password_reset(email=body["email"])
    return {"message": accounts.RESET_REQUESTED}


@bp.post("/password-reset/confirm")
@public
@rate_limit("auth_token_confirm_per_ip_per_minute")
@bp.input(PasswordResetConfirmIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    operation_id="confirmPasswordReset",
    summary="Set a new password with the token from the reset mail; ends every session",
    responses=[200, 400, 422],
)
def confirm_password_reset(body):
    accounts.confirm_password_reset(token=body["token"], new_password=body["new_password"])
    return {"message": "Password changed; log in with the new password"}
