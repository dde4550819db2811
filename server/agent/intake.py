"""Resume intake by link: a Google Docs document (through its public export) or a direct https
link to a PDF or DOCX.

A user-given URL makes the server open a connection, so the fetch goes through the guarded
outbound client (`server.security_manager.outbound`): every hop's address is checked as it is
connected to, redirects are followed by hand and re-checked, size and time are capped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from server.core.config import Settings
from server.core.errors import ApiError
from server.security_manager.outbound import (
    OutboundClient,
    OutboundPolicy,
    OutboundRefused,
    OutboundTooLarge,
    OutboundUnavailable,
)
from server.security_manager.uploads import UnsupportedFileType, UploadTooLarge

log = logging.getLogger("server.agent.intake")

GOOGLE_DOCS_HOST = "docs.google.com"
_GOOGLE_DOC_PATH = re.compile(r"^/document/(?:u/\d+/)?d/([A-Za-z0-9_-]{10,200})(?:/|$)")
USER_AGENT = "JobApplicationAgent-ResumeIntake/1"


class LinkRefused(ApiError):
    """The link points somewhere the server will not go (scheme, address, redirects)."""

    status_code, code = 422, "resume_url_refused"


class LinkUnreachable(ApiError):
    """The link could not be fetched (DNS, connection, TLS, timeout, HTTP error)."""

    status_code, code = 422, "resume_url_unreachable"


@dataclass(frozen=True)
class FetchedDocument:
    filename: str
    data: bytes


def _download(url: str, settings: Settings) -> tuple[str, bytes, str | None]:
    """(final URL, body, Content-Disposition) of a GET that follows checked redirects."""
    client = OutboundClient(
        policy=OutboundPolicy.of(settings),
        user_agent=USER_AGENT,
        timeout_seconds=settings.resume_fetch_timeout_seconds,
        max_bytes=settings.upload_max_bytes,
        max_redirects=settings.resume_fetch_max_redirects,
        https_only=True,
        headers={
            "Accept": "application/pdf, application/vnd.openxmlformats-officedocument"
            ".wordprocessingml.document, */*;q=0.1",
        },
    )
    with client:
        try:
            response = client.get(url)
        except OutboundRefused as refused:
            raise LinkRefused(str(refused)) from None
        except OutboundTooLarge:
            raise UploadTooLarge(
                f"The linked document is larger than {settings.upload_max_bytes} bytes"
            ) from None
        except OutboundUnavailable as failure:
            raise LinkUnreachable(f"The link could not be fetched ({failure})") from None
    if response.status != 200:
        raise LinkUnreachable(f"The link answered HTTP {response.status}")
    return response.url, response.body, response.headers.get("Content-Disposition")


def _source(url: str, settings: Settings) -> tuple[str, str | None]:
    """The URL to fetch, and a filename when the link says what the document is called."""
    parts = urlsplit(url.strip())
    if (parts.hostname or "").lower() == GOOGLE_DOCS_HOST:
        document = _GOOGLE_DOC_PATH.match(parts.path)
        if not document or parts.scheme.lower() != "https":
            raise LinkRefused(
                "A Google Docs link must look like https://docs.google.com/document/d/<id>/..."
            )
        base = settings.resume_fetch_google_docs_export_base
        return f"{base}/document/d/{document.group(1)}/export?format=docx", "google-doc.docx"
    return url.strip(), None


def _filename(url: str, disposition: str | None, extension: str) -> str:
    candidates = []
    if disposition:
        named = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition, re.IGNORECASE)
        if named:
            candidates.append(unquote(named.group(1)))
    candidates.append(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))
    for name in candidates:
        if name.lower().endswith(f".{extension}"):
            return name
    return f"resume.{extension}"


def fetch_resume(*, url: str, settings: Settings) -> FetchedDocument:
    """Fetch the document a link points to; refuses anything but a PDF or DOCX."""
    target, name = _source(url, settings)
    final_url, data, disposition = _download(target, settings)
    if data.startswith(b"%PDF-"):
        extension = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        extension = "docx"
    else:
        hint = " (is the Google Doc shared with anyone who has the link?)" if name else ""
        raise UnsupportedFileType(f"The link does not lead to a PDF or DOCX document{hint}")
    return FetchedDocument(filename=name or _filename(final_url, disposition, extension), data=data)
