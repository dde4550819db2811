"""Postings: the `job_search` job's work (fetch, rank, store) and the user's posting list."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from server.agent import posting_search
from server.agent.posting_search import Candidate
from server.agent.sources import COMPANIES_HINT, SearchQuery, boards_and_companies, fetch_all
from server.agent.sources import unsearchable_message as unsearchable_message
from server.core.config import get_settings
from server.core.errors import NotFound
from server.core.extensions import db
from server.core.pagination import paginate
from server.models import Posting, Resume, utcnow
from server.services.ownership import get_owned

log = logging.getLogger("server.postings")

TOP_IN_RESULT = 10
_INSERT_CHUNK = 200
# Board fields a new listing of the same posting overwrites; the rest is the row's identity.
_BOARD_FIELDS = (
    "company",
    "title",
    "location",
    "remote",
    "employment_type",
    "salary_min",
    "salary_max",
    "salary_currency",
    "description",
    "posted_at",
    "apply_url",
    "questions",
)
_SEARCH_FIELDS = ("score", "score_breakdown", "dedupe_key", "also_on", "search_job_id")


def latest_parsed_resume(*, user_id: int) -> Resume | None:
    """The user's newest resume that has a parsed structure, or None."""
    return db.session.scalars(
        select(Resume)
        .where(Resume.user_id == user_id, Resume.parsed.is_not(None))
        .order_by(Resume.created_at.desc())
        .limit(1)
    ).first()


def applied_posting_keys(*, user_id: int) -> set[str]:
    """Dedupe keys and `source:external_id` of the postings this user has applied to (an
    application in any state but withdrawn); the search drops those postings."""
    from server.services.applications import applied_posting_ids

    ids = applied_posting_ids(user_id=user_id)
    if not ids:
        return set()
    rows = db.session.execute(
        select(Posting.dedupe_key, Posting.source, Posting.external_id).where(Posting.id.in_(ids))
    )
    keys: set[str] = set()
    for dedupe, source, external_id in rows:
        keys.update((dedupe, f"{source}:{external_id}"))
    return keys


def failure_message(statuses: list[dict[str, Any]]) -> str:
    """What a search none of whose boards answered tells its owner: each board and why, and
    the boards skipped for want of company slugs."""
    failed = [s for s in statuses if s["status"] == "failed"]
    parts = [f"{s['source']} ({_first_errors(s['errors'])})" for s in failed]
    message = "every job board failed: " + ", ".join(parts)
    skipped = [s["source"] for s in statuses if s["status"] == "skipped"]
    if skipped:
        message += f"; skipped, no company slugs: {', '.join(skipped)} ({COMPANIES_HINT})"
    return message


def _first_errors(errors: list[str], shown: int = 2) -> str:
    text = "; ".join(error[:200] for error in errors[:shown]) or "no answer"
    return text + (f"; {len(errors) - shown} more" if len(errors) > shown else "")


def search(
    *,
    user_id: int,
    job_id: str,
    payload: dict[str, Any],
    report_progress: Callable[[int, str], None] = lambda _p, _m: None,
    check_cancelled: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Run one posting search for the user: fetch the boards, rank, store; the job's result."""
    settings = get_settings()
    started = time.monotonic()
    query = SearchQuery(
        keywords=tuple(payload["keywords"]),
        location=payload.get("location"),
        remote=payload.get("remote"),
        posted_within_days=payload.get("posted_within_days"),
    )
    sources, companies = boards_and_companies(payload, settings)
    resume = latest_parsed_resume(user_id=user_id)
    profile = posting_search.resume_profile(resume.parsed if resume else None)
    resume_id = str(resume.id) if resume else None
    applied = applied_posting_keys(user_id=user_id)
    db.session.rollback()  # no transaction held open while the boards answer
    report_progress(5, f"searching {len(sources)} boards")

    found, statuses = fetch_all(
        settings=settings, query=query, sources=sources, companies=companies
    )
    fetched = time.monotonic()
    check_cancelled()
    report_progress(70, f"ranking {len(found)} postings")

    now = utcnow()
    wanted = posting_search.keep_wanted(found, query, now=now)
    unique = posting_search.deduplicate(wanted)
    fresh, already_applied = posting_search.drop_already_applied(unique, applied)
    ranked = posting_search.rank(fresh, profile, query, now=now)
    kept = ranked[: settings.job_search_max_stored]
    scored = time.monotonic()
    check_cancelled()
    report_progress(90, f"storing {len(kept)} postings")

    ids = store(user_id=user_id, job_id=job_id, candidates=kept)
    top = [
        {
            "posting_id": ids[(c.posting.source, c.posting.external_id)],
            "score": c.score,
            "title": c.posting.title,
            "company": c.posting.company,
            "source": c.posting.source,
        }
        for c in kept[:TOP_IN_RESULT]
    ]
    result = {
        "sources": [status.as_dict() for status in statuses],
        "failed_sources": [s.source for s in statuses if s.status == "failed"],
        "skipped_sources": [s.source for s in statuses if s.status == "skipped"],
        "found": len(found),
        "matching": len(wanted),
        "unique": len(unique),
        "already_applied": already_applied,
        "stored": len(kept),
        "resume_id": resume_id,
        "top": top,
        "timings": {
            "fetch_seconds": round(fetched - started, 3),
            "rank_seconds": round(scored - fetched, 3),
            "store_seconds": round(time.monotonic() - scored, 3),
        },
    }
    log.info(
        "posting search done",
        extra={"job_id": job_id, "found": len(found), "stored": len(kept)},
    )
    return result


def _row(candidate: Candidate, *, user_id: int, job_id: str, now: Any) -> dict[str, Any]:
    posting = candidate.posting
    row = {name: getattr(posting, name) for name in _BOARD_FIELDS}
    row.update(
        user_id=user_id,
        source=posting.source,
        external_id=posting.external_id,
        title=posting.title[:500],
        company=posting.company[:255],
        location=posting.location[:500] if posting.location else None,
        score=candidate.score,
        score_breakdown=candidate.breakdown,
        dedupe_key=candidate.dedupe_key,
        also_on=candidate.also_on,
        search_job_id=job_id,
        fetched_at=now,
        created_at=now,
        updated_at=now,
    )
    return row


def _insert_statement(rows: list[dict[str, Any]]):
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Posting).values(rows)
    changed = {
        name: statement.excluded[name]
        for name in (*_BOARD_FIELDS, *_SEARCH_FIELDS, "fetched_at", "updated_at")
    }
    return statement.on_conflict_do_update(
        index_elements=["user_id", "source", "external_id"], set_=changed
    ).returning(Posting.id, Posting.source, Posting.external_id)


