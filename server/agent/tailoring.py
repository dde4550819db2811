"""Faithful resume tailoring: a structured resume and a job description in, a tailored resume
that claims nothing the source material does not support out.

`tailor()` is the whole pipeline and knows nothing of Flask, the queue or the database:

1. the engine extracts the job's requirements and keywords (one engine call);
2. evidence for each requirement is looked up in the resume; requirements without any become
   at most 20 questions for the user's Mimikree assistant, whose answers count as evidence
   marked `mimikree`;
3. the engine proposes section-scoped edits (one engine call): rewrite the summary or one
   bullet, reorder bullets or skills, select projects;
4. every rewritten sentence goes through the verifier (`server.agent.verifier`), default
   deny: each of its content words must be accounted for by the material in scope (for a
   bullet: its own role and the user's answers; for a project line: that project and the
   answers; for the summary: the whole resume and the answers), figures with their units and
   context, titles, employers and degrees as the person holds them. A bullet with an
   unsupported claim keeps its original words; a summary loses the sentences that hold one.
   Each claim is listed in `dropped_claims` with its kind and reason. Anything the edits
   cannot touch (contact details, education, certifications, dates, employers) is copied
   from the source and checked again;
5. an edit that would lose one of the job's keywords, or a project selection that would drop
   the only mention of one, is undone, so keyword coverage never falls.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from typing import Any

from server.agent.engines.base import Engine
from server.agent.engines.matching import coverage, measurable, merged, words_of
from server.agent.engines.vocabulary import canonical_name, keyword_in, terms_of
from server.agent.page_count import keep_page_count
from server.agent.rendering import PdfFonts, find_pdf_fonts
from server.agent.verifier import (
    Scope,
    bullet_scope,
    display_form,
    project_scope,
    report,
    resume_scope,
    verify,
    verify_text,
)
from server.agent.verifier.text import split_sentences

log = logging.getLogger("server.agent.tailoring")

MAX_MIMIKREE_QUESTIONS = 20
EVIDENCE_PER_REQUIREMENT = 2
TOP_BULLETS = 3
TOP_ROLES = 2
TOP_SKILLS = 8
SCORE_PARTS = (
    ("requirements", 45),
    ("keywords", 15),
    ("prominence", 10),
    ("title", 20),
    ("focus", 10),
)
# Below these many requirements (or keywords) a job counts as having them, the rest unmet:
# a job that names one skill cannot make a resume that has it a perfect match.
MIN_REQUIREMENTS = 8
MIN_KEYWORDS = 5
# A requirement counts as met when the resume shows at least this share of it.
MET = 0.5
# A resume counts as wholly about the job when this share of the words it says about its
# work are the job's (a resume names many things no one job asks for).
FOCUSED = 0.5
# An earlier role counts this share of the latest one, for the title it gives the person and
# for what its lines show: a past career, not who the person is now.
PAST_ROLE = 0.5
_TITLE_QUALIFIER = re.compile(r",|\(|\s[-–—|/]\s|\s(?:at|for|in)\s")
_SENIORITY = frozenset(
    "senior sr junior jr staff principal lead head chief group associate assistant intern "
    "director vp i ii iii iv".split()
)

Progress = Callable[[int, str], None]
AskMimikree = Callable[[list[str]], list[dict[str, Any]]]

_NEGATIVE_ANSWER = re.compile(
    r"^\s*(?:no\b|not really|none\b|never\b|i (?:have not|haven't|do not|don't|did not|didn't)"
    r"|i have no|unfortunately)|\bno (?:experience|exposure)\b",
    re.IGNORECASE,
)
_CONTENT_WORD = re.compile(r"[a-z][a-z+#.-]{3,}")
_STOPWORDS = frozenset(
    "with that this from have will your team role work able about into they their them "
    "must should would years year experience strong good great plus also well other more "
    "most including across using used what when where which while within".split()
)


def tailor(
    engine: Engine,
    *,
    resume: dict[str, Any],
    job_description: str,
    job_title: str | None = None,
    company: str | None = None,
    progress: Progress | None = None,
    ask_mimikree: AskMimikree | None = None,
    pdf_fonts: PdfFonts | None = None,
) -> dict[str, Any]:
    """Tailor a structured resume to a job description; returns the result (no ids).

    `progress(percent, message)` is called at each step; `ask_mimikree(questions)` returns
    `[{question, answer}]` and may raise: Mimikree trouble never fails a tailoring.
    `pdf_fonts` are the fonts downloads print with, which decide what fits on a page.
    """
    report = progress or (lambda _percent, _message: None)
    source = normalised(resume)
    engine_results: list[dict[str, Any]] = []

    report(10, "extracting the job's requirements and keywords")
    extracted = engine.extract_requirements(job_description=job_description, job_title=job_title)
    engine_results.append(extracted)
    requirements = extracted["requirements"]
    weights = keyword_weights(requirements, extracted["keywords"])
    keywords = list(weights)

    report(30, "finding evidence for each requirement in the resume")
    evidence = find_evidence(source, requirements)
    mimikree = {"asked": 0, "answered": 0, "status": "not_used"}
    unmet = gaps(source, requirements, evidence)
    if unmet and ask_mimikree is not None:
        report(40, f"asking Mimikree about {min(len(unmet), MAX_MIMIKREE_QUESTIONS)} requirements")
        found, mimikree = _mimikree_evidence(ask_mimikree, unmet[:MAX_MIMIKREE_QUESTIONS])
        evidence += found

    report(50, "proposing edits")
    proposal = engine.propose_edits(
        resume=engine_view(source), requirements=requirements, evidence=evidence
    )
    engine_results.append(proposal)

    report(75, "verifying every claim against the resume and the evidence")
    answers = [e["text"] for e in evidence if e["source"] == "mimikree"]
    tailored, diff, dropped, rejected = apply_and_verify(
        source, proposal["edits"], keywords=keywords, answers=answers
    )
    rejected = [*proposal.get("rejected_edits", []), *rejected]
    tailored, cut = keep_page_count(
        source,
        tailored,
        requirements=requirements,
        keywords=keywords,
        fonts=pdf_fonts or find_pdf_fonts(),
    )
    diff += cut

    report(90, "scoring the match")
    before_text, after_text = plain_text(source), plain_text(tailored)
    present = [k for k in keywords if keyword_in(before_text, k)]
    added = [k for k in keywords if k not in present and keyword_in(after_text, k)]
    missing = [k for k in keywords if k not in present and k not in added]
    title = extracted.get("title") or job_title
    before = match_score(source, requirements, weights, evidence=[], job_title=title)
    after = match_score(tailored, requirements, weights, evidence=evidence, job_title=title)
    tailored["raw_text"] = after_text
    return {
        "tailored_resume": tailored,
        "diff": diff,
        "keywords": {"present": present, "added_with_evidence": added, "missing": missing},
        "match_score": {
            "before": before["score"],
            "after": after["score"],
            "breakdown": _breakdown(before, after),
            "requirements_found": after["requirements_found"],
            "requirements_met": {
                "before": before["requirements_met"],
                "after": after["requirements_met"],
            },
        },
        "dropped_claims": dropped,
        "rejected_edits": rejected,
        "requirements": requirements,
        "evidence": evidence,
        "job": {
            "title": extracted.get("title") or job_title,
            "company": company,
            "seniority": extracted.get("seniority"),
        },
        "mimikree": mimikree,
        "engine": engine.name,
        "model": engine.model,
        "engine_calls": sum(1 for r in engine_results if not r.get("cached")),
    }


# --- inputs -----------------------------------------------------------------------------


def normalised(resume: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with every section the parser writes present (missing ones empty)."""
    result = copy.deepcopy(resume)
    result.setdefault("contact", {})
    result["summary"] = result.get("summary") or ""
    for key in ("experience", "education", "skills", "projects", "certifications"):
        value = result.get(key)
        result[key] = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    for job in result["experience"]:
        job["bullets"] = [str(b) for b in job.get("bullets") or []]
    for group in result["skills"]:
        group["items"] = [str(i) for i in group.get("items") or []]
    for project in result["projects"]:
        project["bullets"] = [str(b) for b in project.get("bullets") or []]
    result.setdefault("other_sections", [])
    return result


