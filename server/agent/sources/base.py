"""What every posting source shares: the normalised posting, the HTTP client, text helpers.

The HTTP client is the guarded outbound client (`server.security_manager.outbound`): a board
that redirects to an internal address, or whose name resolves to one, is refused.

A board is declared once (`board.Board`) and read by `Board.fetch`, which raises
`SourceError` when the board cannot be read; the search records that and carries on with the
other boards.
"""

from __future__ import annotations

import html
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from server.core.config import Settings
from server.security_manager.outbound import (
    OutboundClient,
    OutboundPolicy,
    OutboundRefused,
    OutboundTimeout,
    OutboundTooLarge,
    OutboundUnavailable,
)

log = logging.getLogger("server.agent.sources")

EMPLOYMENT_TYPES = ("full_time", "part_time", "contract", "internship", "temporary")
RETRY_BASE_SECONDS = 0.5
DETAIL_CONCURRENCY = 4  # detail requests in flight at once to one board
MAX_DESCRIPTION_CHARS = 100_000
MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # one board answer (Greenhouse sends a whole board)
MAX_REDIRECTS = 3


class SourceError(Exception):
    """A board could not be read (down, refused, answered garbage): the search goes on."""


@dataclass
class NormalizedPosting:
    """One posting in the shape every board is mapped to."""

    source: str
    external_id: str
    company: str
    title: str
    location: str | None = None
    remote: bool = False
    employment_type: str | None = None
    salary_min: int | None = None
    salary_max: int | None = None
    salary_currency: str | None = None
    description: str = ""
    posted_at: datetime | None = None
    apply_url: str | None = None
    # [{"id", "label", "type", "required", "options"}]
    questions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchQuery:
    """What the user searches for; sources may narrow their requests with it."""

    keywords: tuple[str, ...]
    location: str | None = None
    remote: bool | None = None
    posted_within_days: int | None = None


@dataclass(frozen=True)
class ClientOptions:
    """How one source's client talks to its board (from settings)."""

    base_url: str
    timeout_seconds: float
    retries: int
    retry_max_seconds: float
    max_pages: int
    max_detail_requests: int
    user_agent: str
    policy: OutboundPolicy = OutboundPolicy()

    @classmethod
    def for_source(
        cls, settings: Settings, source: str, *, base_url: str | None = None
    ) -> ClientOptions:
        """The settings' options for `source`; its base URL is the `<source>_base_url`
        setting, else `base_url` (a board declared outside the settings)."""
        return cls(
            base_url=getattr(settings, f"{source}_base_url", base_url),
            timeout_seconds=settings.job_search_timeout_seconds,
            retries=settings.job_search_retries,
            retry_max_seconds=settings.job_search_retry_max_seconds,
            max_pages=settings.job_search_max_pages,
            max_detail_requests=settings.job_search_max_detail_requests,
            user_agent=f"{settings.job_search_user_agent} (+{settings.public_base_url})",
            policy=OutboundPolicy.of(settings),
        )


class BoardClient:
    """GETs JSON from one board: a User-Agent, a timeout, retries with backoff, 429 handling."""

    def __init__(self, options: ClientOptions):
        self.options = options
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._http = OutboundClient(
            policy=options.policy,
            user_agent=options.user_agent,
            timeout_seconds=options.timeout_seconds,
            max_bytes=MAX_RESPONSE_BYTES,
            max_redirects=MAX_REDIRECTS,
            headers={"Accept": "application/json"},
            connections_per_host=DETAIL_CONCURRENCY,
        )

    def __enter__(self) -> BoardClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, path: str, *, company: str | None = None) -> str:
        """The base URL (with `{company}` filled in where it names one) joined with a path."""
        base = self.options.base_url
        if "{company}" in base:
            base = base.replace("{company}", company or "")
        return base + path

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON body of a GET; retries what may pass, raises `SourceError`."""
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            with self._count_lock:
                self.requests_made += 1
            try:
                response = self._http.get(url, params=params)
            except OutboundRefused as refused:
                raise SourceError(f"refused: {refused}") from None
            except OutboundTooLarge:
                raise SourceError(f"answered more than {MAX_RESPONSE_BYTES} bytes") from None
            except OutboundTimeout:
                problem = f"timed out after {self.options.timeout_seconds:g} s"
                wait = None
            except OutboundUnavailable as failure:
                problem = f"unreachable ({failure})"
                wait = None
            else:
                status = response.status
                if status == 200:
                    return _decode(response)
                problem = f"answered HTTP {status}"
                if status != 429 and status < 500:
                    raise SourceError(problem)
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if last:
                raise SourceError(problem)
            delay = self._delay(attempt, wait)
            log.info(
                "board request failed; retrying",
                extra={"url": url, "problem": problem, "retry_in": round(delay, 3)},
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json_each(self, urls: list[str], params: dict[str, Any] | None = None) -> list[Any]:
        """`get_json` of each URL, a few at once; a URL that failed gives its `SourceError`."""

        def one(url: str) -> Any:
            try:
                return self.get_json(url, params=params)
            except SourceError as exc:
                return exc

        if len(urls) <= 1:
            return [one(url) for url in urls]
        with ThreadPoolExecutor(max_workers=min(DETAIL_CONCURRENCY, len(urls))) as pool:
            return list(pool.map(one, urls))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = self.options.retry_max_seconds
        if retry_after is not None:
            return min(retry_after, cap)
        backoff = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
        return min(cap, random.uniform(backoff / 2, backoff))  # noqa: S311 - jitter


def _decode(response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SourceError("answered something that is not JSON") from None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def expect(condition: bool, what: str) -> None:
    """Raise `SourceError` when a board's answer does not have the shape it documents."""
    if not condition:
        raise SourceError(f"answered an unexpected shape: {what}")


