"""A job's own page, read for what an application to it needs: title, company, description.

Job pages publish a schema.org `JobPosting` as JSON-LD for search engines, so that is read
first. A page without one is read as a page: `og:title`, else the first `<h1>`, else
`<title>` for the title; `og:site_name` for the company; the text of `<main>` or `<article>`,
else the meta description, for the description. Whatever the page does not say stays None:
the caller asks the user instead of guessing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import lxml.etree
import lxml.html

from server.agent.sources.base import clean_line, escaped_html_to_text, html_to_text
from server.security_manager.outbound import OutboundClient, OutboundError

log = logging.getLogger("server.agent.posting_page")

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5  # careers sites redirect to their job boards, and those to a locale
MAX_DESCRIPTION_CHARS = 50_000
ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


class PageUnreadable(Exception):  # noqa: N818 - reads as an outcome
    """The page could not be read (refused, unreachable, an HTTP error, not HTML)."""


@dataclass(frozen=True)
class PostingPage:
    title: str | None
    company: str | None
    description: str


def read_posting(*, url: str, client: OutboundClient) -> PostingPage:
    """Fetch the page through the (guarded) client and read the posting from it."""
    try:
        response = client.get(url, headers={"Accept": ACCEPT}, max_bytes=MAX_PAGE_BYTES)
    except OutboundError as error:
        raise PageUnreadable(str(error)) from None
    if response.status != 200:
        raise PageUnreadable(f"the page answered HTTP {response.status}")
    content_type = response.headers.get("Content-Type", "").lower()
    if content_type and "html" not in content_type:
        raise PageUnreadable(f"the page is not HTML ({content_type.split(';')[0]})")
    charset = None
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].split(";")[0].strip(" \"'") or None
    return parse_posting_page(response.body, charset=charset)


def parse_posting_page(body: bytes, *, charset: str | None = None) -> PostingPage:
    """The title, company and description a page gives (JSON-LD first, then the page)."""
    if not body.strip():
        return PostingPage(None, None, "")
    try:
        parser = lxml.html.HTMLParser(encoding=charset) if charset else None
        document = lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.ParserError, LookupError, ValueError):
        return PostingPage(None, None, "")
    posting = _json_ld_posting(document) or {}
    title = clean_line(posting.get("title") or posting.get("name"), 500)
    company = clean_line(_organisation_name(posting.get("hiringOrganization")), 255)
    description = _description_text(posting.get("description"))
    title = title or clean_line(
        _meta(document, "og:title")
        or _first_text(document, "//h1")
        or _first_text(document, "//title"),
        500,
    )
    company = company or clean_line(_meta(document, "og:site_name"), 255)
    if not description:
        description = _main_text(document) or (
            clean_line(_meta(document, "og:description") or _meta(document, "description"), 5000)
            or ""
        )
    return PostingPage(title, company, description[:MAX_DESCRIPTION_CHARS])


def _json_ld_posting(document) -> dict[str, Any] | None:
    for script in document.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "", strict=False)
        except ValueError:
            continue
        found = _find_job_posting(data, depth=0)
        if found is not None:
            return found
    return None


def _find_job_posting(data: Any, *, depth: int) -> dict[str, Any] | None:
    if depth > 4:
        return None
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        kind = data.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "JobPosting" in kinds:
            return data
        items = data.get("@graph") if isinstance(data.get("@graph"), list) else []
    else:
        return None
    for item in items:
        found = _find_job_posting(item, depth=depth + 1)
        if found is not None:
            return found
    return None


def _organisation_name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) else None


def _description_text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    if "&lt;" in value and "<" not in value:  # HTML escaped once more, as some boards send
        return escaped_html_to_text(value)
    return html_to_text(value)


def _meta(document, name: str) -> str | None:
    for node in document.xpath("//meta[@property=$name or @name=$name]/@content", name=name):
        if str(node).strip():
            return str(node)
    return None


def _first_text(document, path: str) -> str | None:
    for node in document.xpath(path):
        text = node.text_content().strip()
        if text:
            return text
    return None


def _main_text(document) -> str:
    for node in document.xpath("//main | //article"):
        text = html_to_text(lxml.html.tostring(node, encoding="unicode"))
        if text:
            return text
    return ""
