"""Cover letters that state nothing about the person their own material does not support.

A letter has three parts. The opening ("Dear <company> hiring team, I am applying for the
<title> position at <company>.") and the closing are written here: they name the posting and
state nothing about the person. The body is the engine's, and every one of its sentences goes
through the verifier against the person's material (the whole resume with its skills list,
the applicant profile, the user's own answers): a sentence with an unsupported claim is left
out and listed in `dropped_claims`. A letter is never written with a placeholder: without the
posting's company and title there is no letter (`missing_details` says what to add).
"""

from __future__ import annotations

from typing import Any

from server.agent.engines.base import Engine
from server.agent.engines.vocabulary import canonical_terms, keyword_in
from server.agent.verifier import Scope, Source, profile_sources, resume_scope, verify_text


def resume_facts(parsed: dict[str, Any] | None) -> dict[str, Any]:
    """The parts of a parsed resume an engine may read for a letter (no contact details but
    the name)."""
    parsed = parsed or {}
    contact = parsed.get("contact") if isinstance(parsed.get("contact"), dict) else {}
    skills: list[str] = []
    for group in parsed.get("skills") or []:
        if isinstance(group, dict):
            skills += [str(item) for item in group.get("items") or []]
        elif isinstance(group, str):
            skills.append(group)
    experience = [
        {
            "title": job.get("title") or "",
            "employer": job.get("employer") or "",
            "current": bool(job.get("is_current")),
            "bullets": [str(b) for b in job.get("bullets") or []],
        }
        for job in parsed.get("experience") or []
        if isinstance(job, dict)
    ]
    projects = [
        {"name": p.get("name") or "", "bullets": [str(b) for b in p.get("bullets") or []]}
        for p in parsed.get("projects") or []
        if isinstance(p, dict)
    ]
    return {
        "name": contact.get("name") or "",
        "summary": parsed.get("summary") or "",
        "experience": experience,
        "skills": skills,
        "projects": projects,
    }


def missing_details(posting: dict[str, Any]) -> list[str]:
    """What a letter needs from the posting and does not have (`company`, `title`)."""
    return [field for field in ("company", "title") if not (posting.get(field) or "").strip()]


def letter_scope(
    parsed: dict[str, Any] | None, *, profile: dict[str, Any] | None, answers: list[str]
) -> Scope:
    """What a letter's or an answer's sentences may rest on: the whole resume (skills list
    included), the applicant profile and the user's own answers."""
    extra: list[Source] = profile_sources(profile)
    return resume_scope(parsed or {}, answers=answers, extra=extra, purpose="letter")


def write_letter(
    engine: Engine,
    *,
    parsed: dict[str, Any] | None,
    posting: dict[str, Any],
    profile: dict[str, Any] | None = None,
    answers: list[str] | None = None,
) -> dict[str, Any]:
    """A verified letter for the posting (`{company, title, description}`), or none (and no
    engine call) when the posting's company or title is unknown."""
    missing = missing_details(posting)
    result: dict[str, Any] = {
        "cover_letter": "",
        "keywords": [],
        "dropped_claims": [],
        "missing_details": missing,
        "engine": engine.name,
        "model": engine.model,
    }
    if missing:
        return result
    facts = resume_facts(parsed)
    written = engine.write_cover_letter(
        resume=facts,
        posting={
            "company": posting["company"],
            "title": posting["title"],
            "description": (posting.get("description") or "")[:20_000],
        },
    )
    scope = letter_scope(parsed, profile=profile, answers=list(answers or []))
    body, dropped = verify_text(written["cover_letter"], scope, "cover_letter")
    name = (profile or {}).get("name") or facts["name"]
    letter = compose(body=body, posting=posting, name=name)
    return {
        **result,
        "cover_letter": letter,
        "keywords": letter_keywords(letter, posting),
        "dropped_claims": dropped,
        "engine": written["engine"],
        "model": written["model"],
    }


def compose(*, body: str, posting: dict[str, Any], name: str) -> str:
    """The letter: our opening and closing around the verified body."""
    company, title = posting["company"].strip(), posting["title"].strip()
    parts = [
        f"Dear {company} hiring team,",
        f"I am applying for the {title} position at {company}.",
    ]
    if body:
        parts.append(body)
    parts += ["Thank you for considering my application.", f"Kind regards,\n{name}".rstrip()]
    return "\n\n".join(parts) + "\n"


def letter_keywords(letter: str, posting: dict[str, Any]) -> list[str]:
    """The posting's vocabulary terms the finished letter names."""
    wanted = canonical_terms(f"{posting.get('title') or ''}\n{posting.get('description') or ''}")
    return [k for k in wanted if keyword_in(letter, k)]
