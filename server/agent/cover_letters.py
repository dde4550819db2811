"""Cover letters grounded in the resume and the posting.

`resume_facts` turns a parsed resume into what an engine may read (no contact details but the
name). The local engine's letter is deterministic: it quotes the resume's own bullets that show
the posting's keywords and names the matching skills, so it states nothing the resume does not.
A letter from another engine is checked the same way: `unsupported_terms` lists the skills and
tools it names that neither the resume nor the posting shows, for the user's review.
"""

from __future__ import annotations

from typing import Any

from server.agent.engines.vocabulary import canonical_terms

MAX_QUOTED_BULLETS = 3
MAX_NAMED_SKILLS = 6


def resume_facts(parsed: dict[str, Any] | None) -> dict[str, Any]:
    """The parts of a parsed resume a cover letter may use."""
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


def _resume_text(resume: dict[str, Any]) -> str:
    parts = [resume.get("summary") or "", *resume.get("skills", [])]
    for job in resume.get("experience", []):
        parts += [job["title"], *job["bullets"]]
    for project in resume.get("projects", []):
        parts += [project["name"], *project["bullets"]]
    return "\n".join(parts)


def unsupported_terms(letter: str, resume: dict[str, Any]) -> list[str]:
    """Skills and tools the letter names that the resume does not show."""
    shown = set(canonical_terms(_resume_text(resume)))
    return [term for term in canonical_terms(letter) if term not in shown]


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


def local_cover_letter(*, resume: dict[str, Any], posting: dict[str, Any]) -> dict[str, Any]:
    """A deterministic letter quoting the resume's bullets that show the posting's keywords."""
    company = (posting.get("company") or "").strip() or "your company"
    title = (posting.get("title") or "").strip() or "this role"
    wanted = canonical_terms(f"{posting.get('title') or ''}\n{posting.get('description') or ''}")
    wanted_set = set(wanted)
    scored: list[tuple[int, int, str, dict[str, Any]]] = []
    position = 0
    for job in resume.get("experience", []):
        for bullet in job["bullets"]:
            hits = len(set(canonical_terms(bullet)) & wanted_set)
            if hits:
                scored.append((-hits, position, bullet, job))
            position += 1
    quoted = sorted(scored)[:MAX_QUOTED_BULLETS]
    skills = [s for s in canonical_terms("\n".join(resume.get("skills", []))) if s in wanted_set]
    shown = [k for k in wanted if k in set(canonical_terms(_resume_text(resume)))]
    lines = [f"Dear {company} hiring team,", ""]
    opening = f"I am writing to apply for the {title} position at {company}."
    jobs = resume.get("experience", [])
    if jobs and jobs[0]["title"]:
        where = f" at {jobs[0]['employer']}" if jobs[0]["employer"] else ""
        opening += f" My most recent role is {jobs[0]['title']}{where}."
    lines.append(opening)
    if quoted:
        lines += ["", "From my experience, what matches your posting:"]
        for _hits, _position, bullet, job in quoted:
            at = f" ({job['title']}, {job['employer']})" if job["employer"] else ""
            lines.append(f"- {_sentence(bullet)[:-1]}{at}")
    if skills:
        named = skills[:MAX_NAMED_SKILLS]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        lines += ["", f"The role asks for {listed}, which I work with."]
    lines += [
        "",
        f"Thank you for considering my application; I would welcome the chance to discuss "
        f"the {title} role with you.",
        "",
        "Kind regards,",
        resume.get("name") or "",
    ]
    return {"cover_letter": "\n".join(lines).strip() + "\n", "keywords": shown}
