"""What every engine offers: one method per task, each returning schema-checked JSON."""

from __future__ import annotations

from typing import Any

from server.agent.engines.tasks import schema_errors


class EngineError(Exception):
    """An engine could not do a task and trying again will not help (a bad key, a bad reply)."""


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
        """Section-scoped edits (summary, bullets, skills order, projects) for the requirements."""
        return self._result(
            "propose_edits",
            {"resume": resume, "requirements": requirements, "evidence": evidence},
        )

    def rank(self, *, query: str, candidates: list[dict[str, str]]) -> dict[str, Any]:
        """Score candidates (`[{id, text}]`) 0-100 against the query, best first."""
        return self._result("rank", {"query": query, "candidates": candidates})

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
        return {**output, "engine": self.name, "model": self.model, **meta}

    def _run(self, task: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Do one task; return its output and metadata to merge into the result."""
        raise NotImplementedError
