"""Outgoing mail: SMTP from the settings, or files in instance/outbox/ when none is configured."""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import NamedTuple

from server.config import Settings

log = logging.getLogger("server.mailer")


class Attachment(NamedTuple):
    filename: str
    data: bytes
    content_type: str  # "application/pdf"


def build_message(
    *,
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """A plain-text message from the configured sender, with any attachments."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="job-agent.local")
    message.set_content(body)
    for attachment in attachments:
        media_type = attachment.content_type.split(";", 1)[0].strip().lower()
        maintype, _, subtype = media_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message


def send_mail(
    *,
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> bool:
    """Send one message; False (and an error log without the body) when it could not go out."""
    message = build_message(
        settings=settings,
        to=to,
        subject=subject,
        body=body,
        reply_to=reply_to,
        attachments=attachments,
    )
    if not settings.smtp_host:
        settings.outbox_dir.mkdir(parents=True, exist_ok=True)
        path = settings.outbox_dir / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(message.as_bytes())
        path.chmod(0o600)
        log.info("mail written to the outbox", extra={"subject": subject, "file": path.name})
        return True
    smtp = None
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10)
        if settings.smtp_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        log.error(
            "mail could not be sent",
            extra={"subject": subject, "smtp_host": settings.smtp_host, "error": repr(exc)},
        )
        return False
    finally:
        if smtp is not None:
            _close(smtp)
    log.info("mail sent", extra={"subject": subject})
    return True


def _close(smtp: smtplib.SMTP) -> None:
    # Once the server took the message it is sent: a failed QUIT must not make a caller retry
    # (and send it twice).
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
