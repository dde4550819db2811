"""A model that lies on purpose, behind the Gemini stand-in (the real wire format).

`LyingModel.answer` is the stand-in's answer function: it reads each request's task and answers
it as a careless or hostile model would. The job's requirements come from the local engine's
reading of the job description (any plausible reading will do); the edits, the letter's body
and the screening answers are whatever a test planted, fabrications included.
"""

from __future__ import annotations

import json
from typing import Any

from server.agent.engines.local import LocalEngine
from tests.gemini_stand_in import GeminiStandIn


def rewrite(section: str, index: int | None, bullet: int | None, text: str) -> dict[str, Any]:
    """One rewrite edit as a model proposes it."""
    return {
        "section": section,
        "action": "rewrite",
        "experience_index": index if section == "experience" else None,
        "project_index": index if section == "projects" else None,
        "bullet_index": bullet,
        "text": text,
        "order": None,
        "keywords": [],
        "reason": "tailored to the job",
    }


class LyingModel:
    """What the planted answers are, and what the model was asked (each request's task)."""

    def __init__(self, stand_in: GeminiStandIn):
        self.stand_in = stand_in
        self.edits: list[dict[str, Any]] = []
        self.letter = ""
        self.answers: dict[str, str | None] = {}
        self.tasks: list[str] = []
        stand_in.answer = self.answer

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = json.loads(body["contents"][0]["parts"][0]["text"])
        task = prompt["task"]
        self.tasks.append(task)
        if task == "extract_requirements":
            return LocalEngine()._extract_requirements(
                job_description=prompt["job_description"], job_title=prompt.get("job_title")
            )
        if task == "propose_edits":
            return {"edits": self.edits}
        if task == "write_cover_letter":
            return {"cover_letter": self.letter, "keywords": []}
        if task == "answer_question":
            return {"answer": self.answers.get(prompt["question"])}
        if task == "rank":
            return {"rankings": []}
        raise ValueError(f"unknown task {task}")
