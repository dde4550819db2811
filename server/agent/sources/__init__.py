"""Posting sources: one module per job board, and a search over several boards at once.

Each module declares its board (`BOARD`, a `board.Board`: where the postings are, how they
page) and maps one raw posting to a `NormalizedPosting`; `Board.fetch` reads every board the
same way. `fetch_all` asks the chosen boards in parallel threads; a board that fails (down,
timing out, answering garbage) is reported in its status and the others carry on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from server.agent.sources import (
    arbeitnow,
    ashby,
    greenhouse,
    lever,
    recruitee,
    remoteok,
    remotive,
    smartrecruiters,
    workable,
)
from server.agent.sources.base import (
    BoardClient,
    ClientOptions,
    NormalizedPosting,
    SearchQuery,
    SourceError,
    web_link,
)
from server.agent.sources.board import Board
from server.core.config import JOB_BOARDS, Settings

log = logging.getLogger("server.agent.sources")

SOURCES: dict[str, Board] = {
    module.BOARD.name: module.BOARD
    for module in (
        greenhouse,
        lever,
        ashby,
        recruitee,
        workable,
        smartrecruiters,
        remoteok,
        remotive,
        arbeitnow,
    )
}
assert tuple(SOURCES) == JOB_BOARDS, "every configured board is declared"  # noqa: S101


@dataclass
class SourceStatus:
    """How one board's part of a search went."""

    source: str
    status: str = "ok"  # ok, partial (some companies failed), failed, skipped (no companies)
    count: int = 0
    requests: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "count": self.count,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
        }


def boards_without_companies(
    sources: Sequence[str], companies: Mapping[str, Sequence[str]]
) -> list[str]:
    """The boards among `sources` that list one company at a time and were given no company
    slug: a search skips them."""
    return [
        source
        for source in dict.fromkeys(sources)
        if source in SOURCES and SOURCES[source].needs_companies and not companies.get(source)
    ]


COMPANIES_HINT = "give the search's `companies`, or set JOB_SEARCH_COMPANIES"


def boards_and_companies(
    payload: Mapping[str, Any], settings: Settings
) -> tuple[list[str], dict[str, Any]]:
    """The boards a search asks (the payload's, else JOB_SEARCH_SOURCES) and the company slugs
    per board (the payload's over JOB_SEARCH_COMPANIES)."""
    sources = list(payload.get("sources") or settings.job_search_sources)
    return sources, {**settings.job_search_companies, **(payload.get("companies") or {})}


def unsearchable_message(sources: list[str], companies: Mapping[str, Any]) -> str | None:
    """Why a search can ask no board at all (every board it names needs company slugs and has
    none), or None when it can ask one."""
    skipped = boards_without_companies(sources, companies)
    if not sources or len(skipped) < len(dict.fromkeys(sources)):
        return None
    return (
        f"no board can be searched: {', '.join(skipped)} list one company at a time and no "
        f"company slug was given; {COMPANIES_HINT}"
    )


def fetch_source(
    source: str,
    *,
    settings: Settings,
    query: SearchQuery,
    companies: Sequence[str],
    client_factory: Callable[[ClientOptions], BoardClient] = BoardClient,
    boards: Mapping[str, Board] = SOURCES,
) -> tuple[list[NormalizedPosting], SourceStatus]:
    """One board's postings for the query (each company in turn) and how that went."""
    board = boards[source]
    status = SourceStatus(source)
    started = time.monotonic()
    targets: Sequence[str | None] = companies if board.needs_companies else (None,)
    postings: list[NormalizedPosting] = []
    if not targets:
        status.status = "skipped"
        status.errors.append("no companies to search on this board")
        return postings, status
    failed = 0
    options = ClientOptions.for_source(settings, source, base_url=board.base_url)
    with client_factory(options) as client:
        for company in targets:
            try:
                found = board.fetch(client, query, company)
            except SourceError as exc:
                failed += 1
                where = f"{company}: " if company else ""
                status.errors.append(f"{where}{exc}")
                log.warning(
                    "job board failed",
                    extra={"source": source, "company": company, "problem": str(exc)},
                )
                continue
            for posting in found:
                posting.apply_url = web_link(posting.apply_url)
            postings.extend(found)
        status.requests = client.requests_made
    if failed == len(targets):
        status.status = "failed"
    elif failed:
        status.status = "partial"
    status.count = len(postings)
    status.seconds = time.monotonic() - started
    return postings, status


def fetch_all(
    *,
    settings: Settings,
    query: SearchQuery,
    sources: Sequence[str],
    companies: Mapping[str, Sequence[str]],
    boards: Mapping[str, Board] = SOURCES,
) -> tuple[list[NormalizedPosting], list[SourceStatus]]:
    """Every chosen board's postings, fetched in parallel, with one status per board
    (`boards`: the declared boards by name)."""
    chosen = [source for source in dict.fromkeys(sources) if source in boards]
    if not chosen:
        return [], []
    workers = min(settings.job_search_max_workers, len(chosen))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job-board") as pool:
        futures = [
            pool.submit(
                fetch_source,
                source,
                settings=settings,
                query=query,
                companies=tuple(dict.fromkeys(companies.get(source, ()))),
                boards=boards,
            )
            for source in chosen
        ]
        results = []
        for source, future in zip(chosen, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:  # a mapping bug in one board must not sink the search
                log.exception("job board source crashed", extra={"source": source})
                results.append(([], SourceStatus(source, "failed", errors=[repr(exc)[:300]])))
    postings = [posting for found, _status in results for posting in found]
    return postings, [status for _found, status in results]


__all__ = [
    "COMPANIES_HINT",
    "SOURCES",
    "Board",
    "BoardClient",
    "ClientOptions",
    "NormalizedPosting",
    "SearchQuery",
    "SourceError",
    "SourceStatus",
    "boards_and_companies",
    "boards_without_companies",
    "fetch_all",
    "fetch_source",
    "unsearchable_message",
]
