"""Rank a user's projects for a job, with an explainable score and what to feature or swap.

Every project gets a local score from 0 to 100 with its breakdown:

- `keywords` (up to 70): the job's keywords the project shows (name, description,
  technologies, highlights), weighted 2 for required and 1 for preferred ones;
- `technologies` (up to 20): how much of the project's own stack the job asks for;
- `recency` (up to 10): 10 when ongoing or ended in the last two years, 5 within five years
  or undated, 0 older.

The job's keywords come from the local engine's requirement extraction, so the breakdown is
the same whichever engine runs. With Gemini configured, one `rank` call (through the Gemini
quota and the LLM cache) rescores the projects and its order wins; the local breakdown stays
beside it as the explanation.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from server.agent.engines import Engine, LocalEngine
from server.agent.engines.vocabulary import canonical_name, canonical_terms

KEYWORD_POINTS = 70
TECHNOLOGY_POINTS = 20
RECENCY_POINTS = 10
FEATURE_MIN_SCORE = 40
MAX_FEATURED = 3
_WORD = re.compile(r"[a-z][a-z0-9+#.-]{2,}")
_STOPWORDS = frozenset(
    "the and for with you our are will this that from have has your who what into about "
    "their they them using use used able work working team role job years year experience "
    "strong good great plus also well other more most any all can including across built "
    "build".split()
)
_local = LocalEngine()


def project_text(project: dict[str, Any]) -> str:
    """The text of a project an engine reads: name, description, technologies, highlights."""
    parts = [project.get("name") or "", project.get("description") or ""]
    technologies = project.get("technologies") or []
    if technologies:
        parts.append("Technologies: " + ", ".join(technologies))
    parts += project.get("highlights") or []
    return "\n".join(p for p in parts if p)


def _weights(job_description: str, job_title: str | None) -> tuple[dict[str, int], dict[str, Any]]:
    extracted = _local.extract_requirements(job_description=job_description, job_title=job_title)
    weights: dict[str, int] = {}
    for requirement in extracted["requirements"]:
        weight = 2 if requirement["importance"] == "required" else 1
        for keyword in requirement["keywords"]:
            name = canonical_name(keyword) or keyword
            weights[name] = max(weights.get(name, 0), weight)
    return weights, extracted


def _recency(project: dict[str, Any], today: date) -> tuple[int, str]:
    end = project.get("end_date")
    start = project.get("start_date")
    if not end and start:
        return RECENCY_POINTS, "ongoing"
    if not end:
        return RECENCY_POINTS // 2, "undated"
    age = today.year - int(end[:4])
    if age <= 2:
        return RECENCY_POINTS, f"recent (ended {end})"
    if age <= 5:
        return RECENCY_POINTS // 2, f"ended {end}"
    return 0, f"older (ended {end})"


def score_project(
    project: dict[str, Any], weights: dict[str, int], job_words: set[str], today: date
) -> dict[str, Any]:
    """The local score of one project, with its breakdown, keywords and reasons."""
    text = project_text(project)
    reasons: list[str] = []
    if weights:
        present = set(canonical_terms(text))
        matched = [k for k in weights if k in present]
        missing = [k for k in weights if k not in present]
        share = sum(weights[k] for k in matched) / sum(weights.values())
    else:  # a description without known terms: shared content words
        words = set(_WORD.findall(text.lower())) - _STOPWORDS
        matched = sorted(job_words & words)
        missing = sorted(job_words - words)
        share = len(matched) / len(job_words) if job_words else 0.0
    keyword_points = round(KEYWORD_POINTS * share)
    stack = [canonical_name(t) or t for t in project.get("technologies") or []]
    wanted = [t for t in stack if t in weights] if weights else []
    technology_points = round(TECHNOLOGY_POINTS * len(wanted) / len(stack)) if stack else 0
    recency_points, recency_text = _recency(project, today)
    if matched:
        required = [k for k in matched if weights.get(k) == 2]
        if required:
            reasons.append("shows what the job requires: " + ", ".join(required))
        preferred = [k for k in matched if k not in required]
        if preferred:
            label = "also matches" if required else "matches"
            reasons.append(f"{label}: " + ", ".join(preferred))
    else:
        reasons.append("shows none of the job's keywords")
    if stack:
        reasons.append(f"{len(wanted)} of its {len(stack)} technologies are asked for")
    reasons.append(recency_text)
    if missing and matched:
        reasons.append("does not show: " + ", ".join(missing[:8]))
    return {
        "score": keyword_points + technology_points + recency_points,
        "breakdown": {
            "keywords": keyword_points,
            "technologies": technology_points,
            "recency": recency_points,
        },
        "matched_keywords": matched,
        "missing_keywords": missing,
        "reasons": reasons,
    }


def analyse(
    *,
    job_description: str,
    projects: list[dict[str, Any]],
    engine: Engine,
    job_title: str | None = None,
    resume_project_names: list[str] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Every project ranked for the job; which to feature and which to swap into the resume.

    `projects` are dicts with `id`, `name`, `description`, `technologies`, `highlights`,
    `start_date`, `end_date`; `resume_project_names` names the projects the resume lists now.
    """
    today = today or date.today()
    weights, extracted = _weights(job_description, job_title)
    job_words = set(_WORD.findall(job_description.lower())) - _STOPWORDS
    ranked = []
    for project in projects:
        local = score_project(project, weights, job_words, today)
        ranked.append(
            {
                "project_id": project["id"],
                "name": project["name"],
                "local_score": local["score"],
                "engine_score": None,
                **local,
            }
        )
    engine_meta: dict[str, Any] = {"engine": "local", "model": _local.model, "cached": False}
    if ranked and engine.name != "local":
        reply = engine.rank(
            query=job_description,
            candidates=[{"id": str(p["id"]), "text": project_text(p)} for p in projects],
        )
        by_id = {r["id"]: r for r in reply["rankings"]}
        for entry in ranked:
            ranking = by_id.get(str(entry["project_id"]))
            if ranking is None:
                continue  # the engine dropped it: the local score stands
            entry["engine_score"] = ranking["score"]
            entry["score"] = ranking["score"]
            entry["reasons"] = [f"{engine.name}: {ranking['reason']}", *entry["reasons"]]
        engine_meta = {
            "engine": reply["engine"],
            "model": reply["model"],
            "cached": reply.get("cached", False),
        }
    ranked.sort(key=lambda e: (-e["score"], -e["local_score"], e["project_id"]))
    on_resume = {n.strip().lower() for n in resume_project_names or [] if n.strip()}
    featured = [e for e in ranked if e["score"] >= FEATURE_MIN_SCORE][:MAX_FEATURED]
    featured_ids = {e["project_id"] for e in featured}
    for position, entry in enumerate(ranked, start=1):
        entry["rank"] = position
        entry["on_resume"] = entry["name"].strip().lower() in on_resume
        if entry["project_id"] in featured_ids:
            entry["recommendation"] = "feature"
        elif entry["score"] >= FEATURE_MIN_SCORE // 2:
            entry["recommendation"] = "optional"
        else:
            entry["recommendation"] = "omit"
    swaps = []
    replaceable = [
        e for e in reversed(ranked) if e["on_resume"] and e["project_id"] not in featured_ids
    ]
    for entry in featured:
        if entry["on_resume"] or not replaceable:
            continue
        out = replaceable.pop(0)
        swaps.append(
            {
                "add": entry["project_id"],
                "remove": out["project_id"],
                "reason": f"{entry['name']} scores {entry['score']} for this job, "
                f"{out['name']} on the resume scores {out['score']}",
            }
        )
    return {
        **engine_meta,
        "job": {
            "title": extracted["title"],
            "seniority": extracted["seniority"],
            "keywords": list(weights) or sorted(job_words),
        },
        "projects": ranked,
        "feature": [e["project_id"] for e in featured],
        "swap": swaps,
    }
