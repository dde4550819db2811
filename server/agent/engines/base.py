"""What every engine offers: one method per task, each returning schema-checked JSON."""

from __future__ import annotations

from typing import Any

from server.agent.engines.tasks import schema_errors
from server.core.errors import UserFacingError

EDITABLE_SECTIONS = ("summary", "experience", "skills", "projects")


class EngineError(UserFacingError):
    """An engine could not do a task and trying again will not help (a bad key, a bad reply)."""

    service_failure = True


class Engine:
    """An LLM engine. Subclasses implement `_run(task, inputs)`; results name the engine.

    Inputs, shared by both engines:
    - `resume`: a structured resume (`summary`, `experience: [{employer, title, bullets}]`,
      `skills`, `projects: [{name, description, bullets?, technologies?}]`; missing parts are
      treated as empty).
    - `requirements`: the `requirements` list that `extract_requirements` returned.
    - `evidence`: `[{requirement, source: "resume" | "mimikree", text}]`.
    """

    name: str = ""
    model: str = ""

    def extract_requirements(
        self, *, job_description: str, job_title: str | None = None
    ) -> dict[str, Any]:
        """The job's requirements (text, kind, keywords, importance, years), keywords, title."""
        return self._result(
            "extract_requirements", {"job_description": job_description, "job_title": job_title}
        )

    def propose_edits(
        self,
        *,
        resume: dict[str, Any],
        requirements: list[dict[str, Any]],
        evidence: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Section-scoped edits (summary, bullets, skills order, projects) for the requirements.

        Only the sections that edits touch are sent: contact details and the raw text never
        reach an engine.
        """
        sections = {k: resume[k] for k in EDITABLE_SECTIONS if k in resume}
        return self._result(
            "propose_edits",
            {"resume": sections, "requirements": requirements, "evidence": evidence},
        )

    def rank(self, *, query: str, candidates: list[dict[str, str]]) -> dict[str, Any]:
        """Score candidates (`[{id, text}]`) 0-100 against the query, best first."""
        return self._result("rank", {"query": query, "candidates": candidates})

    def write_cover_letter(
        self, *, resume: dict[str, Any], posting: dict[str, Any]
    ) -> dict[str, Any]:
        """A cover letter for the posting (`{company, title, description}`) from the resume's
        facts (`{name, summary, experience, skills, projects}`; no contact details)."""
        return self._result("write_cover_letter", {"resume": resume, "posting": posting})

    def answer_question(
        self, *, question: str, resume: dict[str, Any], posting: dict[str, Any]
    ) -> dict[str, Any]:
        """An answer (`{answer: str | null}`) to an application form's free-text question
        from the resume's facts; null when they do not say."""
        return self._result(
            "answer_question", {"question": question, "resume": resume, "posting": posting}
        )

    def close(self) -> None:
        """Release connections (nothing to release by default)."""

    def _result(self, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
        output, meta = self._run(task, inputs)
        problems = schema_errors(task, output)
        if problems:
            raise EngineError(
                f"{self.name} engine gave a {task} reply that does not match its schema: "
                + "; ".join(problems[:5])
            )
        if task == "propose_edits":
            output = _edits_that_fit(output, inputs["resume"])
        elif task == "rank":
            output = _rankings_of_known_candidates(output, inputs["candidates"])
        return {**output, "engine": self.name, "model": self.model, **meta}

    def _run(self, task: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Do one task; return its output and metadata to merge into the result."""
        raise NotImplementedError


def _count(resume: dict[str, Any], key: str) -> int:
    value = resume.get(key)
    return len(value) if isinstance(value, list) else 0


def _edit_problem(edit: dict[str, Any], resume: dict[str, Any]) -> str | None:
    """Why an edit cannot apply to this resume (an index or order that does not fit), or None."""
    section, action, order = edit["section"], edit["action"], edit.get("order")
    allowed = {
        "summary": ("rewrite",),
        "experience": ("rewrite", "reorder"),
        "skills": ("reorder",),
        "projects": ("select", "rewrite"),
    }[section]
    if action not in allowed:
        return f"{section} edits may only {' or '.join(allowed)}"
    if action == "rewrite" and not (edit.get("text") or "").strip():
        return "a rewrite without text"
    size = _count(resume, section) if section in ("skills", "projects") else 0
    if section == "experience":
        jobs = resume.get("experience") if isinstance(resume.get("experience"), list) else []
        index = edit.get("experience_index")
        if not isinstance(index, int) or not 0 <= index < len(jobs):
            return f"no experience entry {index}"
        job = jobs[index] if isinstance(jobs[index], dict) else {}
        size = _count(job, "bullets")
        bullet = edit.get("bullet_index")
        if action == "rewrite" and (not isinstance(bullet, int) or not 0 <= bullet < size):
            return f"no bullet {bullet} in experience entry {index}"
    if section == "projects" and action == "rewrite":
        projects = resume.get("projects") if isinstance(resume.get("projects"), list) else []
        index = edit.get("project_index")
        if not isinstance(index, int) or not 0 <= index < len(projects):
            return f"no project {index}"
        project = projects[index] if isinstance(projects[index], dict) else {}
        bullet = edit.get("bullet_index")
        if not isinstance(bullet, int) or not 0 <= bullet < _count(project, "bullets"):
            return f"no bullet {bullet} in project {index}"
    if action == "reorder" and sorted(order or []) != list(range(size)):
        return "the order must list every index once"
    if action == "select" and (
        not order or len(set(order)) != len(order) or not all(0 <= i < size for i in order)
    ):
        return "the selection must list existing indexes once each"
    return None


def _edits_that_fit(output: dict[str, Any], resume: dict[str, Any]) -> dict[str, Any]:
    """Keep the edits that fit the resume; list the others, with why, in `rejected_edits`."""
    kept, rejected = [], []
    for edit in output["edits"]:
        problem = _edit_problem(edit, resume)
        if problem:
            rejected.append({"edit": edit, "reason": problem})
        else:
            kept.append(edit)
    return {**output, "edits": kept, "rejected_edits": rejected}


def _rankings_of_known_candidates(
    output: dict[str, Any], candidates: list[dict[str, str]]
) -> dict[str, Any]:
    """Each known candidate once, best first (ties by id); unknown ids are dropped."""
    known = {str(c["id"]) for c in candidates}
    seen: set[str] = set()
    rankings = []
    for ranking in output["rankings"]:
        if ranking["id"] in known and ranking["id"] not in seen:
            seen.add(ranking["id"])
            rankings.append(ranking)
    rankings.sort(key=lambda r: (-r["score"], r["id"]))
    return {**output, "rankings": rankings}