def keyword_weights(requirements: list[dict[str, Any]], keywords: list[str]) -> dict[str, int]:
    """Each keyword once (vocabulary terms by their canonical name): 2 when some requirement
    needs it, 1 when only preferred or only listed."""
    weights: dict[str, int] = {}
    names: dict[str, str] = {}

    def add(keyword: str, weight: int) -> None:
        name = canonical_name(keyword) or keyword.strip()
        if not name:
            return
        key = name.lower()
        names.setdefault(key, name)
        weights[names[key]] = max(weights.get(names[key], 0), weight)

    for requirement in requirements:
        weight = 2 if requirement.get("importance") == "required" else 1
        for keyword in requirement.get("keywords") or []:
            add(str(keyword), weight)
    for keyword in keywords:
        add(str(keyword), 1)
    return weights


def _resume_lines(resume: dict[str, Any]) -> list[tuple[str, str]]:
    """(section path, text) for every line of the resume a claim could rest on."""
    lines = []
    contact = resume.get("contact") or {}
    if contact.get("headline"):
        lines.append(("contact.headline", str(contact["headline"])))
    if resume.get("summary"):
        lines.append(("summary", resume["summary"]))
    for i, job in enumerate(resume["experience"]):
        header = " | ".join(str(job.get(k) or "") for k in ("title", "employer", "dates"))
        lines.append((f"experience[{i}]", header))
        for j, bullet in enumerate(job["bullets"]):
            lines.append((f"experience[{i}].bullets[{j}]", bullet))
        for detail in job.get("details") or []:
            lines.append((f"experience[{i}].details", str(detail)))
    for i, group in enumerate(resume["skills"]):
        label = f"{group['category']}: " if group.get("category") else ""
        lines.append((f"skills[{i}]", label + ", ".join(group["items"])))
    for i, project in enumerate(resume["projects"]):
        lines.append((f"projects[{i}]", _project_text(project)))
    for i, entry in enumerate(resume["education"]):
        parts = [entry.get(k) for k in ("degree", "field", "institution", "dates")]
        lines.append((f"education[{i}]", ", ".join(str(p) for p in parts if p)))
        for detail in entry.get("details") or []:
            lines.append((f"education[{i}].details", str(detail)))
    for i, cert in enumerate(resume["certifications"]):
        parts = [cert.get(k) for k in ("name", "issuer", "dates")]
        lines.append((f"certifications[{i}]", ", ".join(str(p) for p in parts if p)))
    for i, section in enumerate(resume.get("other_sections") or []):
        for line in section.get("lines") or []:
            lines.append((f"other_sections[{i}]", str(line)))
    return [(path, text) for path, text in lines if text.strip()]


