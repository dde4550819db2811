"""Postings from several boards made into one ranked list: filtered, deduplicated, scored.

Scores are 0-100 against the user's resume, the sum of five weighted parts, each explained in
`score_breakdown` so a user sees why a posting ranks where it does:

| part | weight | what it compares |
|---|---|---|
| skills | 40 | vocabulary terms the posting names that the resume has |
| title | 25 | the posting's title against the search keywords and the resume's job titles |
| seniority | 10 | the posting's level against the resume's (titles, years of experience) |
| location | 15 | remote, or the wanted place (the search's location, else the resume's) |
| recency | 10 | days since the posting was published |
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from server.agent.engines.vocabulary import canonical_terms
from server.agent.sources.base import NormalizedPosting, SearchQuery

WEIGHTS = {"skills": 40, "title": 25, "seniority": 10, "location": 15, "recency": 10}
LEVELS = ("intern", "junior", "mid", "senior", "staff", "principal")
_LEVEL_WORDS = (
    ("principal", r"\b(?:principal|distinguished|director|head of|vp)\b"),
    ("staff", r"\b(?:staff|lead|architect)\b"),
    ("senior", r"\b(?:senior|sr\.?|iii)\b"),
    ("junior", r"\b(?:junior|jr\.?|entry[- ]level|graduate|associate)\b"),
    ("intern", r"\b(?:intern|internship|trainee|werkstudent)\b"),
    ("mid", r"\b(?:mid(?:-level)?|intermediate|ii)\b"),
)
_COMPANY_SUFFIXES = re.compile(
    r"\b(?:inc|llc|ltd|limited|gmbh|ag|sa|sas|bv|plc|corp|corporation|co|company|se)\b"
)
_TITLE_NOISE = re.compile(r"\((?:[mwfdx]\s*/\s*)+[mwfdx]\)|\b(?:m|w|f|d)/(?:m|w|f|d)(?:/[mwfd])?\b")
_STOPWORDS = frozenset("a an and the of for in at to with on remote hybrid".split())
MAX_LISTED_TERMS = 12
RECENT_DAYS, STALE_DAYS = 7, 60


# --- the resume as the scorer sees it --------------------------------------------------------


@dataclass(frozen=True)
class ResumeProfile:
    """What scoring needs from a parsed resume."""

    skills: frozenset[str] = frozenset()
    titles: tuple[str, ...] = ()
    level: str | None = None
    location: str | None = None
    has_resume: bool = False


def resume_profile(parsed: dict[str, Any] | None, *, today: date | None = None) -> ResumeProfile:
    """The skills, past titles, level and home of a parsed resume (`Resume.parsed`)."""
    if not parsed:
        return ResumeProfile()
    skill_items = [
        str(item)
        for group in parsed.get("skills") or []
        if isinstance(group, dict)
        for item in group.get("items") or []
    ]
    experience = [e for e in parsed.get("experience") or [] if isinstance(e, dict)]
    texts = [*skill_items]
    for entry in experience:
        texts.extend(str(b) for b in entry.get("bullets") or [])
    for project in parsed.get("projects") or []:
        if isinstance(project, dict):
            texts.append(" ".join(str(v) for v in project.values() if isinstance(v, str)))
    if parsed.get("summary"):
        texts.append(str(parsed["summary"]))
    skills = set(canonical_terms("\n".join(texts)))
    if not skills and parsed.get("raw_text"):
        skills = set(canonical_terms(str(parsed["raw_text"])))
    contact = parsed.get("contact") or {}
    titles = tuple(
        str(title)
        for title in [contact.get("headline"), *(e.get("title") for e in experience)]
        if title
    )
    return ResumeProfile(
        skills=frozenset(skills),
        titles=titles,
        level=_resume_level(titles, experience, today or date.today()),
        location=contact.get("location") or None,
        has_resume=True,
    )


def _resume_level(titles: Sequence[str], experience: list[dict[str, Any]], today: date) -> str:
    if titles:
        level = level_of(titles[1] if len(titles) > 1 else titles[0])
        if level:
            return level
    years = _years_of_experience(experience, today)
    if years < 1:
        return "junior" if experience else "intern"
    return "junior" if years < 2 else "mid" if years < 5 else "senior"


def _years_of_experience(experience: list[dict[str, Any]], today: date) -> float:
    days = 0
    for entry in experience:
        start = _month(entry.get("start_date"))
        end = today if entry.get("is_current") else _month(entry.get("end_date"))
        if start and end and end > start:
            days += (end - start).days
    return days / 365.25


def _month(value: Any) -> date | None:
    match = re.match(r"^(\d{4})(?:-(\d{2}))?", str(value or ""))
    if not match:
        return None
    return date(int(match.group(1)), int(match.group(2) or 1), 1)


def level_of(title: str) -> str | None:
    """The seniority a job title names, or None when it names none."""
    lowered = title.lower()
    for level, pattern in _LEVEL_WORDS:
        if re.search(pattern, lowered):
            return level
    return None


# --- filtering and deduplication -------------------------------------------------------------


def keep_wanted(
    postings: Iterable[NormalizedPosting], query: SearchQuery, *, now: datetime
) -> list[NormalizedPosting]:
    """The postings that fit the search's remote, location and age conditions.

    A posting without a publication date is kept (its recency scores low); with a location,
    remote postings are kept unless the search asked for on-site ones (`remote: false`).
    """
    oldest = now - timedelta(days=query.posted_within_days) if query.posted_within_days else None
    wanted_place = _words(query.location or "")
    kept = []
    for posting in postings:
        if query.remote is not None and posting.remote != query.remote:
            continue
        if oldest and posting.posted_at and posting.posted_at < oldest:
            continue
        if wanted_place and not posting.remote:
            if not wanted_place & _words(posting.location or ""):
                continue
        kept.append(posting)
    return kept


def _normal(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9+#]+", text))


def _words(text: str) -> set[str]:
    return set(_normal(text).split()) - _STOPWORDS


def normal_title(title: str) -> str:
    """A title as compared across boards: case, accents, punctuation and "(m/w/d)" removed."""
    return _normal(_TITLE_NOISE.sub(" ", title.lower()))


def normal_company(company: str) -> str:
    """A company as compared across boards: legal suffixes and spaces removed, so a board that
    names it ("Northwind Labs") and one that only knows its slug ("northwindlabs") agree."""
    return "".join(_COMPANY_SUFFIXES.sub(" ", _normal(company)).split())


def normal_location(location: str | None) -> str:
    return " ".join(sorted(_words(location or "")))


def dedupe_key(posting: NormalizedPosting) -> str:
    """sha256 of company, normalised title and location: the same job on any board."""
    basis = "|".join(
        (
            normal_company(posting.company),
            normal_title(posting.title),
            normal_location(posting.location),
        )
    )
    return hashlib.sha256(basis.encode()).hexdigest()


def normal_url(url: str | None) -> str | None:
    """An apply URL as compared across boards: host lower-cased, no query, no trailing slash."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not parts.netloc:
        return None
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}"


