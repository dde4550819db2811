"""Outgoing mail: SMTP from the settings, or files in instance/outbox/ when none is configured.

A message is sent at most once. Until its last line has gone out, a failure means the server
did not take it (`send_mail` answers False; trying again is safe). Once the whole message is
out, the server may store it and answer late: RFC 5321 (4.5.3.2.6) gives it 10 minutes for
that final reply, so the client waits that long (`SMTP_FINAL_REPLY_TIMEOUT_SECONDS`), and a
reply that never comes (a timeout, a dropped connection) is `MailOutcomeUnknown`: the message
may have been delivered, and must not be sent again by itself.
"""

from __future__ import annotations

import logging
import selectors
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import NamedTuple

from server.core.config import Settings

log = logging.getLogger("server.core.mailer")


class MailOutcomeUnknown(Exception):  # noqa: N818 - reads as an outcome
    """The server was sent the whole message but gave no final reply: it may have taken it."""


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
    keep_waiting: Callable[[], bool] | None = None,
) -> bool:
    """Send one message: True when the server took it, False (and an error log without the
    body) when it did not; `MailOutcomeUnknown` when the whole message went out and no final
    reply came within `SMTP_FINAL_REPLY_TIMEOUT_SECONDS`, or once `keep_waiting` (asked every
    second of that wait) says no (a job that lost its lease stops waiting)."""
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
        smtp = _Smtp(
            settings.smtp_host,
            settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            final_reply_seconds=settings.smtp_final_reply_timeout_seconds,
            keep_waiting=keep_waiting,
        )
        if settings.smtp_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
    except (MailOutcomeUnknown, smtplib.SMTPException, OSError) as exc:
        if smtp is not None and smtp.awaiting_final_reply:
            log.error(
                "mail may have been delivered: the server did not confirm it",
                extra={"subject": subject, "smtp_host": settings.smtp_host, "error": repr(exc)},
            )
            if isinstance(exc, MailOutcomeUnknown):
                raise
            raise MailOutcomeUnknown(
                f"the mail server received the message but gave no final reply ({exc!r})"
            ) from exc
        log.error(
            "mail could not be sent",
            extra={"subject": subject, "smtp_host": settings.smtp_host, "error": repr(exc)},
        )
        return False
    finally:
        if smtp is not None and smtp.awaiting_final_reply:
            smtp.close()  # no QUIT: its reply would queue behind the one that never came
        elif smtp is not None:
            _close(smtp)
    log.info("mail sent", extra={"subject": subject})
    return True


class _Smtp(smtplib.SMTP):
    """smtplib's client, which knows when the whole message is out and waits for the final
    reply as long as RFC 5321 allows, rather than the commands' timeout."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        final_reply_seconds: float,
        keep_waiting: Callable[[], bool] | None,
    ):
        self.final_reply_seconds = final_reply_seconds
        self.keep_waiting = keep_waiting
        self.awaiting_final_reply = False  # the message is out, its reply not yet read
        self._in_data = False
        super().__init__(host, port, timeout=timeout)

    def data(self, msg):
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s):
        super().send(s)
        if self._in_data and isinstance(s, bytes):  # the message and its final "."
            self.awaiting_final_reply = True
            self._wait_for_final_reply()

    def getreply(self):
        reply = super().getreply()
        if self.awaiting_final_reply:
            self.awaiting_final_reply = False
            self.sock.settimeout(self.timeout)  # back to the commands' timeout (QUIT)
        return reply

    def _wait_for_final_reply(self) -> None:
        deadline = time.monotonic() + self.final_reply_seconds
        # A selector, not select(): a busy process has file descriptors past select's 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MailOutcomeUnknown(
                        "the mail server received the message but did not confirm it within "
                        f"{self.final_reply_seconds:g} s"
                    )
                if selector.select(min(left, 1.0)):
                    self.sock.settimeout(max(left, 1.0))  # the reply has begun: read it whole
                    return
                if self.keep_waiting is not None and not self.keep_waiting():
                    raise MailOutcomeUnknown(
                        "stopped waiting for the mail server to confirm the message it received"
                    )


def _close(smtp: smtplib.SMTP) -> None:
    # Once the server took the message it is sent: a failed QUIT must not make a caller retry
    # (and send it twice).
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
