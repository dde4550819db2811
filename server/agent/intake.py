"""Resume intake by link: a Google Docs document (through its public export) or a direct https
link to a PDF or DOCX.

A user-given URL makes the server open a connection, so every hop is checked before it is
made: the host is resolved once, every address it resolves to must be public, and the
connection goes to that checked address (with the original name for TLS and the Host header),
so a DNS answer that changes between the check and the connect cannot steer it inside.
Redirects are followed by hand, each re-checked; size and time are capped.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from server.config import Settings
from server.errors import ApiError
from server.security_manager.uploads import UnsupportedFileType, UploadTooLarge

log = logging.getLogger("server.agent.intake")

GOOGLE_DOCS_HOST = "docs.google.com"
_GOOGLE_DOC_PATH = re.compile(r"^/document/(?:u/\d+/)?d/([A-Za-z0-9_-]{10,200})(?:/|$)")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
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


def _loopback_allowed(settings: Settings) -> bool:
    return settings.resume_fetch_allow_loopback and not settings.is_production


def _address_allowed(address: str, settings: Settings) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return _loopback_allowed(settings)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _checked_target(url: str, settings: Settings) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of a URL the server may fetch; raises LinkRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise LinkRefused("The link is not a valid URL") from None
    scheme = parts.scheme.lower()
    allowed = {"https", "http"} if _loopback_allowed(settings) else {"https"}
    if scheme not in allowed:
        raise LinkRefused("Only https links are accepted")
    if not parts.hostname:
        raise LinkRefused("The link has no host")
    if parts.username is not None or parts.password is not None:
        raise LinkRefused("Links with a user name or password are not accepted")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _checked_address(host: str, port: int, settings: Settings) -> str:
    """One address of the host, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise LinkUnreachable(f"The host {host!r} could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not _address_allowed(a, settings)]
    if refused or not addresses:
        log.warning("resume link refused", extra={"host": host, "addresses": addresses})
        raise LinkRefused(
            f"The link's host {host!r} resolves to a private, loopback or otherwise "
            "non-public address"
        )
    return addresses[0]


def _open(scheme: str, host: str, port: int, path: str, address: str, deadline: float):
    remaining = max(deadline - time.monotonic(), 0.1)
    timeout = urllib3.Timeout(connect=remaining, read=remaining)
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=host,
            assert_hostname=host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    response = pool.urlopen(
        "GET",
        path,
        headers={
            "Host": host_header,
            "User-Agent": USER_AGENT,
            "Accept": "application/pdf, application/vnd.openxmlformats-officedocument"
            ".wordprocessingml.document, */*;q=0.1",
            "Accept-Encoding": "identity",
        },
        redirect=False,
        retries=False,
        preload_content=False,
        decode_content=False,
        assert_same_host=False,
    )
    return pool, response


def _read_capped(response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge(f"The linked document is larger than {max_bytes} bytes")
    received = bytearray()
    for chunk in response.stream(_CHUNK, decode_content=False):
        received.extend(chunk)
        if len(received) > max_bytes:
            raise UploadTooLarge(f"The linked document is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise LinkUnreachable("Fetching the link took too long")
    return bytes(received)


def _download(url: str, settings: Settings) -> tuple[str, bytes, str | None]:
    """(final URL, body, Content-Disposition) of a GET that follows checked redirects."""
    deadline = time.monotonic() + settings.resume_fetch_timeout_seconds
    for _hop in range(settings.resume_fetch_max_redirects + 1):
        scheme, host, port, path = _checked_target(url, settings)
        address = _checked_address(host, port, settings)
        pool = None
        try:
            pool, response = _open(scheme, host, port, path, address, deadline)
            try:
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise LinkUnreachable("The link redirected without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise LinkUnreachable(f"The link answered HTTP {response.status}")
                data = _read_capped(response, settings.upload_max_bytes, deadline)
                return url, data, response.headers.get("Content-Disposition")
            finally:
                response.release_conn()
        except Urllib3Error as exc:
            log.warning("resume link fetch failed", extra={"host": host, "error": str(exc)})
            raise LinkUnreachable(f"The link could not be fetched ({type(exc).__name__})") from None
        finally:
            if pool is not None:
                pool.close()
    raise LinkRefused(f"The link redirected more than {settings.resume_fetch_max_redirects} times")


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