def _project_text(project: dict[str, Any]) -> str:
    parts = [project.get("name"), project.get("role"), project.get("url"), project.get("dates")]
    parts += list(project.get("bullets") or []) + list(project.get("details") or [])
    return "\n".join(str(p) for p in parts if p)


def plain_text(resume: dict[str, Any]) -> str:
    """The resume's content as text (no raw text): what keyword coverage is measured on."""
    contact = resume.get("contact") or {}
    head = [str(contact.get(k) or "") for k in ("name", "headline")]
    return "\n".join([*head, *(text for _path, text in _resume_lines(resume))]).strip()


def _content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD.findall(text.lower()) if w not in _STOPWORDS}


def find_evidence(
    resume: dict[str, Any], requirements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Lines of the resume that show each requirement (by its keywords, or, for one without
    keywords, by sharing most of its words)."""
    lines = _resume_lines(resume)
    evidence = []
    for requirement in requirements:
        keywords = [str(k) for k in requirement.get("keywords") or []]
        words = _content_words(requirement["text"])
        found = 0
        for path, text in lines:
            if keywords:
                shows = any(keyword_in(text, k) for k in keywords)
            else:
                shows = bool(words) and len(words & _content_words(text)) * 2 >= len(words)
            if shows:
                evidence.append(
                    {
                        "requirement": requirement["text"],
                        "source": "resume",
                        "section": path,
                        "text": text,
                    }
                )
                found += 1
                if found == EVIDENCE_PER_REQUIREMENT:
                    break
    return evidence


def gaps(
    resume: dict[str, Any], requirements: list[dict[str, Any]], evidence: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Requirements the resume does not show in full: those without evidence, and those with
    keywords the resume never names (asked about those keywords only)."""
    text = plain_text(resume)
    unmet = []
    for requirement in requirements:
        keywords = [str(k) for k in requirement.get("keywords") or []]
        absent = [k for k in keywords if not keyword_in(text, k)]
        if absent:
            unmet.append({**requirement, "keywords": absent})
        elif not keywords and not _has_evidence(requirement, evidence):
            unmet.append(requirement)
    return unmet


def _has_evidence(requirement: dict[str, Any], evidence: list[dict[str, Any]]) -> bool:
    return any(e["requirement"] == requirement["text"] for e in evidence)


def mimikree_question(requirement: dict[str, Any]) -> str:
    """The question a requirement without evidence becomes."""
    keywords = [str(k) for k in requirement.get("keywords") or []]
    if keywords:
        subject = ", ".join(keywords[:4])
        return (
            f"Have you worked with {subject}? If so, where and what did you do with it? "
            "If not, say no."
        )
    return (
        f"A job asks for: {requirement['text'][:300]}. Have you done this? If so, where and "
        "how? If not, say no."
    )


def _mimikree_evidence(
    ask: AskMimikree, unmet: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Evidence from the user's Mimikree answers; never raises."""
    questions = [mimikree_question(r) for r in unmet]
    status = {"asked": len(questions), "answered": 0, "status": "ok"}
    try:
        answers = ask(questions) or []
    except Exception as error:  # noqa: BLE001 - Mimikree trouble never fails a tailoring
        log.warning("Mimikree could not answer; tailoring without it", extra={"error": str(error)})
        return [], {**status, "status": "unavailable"}
    by_question = {str(a.get("question")): a for a in answers if isinstance(a, dict)}
    evidence = []
    for requirement, question in zip(unmet, questions, strict=True):
        answer = str((by_question.get(question) or {}).get("answer") or "").strip()
        if not answer or _NEGATIVE_ANSWER.search(answer):
            continue
        keywords = [str(k) for k in requirement.get("keywords") or []]
        if keywords and not any(keyword_in(answer, k) for k in keywords):
            continue
        status["answered"] += 1
        evidence.append(
            {
                "requirement": requirement["text"],
                "source": "mimikree",
                "section": "mimikree",
                "question": question,
                "text": answer,
            }
        )
    if not answers:
        status["status"] = "unavailable"
    return evidence, status


# --- edits -------------------------------------------------------------------------------


def engine_view(resume: dict[str, Any]) -> dict[str, Any]:
    """What an engine sees and indexes into: editable sections only, skills as one list."""
    return {
        "summary": resume["summary"],
        "experience": [
            {
                "employer": job.get("employer"),
                "title": job.get("title"),
                "bullets": list(job["bullets"]),
            }
            for job in resume["experience"]
        ],
        "skills": [item for group in resume["skills"] for item in group["items"]],
        "projects": [
            {
                "name": project.get("name"),
                "description": project.get("role"),
                "bullets": list(project.get("bullets") or []),
            }
            for project in resume["projects"]
        ],
    }


def apply_and_verify(
    source: dict[str, Any],
    edits: list[dict[str, Any]],
    *,
    keywords: list[str],
    answers: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply the edits that survive verification; returns (tailored, diff, dropped, rejected)."""
    tailored = copy.deepcopy(source)
    diff: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    whole = resume_scope(source, answers=answers, keywords=keywords)
    scopes: dict[tuple[str, int], Scope] = {}
    done: set[tuple[Any, ...]] = set()

    def once(edit: dict[str, Any], *target: Any) -> bool:
        key = (edit["section"], edit["action"], *target)
        if key in done:
            rejected.append({"edit": edit, "reason": "another edit already changed this"})
            return False
        done.add(key)
        return True

    def keeps_keywords(edit: dict[str, Any], before: str, after: str) -> bool:
        lost = [k for k in keywords if keyword_in(before, k) and not keyword_in(after, k)]
        if lost:
            rejected.append({"edit": edit, "reason": "it would drop " + ", ".join(lost)})
        return not lost

    def scope_of(section: str, index: int) -> Scope:
        if (section, index) not in scopes:
            build = bullet_scope if section == "experience" else project_scope
            scopes[(section, index)] = build(source, index, answers=answers, keywords=keywords)
        return scopes[(section, index)]

    # Rewrites first, by the source's indexes; then reorders and selections.
    for edit in edits:
        if edit["action"] != "rewrite":
            continue
        # What is verified, stored and rendered is one text: the display form (NFKC, with
        # invisible characters removed).
        text = display_form(edit["text"])
        if edit["section"] == "summary" and once(edit):
            new, lost = verify_text(text, whole, "summary")
            dropped += lost
            new = new.replace("\n\n", " ")
            if new and new != source["summary"] and keeps_keywords(edit, source["summary"], new):
                tailored["summary"] = new
                diff.append(_change("summary", "rewrite", source["summary"], new, edit))
        elif edit["section"] in ("experience", "projects"):
            section = edit["section"]
            i = edit["experience_index"] if section == "experience" else edit["project_index"]
            j = edit["bullet_index"]
            if not once(edit, i, j):
                continue
            path = f"{section}[{i}].bullets[{j}]"
            original = source[section][i]["bullets"][j]
            verdict = verify(text, scope_of(section, i))
            if verdict.claims:
                dropped += report(path, verdict)
            elif verdict.text != original and keeps_keywords(edit, original, verdict.text):
                tailored[section][i]["bullets"][j] = verdict.text
                diff.append(_change(path, "rewrite", original, verdict.text, edit))
    for edit in edits:
        section, action = edit["section"], edit["action"]
        if action == "reorder" and section == "experience":
            i = edit["experience_index"]
            if once(edit, i):
                bullets = tailored["experience"][i]["bullets"]
                reordered = [bullets[k] for k in edit["order"]]
                if reordered != bullets:
                    tailored["experience"][i]["bullets"] = reordered
                    diff.append(
                        _change(f"experience[{i}].bullets", "reorder", bullets, reordered, edit)
                    )
        elif action == "reorder" and section == "skills" and once(edit):
            before = copy.deepcopy(tailored["skills"])
            tailored["skills"] = _reordered_skills(tailored["skills"], edit["order"])
            if tailored["skills"] != before:
                diff.append(_change("skills", "reorder", before, tailored["skills"], edit))
        elif action == "select" and section == "projects" and once(edit):
            chosen = _selected_projects(tailored, edit["order"], keywords)
            if chosen != list(range(len(source["projects"]))):
                before = [p.get("name") for p in tailored["projects"]]
                tailored["projects"] = [tailored["projects"][k] for k in chosen]
                after = [p.get("name") for p in tailored["projects"]]
                diff.append(_change("projects", "select", before, after, edit))
    dropped += _structural_drift(source, tailored)
    return tailored, diff, dropped, rejected


def _change(
    path: str, action: str, before: Any, after: Any, edit: dict[str, Any]
) -> dict[str, Any]:
    return {
        "section": path,
        "action": action,
        "before": before,
        "after": after,
        "keywords": list(edit.get("keywords") or []),
        "reason": edit.get("reason") or "",
    }


def _reordered_skills(groups: list[dict[str, Any]], order: list[int]) -> list[dict[str, Any]]:
    """Apply an order of the flat skills list: items move within their own category, and the
    categories follow their best-placed item."""
    owner = [(g, k) for g, group in enumerate(groups) for k in range(len(group["items"]))]
    rank = {owner[flat]: position for position, flat in enumerate(order)}
    result = []
    for g, group in enumerate(groups):
        items = sorted(range(len(group["items"])), key=lambda k: rank[(g, k)])
        result.append({**group, "items": [group["items"][k] for k in items]})
    best = [
        min((rank[(g, k)] for k in range(len(group["items"]))), default=len(order) + g)
        for g, group in enumerate(groups)
    ]
    return [result[g] for g in sorted(range(len(groups)), key=lambda g: best[g])]


def _selected_projects(
    tailored: dict[str, Any], order: list[int], keywords: list[str]
) -> list[int]:
    """The selection, plus any left-out project that alone names one of the job's keywords."""
    chosen = list(order)
    rest = [k for k in range(len(tailored["projects"])) if k not in chosen]
    others = {**tailored, "projects": [tailored["projects"][k] for k in chosen]}
    covered = plain_text(others)
    for k in rest:
        text = _project_text(tailored["projects"][k])
        if any(keyword_in(text, kw) and not keyword_in(covered, kw) for kw in keywords):
            chosen.append(k)
            covered += "\n" + text
    return chosen


def _structural_drift(source: dict[str, Any], tailored: dict[str, Any]) -> list[dict[str, Any]]:
    """Defence in depth: anything outside the editable text that differs from the source is
    put back, and listed. Edits cannot reach these fields, so this normally finds nothing."""
    dropped = []
    fixed_fields = ("title", "employer", "location", "start_date", "end_date", "dates")
    for i, (old, new) in enumerate(zip(source["experience"], tailored["experience"], strict=True)):
        for name in fixed_fields:
            if old.get(name) != new.get(name):
                dropped.append(_field_drift(f"experience[{i}].{name}", new.get(name), name))
                new[name] = old.get(name)
    for key in ("contact", "education", "certifications", "other_sections"):
        if tailored.get(key) != source.get(key):
            dropped.append(_field_drift(key, tailored.get(key), key))
            tailored[key] = copy.deepcopy(source.get(key))
    known = {item for group in source["skills"] for item in group["items"]}
    for group in tailored["skills"]:
        extra = [item for item in group["items"] if item not in known]
        for item in extra:
            dropped.append(_field_drift("skills", item, "skill"))
        group["items"] = [item for item in group["items"] if item in known]
    # A project's lines may change only through verified rewrites; anything else is its own.
    identities = [_project_identity(p) for p in source["projects"]]
    kept = [p for p in tailored["projects"] if _project_identity(p) in identities]
    for project in tailored["projects"]:
        if _project_identity(project) not in identities:
            dropped.append(_field_drift("projects", project.get("name"), "project"))
    tailored["projects"] = kept
    return dropped


def _project_identity(project: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in project.items() if k != "bullets"}


def _field_drift(path: str, value: Any, what: str) -> dict[str, Any]:
    return {
        "section": path,
        "text": str(value),
        "claim": str(value),
        "kind": what,
        "reason": f"the {what} differs from the source resume",
    }


# --- score -------------------------------------------------------------------------------


def _top_text(resume: dict[str, Any]) -> str:
    """Where a reader looks first: headline, summary, the first bullets of recent roles and
    the first skills."""
    contact = resume.get("contact") or {}
    parts = [str(contact.get("headline") or ""), resume["summary"]]
    for job in resume["experience"][:TOP_ROLES]:
        parts += job["bullets"][:TOP_BULLETS]
    parts += [item for group in resume["skills"] for item in group["items"]][:TOP_SKILLS]
    return "\n".join(parts)


def _title_words(title: str) -> frozenset[str]:
    """The stems of a job title's own words: before any comma or bracket (the team, the
    place), without seniority words."""
    core = _TITLE_QUALIFIER.split(title, maxsplit=1)[0]
    kept = [w for w in core.split() if w.lower().strip(".,") not in _SENIORITY]
    return words_of(" ".join(kept)).stems


def _latest_role(experience: list[dict[str, Any]]) -> int:
    """The index of the person's latest role: by its dates when every role has them (a
    current role, else the one that ended last), else the first listed, as resumes list
    the latest first."""
    dated = all(job.get("is_current") or job.get("end_date") for job in experience)
    if not experience or not dated:
        return 0
    return max(
        range(len(experience)),
        key=lambda i: (
            bool(experience[i].get("is_current")),
            str(experience[i].get("end_date") or ""),
            -i,
        ),
    )


def _title_share(
    resume: dict[str, Any], job_title: str | None, requirements: list[dict[str, Any]]
) -> tuple[float, str]:
    """How much of the job's title the resume's headline, one of its role titles, one
    sentence of its summary or its skills list have: the headline, the latest role and what
    the person says they do (a "Video Compression Engineer" job and a summary about lossless
    compression) count in full, an earlier role's title (a past career) counts PAST_ROLE of
    its share. The title's words count where they stand together, as in a title: "data" in
    one sentence and "engineering" in another do not make a "Data Engineer". Each word of
    the title weighs one more for every requirement that names it: the words the job keeps
    coming back to are what it is about."""
    wanted = _title_words(job_title or "")
    if not wanted:
        return 0.0, "the job names no title"
    weight = dict.fromkeys(wanted, 1)
    for requirement in requirements:
        for word in wanted & words_of(str(requirement["text"])).stems:
            weight[word] += 1
    total = sum(weight.values())
    contact = resume.get("contact") or {}
    headline = str(contact.get("headline") or "")
    roles = [str(job.get("title") or "") for job in resume["experience"]]
    skills = [item for group in resume["skills"] for item in group["items"]]
    # (what the resume says, how much it counts, how the breakdown names it)
    sources = [([headline], 1.0, headline)]
    latest = _latest_role(resume["experience"])
    sources += [([t], 1.0 if i == latest else PAST_ROLE, t) for i, t in enumerate(roles)]
    sources += [([sentence], 1.0, "the summary") for sentence in split_sentences(resume["summary"])]
    sources.append((skills, 1.0, "the skills"))
    best, closest = 0.0, ""
    for texts, held, name in sources:
        found = wanted & merged(texts).stems
        share = held * sum(weight[word] for word in found) / total
        if share > best:
            best, closest = share, name
    if not closest:
        return 0.0, f"no title on the resume shares a word with {job_title}"
    return best, f"{closest} for {job_title}"


def _work_words(texts: list[str]) -> set[str]:
    """The content stems of texts, with the vocabulary terms they name by canonical name."""
    words = set(merged(texts).stems)
    return words | {"term:" + t for t in terms_of("\n".join(texts))}


def _focus(
    resume: dict[str, Any], requirements: list[dict[str, Any]], job_title: str | None
) -> tuple[float, str]:
    """How much of what the resume says about the person's work the job talks about too: a
    resume from another field shares a few of the job's words, but says mostly other things."""
    contact = resume.get("contact") or {}
    texts = [str(contact.get("headline") or ""), resume["summary"]]
    for job in resume["experience"]:
        texts += [str(job.get("title") or ""), *job["bullets"]]
    texts += [item for group in resume["skills"] for item in group["items"]]
    texts += [_project_text(project) for project in resume["projects"]]
    said = _work_words(texts)
    if not said:
        return 0.0, "the resume says nothing about its work"
    asked = _work_words([job_title or "", *(str(r["text"]) for r in requirements)])
    shared = len(said & asked)
    return (
        min(1.0, shared / len(said) / FOCUSED),
        f"{shared} of the resume's {len(said)} words about its work are the job's",
    )


def match_score(
    resume: dict[str, Any],
    requirements: list[dict[str, Any]],
    weights: dict[str, int],
    *,
    evidence: list[dict[str, Any]],
    job_title: str | None = None,
) -> dict[str, Any]:
    """A 0-100 score with its parts: the share of the job's requirements the resume shows
    (45), of its keywords (15), how much of the requirements a reader sees first (10), the
    job's title among the resume's own (20: the clearest sign of the same line of work,
    which requirements and keywords are not, as other fields share many of them), and how
    much of what the resume says about its work the job asks for (10). Requirements and
    keywords count over at least MIN_REQUIREMENTS and MIN_KEYWORDS, so a job that asks for
    little cannot score high, and a resume from another field that shares a few of the job's
    words scores low. What only
    earlier roles show counts PAST_ROLE of what the latest role and the rest of the resume
    show: a career left behind is not the person's work now."""
    text, top = plain_text(resume), _top_text(resume)
    lines = [line for _path, line in _resume_lines(resume)]
    everything, first = merged(lines), merged(top.split("\n"))
    roles = resume["experience"]
    latest = {**resume, "experience": roles[_latest_role(roles) :][:1]}
    now_text = plain_text(latest)
    now = merged([line for _path, line in _resume_lines(latest)])
    answered = {e["requirement"] for e in evidence if e["source"] != "resume"}
    counted = [r for r in requirements if measurable(r)]
    shown = seen_first = total = 0.0
    met = 0
    for requirement in counted:
        weight = 2 if requirement.get("importance") == "required" else 1
        total += weight
        if requirement["text"] in answered:
            share = 1.0
        else:
            share_now = coverage(requirement, now_text, now)
            share = share_now + PAST_ROLE * (coverage(requirement, text, everything) - share_now)
        shown += weight * share
        seen_first += weight * coverage(requirement, top, first)
        met += share >= MET

    floor = total + 2 * max(0, MIN_REQUIREMENTS - len(counted))
    few = (
        f"; fewer than {MIN_REQUIREMENTS} found, so the missing ones count as unmet"
        if len(counted) < MIN_REQUIREMENTS
        else ""
    )
    keyword_floor = max(sum(weights.values()), 2 * MIN_KEYWORDS)
    matched = [k for k in weights if keyword_in(text, k)]
    few_keywords = (
        f"; fewer than {MIN_KEYWORDS}, so the missing ones count as unmet"
        if len(weights) < MIN_KEYWORDS
        else ""
    )
    title_share, title_explanation = _title_share(resume, job_title, counted)
    focus, focus_explanation = _focus(resume, requirements, job_title)
    shown_share = shown / floor if floor else 0.0
    parts = {
        "requirements": (
            shown_share,
            f"{_count(len(counted), 'requirement')} found in the job; the resume shows "
            f"{shown_share:.0%} of them (required ones count double, what only earlier roles "
            f"show half{few})",
        ),
        "keywords": (
            sum(weights[k] for k in matched) / keyword_floor,
            f"{len(matched)} of the job's {_count(len(weights), 'keyword')} "
            f"(required ones count double{few_keywords})",
        ),
        "prominence": (
            seen_first / floor if floor else 0.0,
            "how much of that a reader sees first: headline, summary, first bullets of the "
            "latest roles, first skills",
        ),
        "title": (title_share, title_explanation),
        "focus": (focus, focus_explanation),
    }
    breakdown = []
    for name, most in SCORE_PARTS:
        share, explanation = parts[name]
        breakdown.append(
            {
                "part": name,
                "points": round(most * share, 1),
                "max": most,
                "explanation": explanation,
            }
        )
    score = round(sum(part["points"] for part in breakdown))
    return {
        "score": max(0, min(100, score)),
        "parts": breakdown,
        "requirements_found": len(counted),
        "requirements_met": met,
    }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _breakdown(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "part": b["part"],
            "max": b["max"],
            "before": b["points"],
            "after": a["points"],
            "before_explanation": b["explanation"],
            "after_explanation": a["explanation"],
        }
        for b, a in zip(before["parts"], after["parts"], strict=True)
    ]
