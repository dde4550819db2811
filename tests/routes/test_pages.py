"""The pages the mail links open: rendered by the server, no scripts, the token used by POST."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update

from server.models import OneTimeToken, utcnow
from tests.helpers import DEFAULT_PASSWORD

NEW_PASSWORD = "a brand new passphrase for tests"
LINK = re.compile(r"(https?://\S+\?token=\S+)")


def link_path(mail_body: str) -> str:
    """The path and query of the link in a mail, as a browser would request them."""
    parts = urlsplit(LINK.search(mail_body).group(1))
    return f"{parts.path}?{parts.query}"


def token_of(path: str) -> str:
    return path.split("token=", 1)[1]


def assert_plain_page(response) -> str:
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html and "<style" not in html
    return html


def verification_link(client, app, smtp_server, deliver_mail, account) -> str:
    client.post("/api/auth/verify-email/request", token=account.access_token)
    deliver_mail(app)
    return link_path(smtp_server.bodies_to(account.email)[0])


def reset_link(client, app, smtp_server, deliver_mail, account) -> str:
    client.post("/api/auth/password-reset/request", json={"email": account.email})
    deliver_mail(app)
    return link_path(smtp_server.bodies_to(account.email)[0])


def is_verified(client, account) -> bool:
    profile = client.get("/api/user/profile", token=account.access_token).get_json()
    return profile["email_verified_at"] is not None


def test_the_verification_link_opens_a_page_and_only_its_post_confirms(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    path = verification_link(mail_client, mail_app, smtp_server, deliver_mail, account)
    assert path.startswith("/verify-email?token=")
    for _ in range(2):  # a mail scanner, then the user
        page = mail_client.get(path)
        assert page.status_code == 200
        html = assert_plain_page(page)
        assert '<form method="post" action="/verify-email">' in html
        assert f'name="token" value="{token_of(path)}"' in html
    assert not is_verified(mail_client, account)
    confirmed = mail_client.post("/verify-email", data={"token": token_of(path)})
    assert confirmed.status_code == 200
    assert "confirmed" in assert_plain_page(confirmed)
    assert is_verified(mail_client, account)
    again = mail_client.post("/verify-email", data={"token": token_of(path)})
    assert again.status_code == 400
    assert "invalid, expired or already used" in assert_plain_page(again)


def test_the_reset_link_opens_a_form_that_sets_the_new_password(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    path = reset_link(mail_client, mail_app, smtp_server, deliver_mail, account)
    assert path.startswith("/reset-password?token=")
    page = mail_client.get(path)
    assert page.status_code == 200
    html = assert_plain_page(page)
    assert '<form method="post" action="/reset-password">' in html
    assert 'type="password"' in html and 'name="new_password"' in html
    token = token_of(path)
    weak = mail_client.post(
        "/reset-password", data={"token": token, "new_password": "123456789012"}
    )
    assert weak.status_code == 422
    html = assert_plain_page(weak)
    assert "The new password is too easy to guess" in html
    assert 'name="new_password"' in html  # the form again: the token still works
    assert mail_client.login(account.email, DEFAULT_PASSWORD).status_code == 200
    done = mail_client.post("/reset-password", data={"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 200
    assert "Password changed" in assert_plain_page(done)
    assert mail_client.login(account.email, NEW_PASSWORD).status_code == 200


def test_an_expired_reset_link_says_so(mail_client, mail_app, smtp_server, deliver_mail):
    account = mail_client.create_account()
    path = reset_link(mail_client, mail_app, smtp_server, deliver_mail, account)
    session = mail_app.extensions["sqlalchemy"].session
    session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    response = mail_client.post(
        "/reset-password", data={"token": token_of(path), "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    html = assert_plain_page(response)
    assert "expired" in html and 'name="new_password"' not in html
    assert mail_client.login(account.email, DEFAULT_PASSWORD).status_code == 200


def test_what_the_link_carries_is_shown_escaped(client):
    response = client.get('/reset-password?token="><script>alert(1)</script>')
    html = assert_plain_page(response)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_link_without_its_token_says_it_is_incomplete(client):
    for path in ("/verify-email", "/reset-password"):
        response = client.get(path)
        assert response.status_code == 400
        assert "incomplete" in assert_plain_page(response)