# --- text ------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table section article header footer blockquote "
    "pre hr dt dd".split()
)
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment: tags dropped (scripts and styles with their content),
    entities decoded once, blank runs collapsed, block elements on lines of their own."""
    if not markup:
        return ""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:MAX_DESCRIPTION_CHARS]


def escaped_html_to_text(escaped: str | None) -> str:
    """Plain text of HTML that was entity-escaped once more (`&lt;p&gt;`), as Greenhouse sends."""
    return html_to_text(html.unescape(escaped or ""))


def web_link(url: str | None) -> str | None:
    """A board's link when it is one a browser may follow (http, https with a host, or
    mailto), else None: a `javascript:` or `data:` "apply URL" would run in the client."""
    if not url:
        return None
    scheme, _, rest = url.partition(":")
    scheme = scheme.strip().lower()
    if scheme == "mailto" and rest:
        return url
    if scheme in ("http", "https") and rest.startswith("//") and len(rest) > 2:
        return url
    return None


def clean_line(value: Any, limit: int = 500) -> str | None:
    """A one-line string (whitespace collapsed, cut to `limit`), or None when empty."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", html.unescape(str(value))).strip()
    return text[:limit] or None


# --- values ----------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime | None:
    """A UTC datetime from ISO 8601 text, epoch seconds or epoch milliseconds; None if unknown."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value  # milliseconds past 2286
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return parse_timestamp(int(text))
    text = re.sub(r"\s*UTC$", "+00:00", text).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_EMPLOYMENT_WORDS = (
    ("intern", "internship"),
    ("trainee", "internship"),
    ("part", "part_time"),
    ("contract", "contract"),
    ("freelance", "contract"),
    ("temp", "temporary"),
    ("full", "full_time"),
    ("permanent", "full_time"),
)


def employment_type(value: Any) -> str | None:
    """One of `EMPLOYMENT_TYPES` for a board's wording ("Full-time", "FullTime", "full_time")."""
    text = re.sub(r"[^a-z]", "", str(value or "").lower())
    if not text:
        return None
    for word, kind in _EMPLOYMENT_WORDS:
        if text.startswith(word) or word in text:
            return kind
    return None


def whole_number(value: Any) -> int | None:
    """An int from a number or numeric text, None otherwise (and for absurd values)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(float(str(value).replace(",", "")))
    except ValueError:
        return None
    return number if 0 < number < 2_000_000_000 else None


_MONEY = re.compile(r"(\d+(?:[.,]\d+)?)\s*([kK])?")
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP"}


def salary_from_text(text: Any) -> tuple[int | None, int | None, str | None]:
    """(min, max, currency) from free text like "$100k - $120k"; Nones when it says none."""
    if not isinstance(text, str) or not text.strip():
        return None, None, None
    amounts = []
    for number, thousands in _MONEY.findall(text):
        value = float(number.replace(",", ""))
        amounts.append(int(value * 1000) if thousands else int(value))
    amounts = [a for a in amounts if a >= 1000]
    if not amounts:
        return None, None, None
    currency = next((code for sign, code in _CURRENCY_SIGNS.items() if sign in text), None)
    if currency is None:
        found = re.search(r"\b(USD|EUR|GBP|CAD|AUD|CHF)\b", text.upper())
        currency = found.group(1) if found else None
    return min(amounts), max(amounts), currency


def _words(text: str) -> list[str]:
    return [word.strip(".") for word in re.findall(r"[\w+#.]+", text.lower())]


def matches_keywords(posting: NormalizedPosting, keywords: tuple[str, ...]) -> bool:
    """Whether every word of at least one keyword phrase is in the title or description."""
    if not keywords:
        return True
    words = set(_words(f"{posting.title}\n{posting.description}"))
    return any(
        (phrase_words := _words(phrase)) and all(word in words for word in phrase_words)
        for phrase in keywords
    )


def title_matches_keywords(title: str, keywords: tuple[str, ...]) -> bool:
    """Whether the title alone has every word of some phrase (boards without descriptions)."""
    return matches_keywords(NormalizedPosting("", "", "", title), keywords)