@dataclass
class Candidate:
    """A posting kept after deduplication, with the boards that also listed it."""

    posting: NormalizedPosting
    dedupe_key: str
    also_on: list[dict[str, Any]] = field(default_factory=list)
    score: int = 0
    breakdown: dict[str, Any] = field(default_factory=dict)


def _richness(posting: NormalizedPosting) -> tuple[int, int, int]:
    return (len(posting.questions), int(posting.salary_min is not None), len(posting.description))


def deduplicate(postings: Iterable[NormalizedPosting]) -> list[Candidate]:
    """One candidate per job: the same company, normalised title and location, or the same
    apply URL, is one job. The richest listing (questions, salary, description) is kept."""
    by_key: dict[str, Candidate] = {}
    by_url: dict[str, Candidate] = {}
    candidates: list[Candidate] = []
    for posting in postings:
        key = dedupe_key(posting)
        url = normal_url(posting.apply_url)
        existing = by_key.get(key) or (by_url.get(url) if url else None)
        if existing is None:
            candidate = Candidate(posting, key)
            candidates.append(candidate)
        else:
            candidate = existing
            seen = candidate.posting
            if (seen.source, seen.external_id) == (posting.source, posting.external_id):
                continue  # the same listing twice (two companies' pages, a repeated page)
            if _richness(posting) > _richness(seen):
                candidate.posting, posting = posting, seen
            candidate.also_on.append(
                {
                    "source": posting.source,
                    "external_id": posting.external_id,
                    "apply_url": posting.apply_url,
                }
            )
        by_key.setdefault(key, candidate)
        if url:
            by_url.setdefault(url, candidate)
    return candidates


def drop_already_applied(
    candidates: Iterable[Candidate], applied_keys: set[str]
) -> tuple[list[Candidate], int]:
    """The candidates the user has not applied to, and how many were dropped.

    `applied_keys` holds the dedupe keys and `source:external_id` pairs of postings the user
    applied to (see `services.postings.applied_posting_keys`).
    """
    kept = []
    dropped = 0
    for candidate in candidates:
        posting = candidate.posting
        names = {candidate.dedupe_key, f"{posting.source}:{posting.external_id}"}
        names.update(f"{other['source']}:{other['external_id']}" for other in candidate.also_on)
        if names & applied_keys:
            dropped += 1
        else:
            kept.append(candidate)
    return kept, dropped