def store(
    *, user_id: int, job_id: str, candidates: Iterable[Candidate]
) -> dict[tuple[str, str], int]:
    """Upsert the ranked postings for the user (own transaction); ids by (source, external id).

    A posting is the same row when the board and its id match, or when a row of another
    board has its dedupe key (that row keeps its listing and takes the new score).
    """
    candidates = list(candidates)
    ids: dict[tuple[str, str], int] = {}
    if not candidates:
        return ids
    now = utcnow()
    keys = {c.dedupe_key for c in candidates}
    idents = {(c.posting.source, c.posting.external_id) for c in candidates}
    existing = db.session.execute(
        select(Posting.id, Posting.source, Posting.external_id, Posting.dedupe_key).where(
            Posting.user_id == user_id,
            Posting.dedupe_key.in_(keys),
        )
    ).all()
    by_key = {row.dedupe_key: row for row in existing}
    rows = []
    seen: set[tuple[str, str]] = set()
    for candidate in candidates:
        ident = (candidate.posting.source, candidate.posting.external_id)
        if ident in seen:
            continue  # one statement may not update a row twice
        seen.add(ident)
        other = by_key.get(candidate.dedupe_key)
        if other is not None and (other.source, other.external_id) not in idents:
            # The job is already stored from another board: keep that row, refresh its rank.
            db.session.execute(
                update(Posting)
                .where(Posting.id == other.id)
                .values(
                    score=candidate.score,
                    score_breakdown=candidate.breakdown,
                    also_on=[
                        {
                            "source": candidate.posting.source,
                            "external_id": candidate.posting.external_id,
                            "apply_url": candidate.posting.apply_url,
                        },
                        *candidate.also_on,
                    ],
                    search_job_id=job_id,
                    fetched_at=now,
                    updated_at=now,
                )
            )
            ids[ident] = other.id
            continue
        rows.append(_row(candidate, user_id=user_id, job_id=job_id, now=now))
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        for row in db.session.execute(_insert_statement(chunk)):
            ids[(row.source, row.external_id)] = row.id
    db.session.commit()
    return ids


# --- the user's postings ---------------------------------------------------------------------


def _filtered(
    user_id: int,
    *,
    source: str | None,
    remote: bool | None,
    min_score: int | None,
    q: str | None,
) -> Select:
    query = select(Posting).where(Posting.user_id == user_id)
    if source:
        query = query.where(Posting.source == source)
    if remote is not None:
        query = query.where(Posting.remote.is_(remote))
    if min_score is not None:
        query = query.where(Posting.score >= min_score)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Posting.title.ilike(pattern, escape="\\"),
                Posting.company.ilike(pattern, escape="\\"),
                Posting.location.ilike(pattern, escape="\\"),
            )
        )
    # Among equal scores, the order the search ranked them in (rows are inserted in it).
    return query.order_by(Posting.score.desc(), Posting.id.asc())


def get_all(
    *,
    user_id: int,
    page: int,
    per_page: int,
    source: str | None = None,
    remote: bool | None = None,
    min_score: int | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """One page of the user's postings, best score first."""
    query = _filtered(user_id, source=source, remote=remote, min_score=min_score, q=q)
    page_of = paginate(query, page=page, per_page=per_page)
    return {"items": [describe(p) for p in page_of["items"]], "meta": page_of["meta"]}


def get(*, user_id: int, posting_id: int) -> dict[str, Any]:
    """One posting of the user, with its description and questions; 404 for anyone else's."""
    if not 0 < posting_id < 2**31:  # no row has such an id (and PostgreSQL's integer ends there)
        raise NotFound(resource="posting")
    posting = get_owned(Posting, object_id=posting_id, user_id=user_id, object_type="posting")
    return describe(posting, full=True)


def describe(posting: Posting, *, full: bool = False) -> dict[str, Any]:
    """The client view of a posting (the list leaves the description and questions out)."""
    view: dict[str, Any] = {
        "id": posting.id,
        "source": posting.source,
        "external_id": posting.external_id,
        "company": posting.company,
        "title": posting.title,
        "location": posting.location,
        "remote": posting.remote,
        "employment_type": posting.employment_type,
        "salary": {
            "min": posting.salary_min,
            "max": posting.salary_max,
            "currency": posting.salary_currency,
        },
        "posted_at": posting.posted_at,
        "apply_url": posting.apply_url,
        "score": posting.score,
        "score_breakdown": posting.score_breakdown,
        "also_on": posting.also_on,
        "fetched_at": posting.fetched_at,
    }
    if full:
        view["description"] = posting.description
        view["questions"] = posting.questions
        view["search_job_id"] = posting.search_job_id
    return view
