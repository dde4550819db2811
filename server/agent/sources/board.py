"""A job board as a declaration, and the one way every board is read.

A board module declares a `Board` (where its postings list is, how it pages) and the function
mapping one raw posting to a `NormalizedPosting`. `Board.fetch` does the rest alike for every
board: GET each page, check the answer's shape, map, keep what matches the keywords, then read
the first few postings' details where the list leaves something out.

The base URL is the `<name>_base_url` setting, else the declaration's `base_url`; `{company}`
in it or in a path is the company slug of a board listing one company at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.agent.sources.base import (
    BoardClient,
    NormalizedPosting,
    SearchQuery,
    clean_line,
    expect,
    matches_keywords,
    title_matches_keywords,
)


@dataclass(frozen=True)
class NumberedPages:
    """Pages asked for by number from 1; the last one is empty or has no next link."""

    param: str = "page"
    next_link_at: tuple[str, ...] = ("links", "next")  # keys down to the next page's link

    def params(self, number: int, _offset: int) -> dict[str, Any]:
        return {self.param: number}

    def is_last(self, body: Any, postings: list[Any], _offset: int) -> bool:
        link = body
        for key in self.next_link_at:
            link = link.get(key) if isinstance(link, dict) else None
        return not postings or not link


@dataclass(frozen=True)
class OffsetPages:
    """Pages of `size` asked for by offset; the last one is short or reaches the total the
    board gives under `total_at`."""

    offset_param: str = "offset"
    limit_param: str = "limit"
    size: int = 100
    total_at: str | None = None

    def params(self, _number: int, offset: int) -> dict[str, Any]:
        return {self.offset_param: offset, self.limit_param: self.size}

    def is_last(self, body: Any, postings: list[Any], offset: int) -> bool:
        total = body.get(self.total_at) if self.total_at and isinstance(body, dict) else None
        return len(postings) < self.size or (isinstance(total, int) and offset >= total)


@dataclass(frozen=True)
class Detail:
    """One more request per matching posting (`{company}`, `{id}` filled in), for what the
    list leaves out; `add` puts an answer's parts into the posting."""

    path: str
    add: Callable[[NormalizedPosting, dict[str, Any]], None]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Board:
    """What one job board is: where its postings are and how one maps to ours."""

    name: str
    path: str  # the list's path under the base URL
    # One raw posting and its company (the slug, or the name at `company_name_at`) as ours;
    # None skips it (not a posting, or no id or title).
    to_posting: Callable[[dict[str, Any], str], NormalizedPosting | None]
    postings_at: str | None = None  # the answer's key holding the list; None: the answer is it
    needs_companies: bool = False  # lists one company per request: a search names slugs
    params: Mapping[str, Any] = field(default_factory=dict)
    search_param: str | None = None  # the board itself searches for a lone keyword phrase
    paging: NumberedPages | OffsetPages | None = None  # None: the whole list in one answer
    company_name_at: str | None = None  # the answer's key naming the company
    descriptions_in_list: bool = True  # False: keywords are matched against titles alone
    detail: Detail | None = None
    base_url: str | None = None  # for a board with no `<name>_base_url` setting

    def fetch(
        self, client: BoardClient, query: SearchQuery, company: str | None
    ) -> list[NormalizedPosting]:
        """The postings (of `company` on a company board) matching the query's keywords;
        raises `SourceError` when the board cannot be read."""
        slug = company or ""
        params = dict(self.params)
        if self.search_param and len(query.keywords) == 1:
            params[self.search_param] = query.keywords[0]
        url = client.url(_fill(self.path, company=slug), company=company)
        postings: list[NormalizedPosting] = []
        for body, items in self._pages(client, url, params):
            name = slug
            if self.company_name_at and isinstance(body, dict):
                name = clean_line(body.get(self.company_name_at)) or slug
            postings.extend(
                posting
                for item in items
                if isinstance(item, dict) and (posting := self.to_posting(item, name)) is not None
            )
        if self.descriptions_in_list:
            postings = [p for p in postings if matches_keywords(p, query.keywords)]
        else:
            postings = [p for p in postings if title_matches_keywords(p.title, query.keywords)]
        if self.detail:
            detailed = postings[: client.options.max_detail_requests]
            urls = [
                client.url(_fill(self.detail.path, company=slug, id=p.external_id), company=company)
                for p in detailed
            ]
            answers = client.get_json_each(urls, params=dict(self.detail.params) or None)
            for posting, answer in zip(detailed, answers, strict=True):
                if isinstance(answer, dict):  # a failed detail leaves the posting as listed
                    self.detail.add(posting, answer)
        return postings

    def postings_in(self, body: Any) -> list[Any]:
        """The raw postings in one answer; raises `SourceError` when they are not there."""
        if self.postings_at is None:
            expect(isinstance(body, list), "not a list of postings")
            return body
        listed = body.get(self.postings_at) if isinstance(body, dict) else None
        expect(isinstance(listed, list), f"no `{self.postings_at}` list")
        return listed

    def _pages(self, client: BoardClient, url: str, params: dict) -> Iterator[tuple[Any, list]]:
        """Each answer with its raw postings, to the last page or the page budget."""
        if self.paging is None:
            body = client.get_json(url, params=params or None)
            yield body, self.postings_in(body)
            return
        offset = 0
        for number in range(1, client.options.max_pages + 1):
            body = client.get_json(url, params={**params, **self.paging.params(number, offset)})
            items = self.postings_in(body)
            yield body, items
            offset += len(items)
            if self.paging.is_last(body, items, offset):
                return


def _fill(template: str, **values: str) -> str:
    """`template` with each `{name}` replaced by its value, in one pass."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