# --- scoring ---------------------------------------------------------------------------------


def score(
    candidate: Candidate,
    profile: ResumeProfile,
    query: SearchQuery,
    *,
    now: datetime,
    skills: frozenset[str] | None = None,
) -> None:
    """Fill the candidate's `score` (0-100) and its explained `breakdown`.

    `skills` is what the user has: the resume's skills and those the keywords name.
    """
    posting = candidate.posting
    if skills is None:
        skills = user_skills(profile, query)
    parts = {
        "skills": _skills_part(posting, skills),
        "title": _title_part(posting, profile, query),
        "seniority": _seniority_part(posting, profile),
        "location": _location_part(posting, profile, query),
        "recency": _recency_part(posting, now),
    }
    total = 0.0
    for name, part in parts.items():
        part["weight"] = WEIGHTS[name]
        part["points"] = round(part.pop("fraction") * WEIGHTS[name], 1)
        total += part["points"]
    candidate.score = max(0, min(100, round(total)))
    candidate.breakdown = parts


def user_skills(profile: ResumeProfile, query: SearchQuery) -> frozenset[str]:
    """The skills a posting is compared with: the resume's and the search keywords'."""
    return profile.skills | frozenset(canonical_terms("\n".join(query.keywords)))


def _skills_part(posting: NormalizedPosting, have: frozenset[str]) -> dict[str, Any]:
    wanted = canonical_terms(f"{posting.title}\n{posting.description}")
    if not wanted:
        return {"fraction": 0.5, "matched": [], "missing": [], "note": "names no known skills"}
    matched = [term for term in wanted if term in have]
    missing = [term for term in wanted if term not in have]
    return {
        "fraction": len(matched) / len(wanted),
        "matched": matched[:MAX_LISTED_TERMS],
        "missing": missing[:MAX_LISTED_TERMS],
    }


def _title_part(
    posting: NormalizedPosting, profile: ResumeProfile, query: SearchQuery
) -> dict[str, Any]:
    title_words = _words(normal_title(posting.title)) - {level for level in LEVELS}
    title_words -= {"sr", "jr", "senior", "junior", "lead", "staff", "principal"}
    best, best_against = 0.0, None
    for against in (*query.keywords, *profile.titles):
        words = _words(normal_title(against))
        if not words or not title_words:
            continue
        overlap = len(words & title_words) / len(words | title_words)
        # Every word of the search phrase in the title is a full match however long the title.
        if words <= title_words:
            overlap = 1.0
        if overlap > best:
            best, best_against = overlap, against
    return {"fraction": best, "best_match": best_against}


def _seniority_part(posting: NormalizedPosting, profile: ResumeProfile) -> dict[str, Any]:
    wanted = level_of(posting.title) or "mid"
    have = profile.level
    if have is None:
        return {"fraction": 0.5, "posting": wanted, "resume": None}
    distance = abs(LEVELS.index(wanted) - LEVELS.index(have))
    return {
        "fraction": {0: 1.0, 1: 0.6}.get(distance, 0.0),
        "posting": wanted,
        "resume": have,
    }


def _location_part(
    posting: NormalizedPosting, profile: ResumeProfile, query: SearchQuery
) -> dict[str, Any]:
    wanted = query.location or profile.location
    if posting.remote:
        return {"fraction": 1.0, "reason": "remote", "wanted": wanted}
    if not wanted:
        return {"fraction": 0.5, "reason": "no location wanted", "wanted": None}
    shared = _words(wanted) & _words(posting.location or "")
    if shared:
        return {"fraction": 1.0, "reason": "in the wanted place", "wanted": wanted}
    return {"fraction": 0.0, "reason": "elsewhere", "wanted": wanted}


def _recency_part(posting: NormalizedPosting, now: datetime) -> dict[str, Any]:
    if posting.posted_at is None:
        return {"fraction": 0.3, "days_old": None}
    days = max(0.0, (now - posting.posted_at).total_seconds() / 86400)
    if days <= RECENT_DAYS:
        fraction = 1.0
    else:
        fraction = max(0.0, 1 - (days - RECENT_DAYS) / (STALE_DAYS - RECENT_DAYS))
    return {"fraction": fraction, "days_old": int(days)}


def rank(
    candidates: list[Candidate], profile: ResumeProfile, query: SearchQuery, *, now: datetime
) -> list[Candidate]:
    """Score every candidate; best first (newer first among equals)."""
    skills = user_skills(profile, query)
    for candidate in candidates:
        score(candidate, profile, query, now=now, skills=skills)
    floor = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(
        candidates,
        key=lambda c: (c.score, c.posting.posted_at or floor),
        reverse=True,
    )
