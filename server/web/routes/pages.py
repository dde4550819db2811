"""The two pages the mail links open: confirm an address, set a new password.

Server-rendered HTML (Jinja escapes every value), no scripts and no styles, so the default
Content-Security-Policy holds. Opening a link (GET) never uses its token, because mail scanners
fetch links: the token is used by the form's POST.
"""

from apiflask import APIBlueprint
from flask import make_response, render_template, request

from server.core.config import get_settings
from server.core.errors import ApiError
from server.rate_limiter import rate_limit
from server.security_manager.auth import public
from server.services import accounts

bp = APIBlueprint("pages", __name__, template_folder="../templates", enable_openapi=False)

MAX_TOKEN_LENGTH = 200
INCOMPLETE_LINK = (
    "This link is incomplete: open the whole link from the mail, or ask for a new one."
)
VERIFY_TITLE = "Confirm your email address"
RESET_TITLE = "Choose a new password"


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(f"pages/{template}", **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _token(values) -> str:
    token = values.get("token", "")
    return token if 0 < len(token) <= MAX_TOKEN_LENGTH else ""


@bp.get("/verify-email")
@public
def verify_email_page():
    token = _token(request.args)
    if not token:
        return _page(
            "verify_email.html", 400, title=VERIFY_TITLE, message=INCOMPLETE_LINK, failed=True
        )
    return _page("verify_email.html", title=VERIFY_TITLE, show_form=True, token=token)


@bp.post("/verify-email")
@public
@rate_limit("auth_token_confirm_per_ip_per_minute")
def verify_email():
    token = _token(request.form)
    if not token:
        return _page(
            "verify_email.html", 400, title=VERIFY_TITLE, message=INCOMPLETE_LINK, failed=True
        )
    try:
        accounts.confirm_email_verification(token=token)
    except ApiError as exc:
        return _page(
            "verify_email.html",
            exc.status_code,
            title=VERIFY_TITLE,
            message=f"{exc.message}. Ask for a new link from your account.",
            failed=True,
        )
    return _page(
        "verify_email.html", title="Email address confirmed", message="Thank you: it is confirmed."
    )


@bp.get("/reset-password")
@public
def reset_password_page():
    settings = get_settings()
    token = _token(request.args)
    if not token:
        return _page(
            "reset_password.html", 400, title=RESET_TITLE, message=INCOMPLETE_LINK, failed=True
        )
    return _page(
        "reset_password.html",
        title=RESET_TITLE,
        show_form=True,
        token=token,
        min_length=settings.password_min_length,
    )


@bp.post("/reset-password")
@public
@rate_limit("auth_token_confirm_per_ip_per_minute")
def reset_password():
    settings = get_settings()
    token = _token(request.form)
    if not token:
        return _page(
            "reset_password.html", 400, title=RESET_TITLE, message=INCOMPLETE_LINK, failed=True
        )
    try:
        accounts.confirm_password_reset(
            token=token, new_password=request.form.get("new_password", "")
        )
    except ApiError as exc:
        weak = exc.code in ("weak_password", "validation_error")
        # A weak password leaves the token usable: the form comes back with the reason.
        message = exc.message.removeprefix("new_password: ")
        return _page(
            "reset_password.html",
            exc.status_code,
            title=RESET_TITLE,
            message=f"The new password {message}"
            if weak
            else f"{exc.message}. Ask for a new reset link.",
            failed=True,
            show_form=weak,
            token=token,
            min_length=settings.password_min_length,
        )
    return _page(
        "reset_password.html",
        title="Password changed",
        message="Your password is changed and every session has ended: log in with the new one.",
    )
