"""Runs a corpus of planted sentences through the whole tailoring, as a lying model would
write them, and reports what became of each: left out and listed, or kept.

Each entry targets the summary, one experience bullet or one project bullet of a real resume
(tests/fixtures/resumes). The entries of one resume are played in rounds (each bullet rewritten
once per round, a few summary sentences per round): the lying model (tests/lying_model.py,
behind the Gemini stand-in, through the real google-genai client) proposes them as its edits,
the pipeline tailors, stores the result, and the three downloads are fetched over HTTP. The
user's own answers (the corpus's contexts) reach the tailoring as Mimikree answers do.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.agent import tailoring
from server.agent.engines import get_engine
from server.agent.verifier import display_form
from server.services import tailored_resumes
from tests.helpers import Account, ApiClient, downloaded_text
from tests.lying_model import LyingModel, rewrite
from tests.resume_corpus import as_parsed, expected_by_file

FORMATS = ("md", "docx", "pdf")
SUMMARY_SENTENCES_PER_ROUND = 4


@dataclass
class Outcome:
    """What became of one planted entry."""

    entry: dict[str, Any]
    path: str
    sentence: str  # as the pipeline reads it (display form)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    found_in: list[str] = field(default_factory=list)  # "stored", "md", "docx", "pdf"
    kept: bool = False  # the sentence is in the stored resume as written
    rejected: str | None = None  # an edit refused for another reason (a lost keyword)


def load(corpus_dir: Path, name: str) -> tuple[list[dict], dict[str, dict]]:
    """A corpus's entries and its contexts (job description, answers, projects per resume)."""
    entries = json.loads((corpus_dir / name).read_text(encoding="utf-8"))
    contexts = json.loads((corpus_dir / "contexts.json").read_text(encoding="utf-8"))
    return entries, contexts


def _resume_key(name: str, resumes: dict[str, dict]) -> str:
    if name in resumes:
        return name
    for key, expected in resumes.items():
        if expected["file"] == name or key.removesuffix(".expected.json") == name:
            return key
    raise KeyError(name)


def _context(name: str, key: str, contexts: dict[str, dict]) -> dict[str, Any]:
    for candidate in (name, key, key.removesuffix(".expected.json")):
        if candidate in contexts:
            return contexts[candidate]
    raise KeyError(name)


def _path(target: dict[str, Any]) -> str:
    if target["section"] == "summary":
        return "summary"
    if target["section"] == "experience":
        return f"experience[{target['role']}].bullets[{target['bullet']}]"
    return f"projects[{target['project']}].bullets[{target['bullet']}]"


def _sentence(text: str) -> str:
    text = display_form(text)
    return text if text.endswith((".", "!", "?")) else text + "."


def rounds(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The entries of one resume in rounds: every bullet once per round, a few summary
    sentences per round."""
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_target[_path(entry["target"])].append(entry)
    played: list[list[dict[str, Any]]] = []
    while any(by_target.values()):
        current = []
        for path, queue in by_target.items():
            take = SUMMARY_SENTENCES_PER_ROUND if path == "summary" else 1
            current += queue[:take]
            del queue[:take]
        played.append(current)
    return played


def _edits(round_entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    edits, summary = [], []
    for entry in round_entries:
        target = entry["target"]
        if target["section"] == "summary":
            summary.append(_sentence(entry["text"]))
        elif target["section"] == "experience":
            edits.append(rewrite("experience", target["role"], target["bullet"], entry["text"]))
        else:
            edits.append(rewrite("projects", target["project"], target["bullet"], entry["text"]))
    if summary:
        edits.insert(0, rewrite("summary", None, None, " ".join(summary)))
    return edits


def _answers(context: dict[str, Any]) -> list[str]:
    """The user's answers of a context (plain strings, or `{question, answer}` pairs)."""
    return [a["answer"] if isinstance(a, dict) else str(a) for a in context.get("answers") or []]


def _ask_with(answers: list[str]):
    """The user's answers as their Mimikree assistant gives them: every question gets all
    that the person said (what they have done first), so each fact they gave can reach the
    evidence, and each "no" they gave stands beside it."""
    said = sorted(answers, key=lambda a: bool(re.match(r"\s*no\b", a, re.IGNORECASE)))
    reply = " ".join(said) or "No."

    def ask(questions: list[str]) -> list[dict[str, str]]:
        return [{"question": question, "answer": reply} for question in questions]

    return ask


def _squeeze(text: str) -> str:
    """Text without spacing or the escapes of a rendering, for look-ups across line breaks."""
    return re.sub(r"\s+", "", display_form(text).replace("\\", "")).casefold()


def play(
    app,
    client: ApiClient,
    account: Account,
    model: LyingModel,
    entries: list[dict[str, Any]],
    contexts: dict[str, dict],
) -> list[Outcome]:
    """Play every entry through tailoring, storage and the downloads; one outcome each."""
    resumes = expected_by_file()
    by_resume: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_resume[entry["resume"]].append(entry)
    outcomes: list[Outcome] = []
    for name, resume_entries in by_resume.items():
        key = _resume_key(name, resumes)
        context = _context(name, key, contexts)
        parsed = as_parsed(resumes[key], context.get("projects"))
        source_text = _squeeze(tailoring.plain_text(tailoring.normalised(parsed)))
        for played in rounds(resume_entries):
            model.edits = _edits(played)
            with app.app_context():
                result = tailoring.tailor(
                    get_engine(),
                    resume=parsed,
                    job_description=context["job_description"],
                    ask_mimikree=_ask_with(_answers(context)),
                )
                row = tailored_resumes.create(
                    user_id=account.id, source_resume_id=None, result=result
                )
                stored_id = str(row.id)
            stored = tailoring.plain_text(result["tailored_resume"])
            texts = {"stored": _squeeze(stored)}
            for fmt in FORMATS:
                response = client.get(
                    f"/api/user/tailored-resumes/{stored_id}?format={fmt}",
                    token=account.access_token,
                )
                assert response.status_code == 200, response.get_json()
                texts[fmt] = _squeeze(downloaded_text(fmt, response.data))
            rejected = {
                json.dumps(r["edit"].get("text")): r["reason"] for r in result["rejected_edits"]
            }
            for entry in played:
                outcomes.append(_outcome(entry, result, texts, source_text, stored, rejected))
    return outcomes


def _outcome(entry, result, texts, source_text, stored, rejected) -> Outcome:
    path = _path(entry["target"])
    sentence = _sentence(entry["text"])
    wanted = _squeeze(sentence.rstrip("."))
    outcome = Outcome(entry, path, sentence)
    for dropped in result["dropped_claims"]:
        said = _squeeze(dropped["text"].rstrip("."))
        if dropped["section"] == path and (said in wanted or wanted in said):
            outcome.dropped.append(dropped)
    lie = entry.get("lie")
    lie_squeezed = _squeeze(lie) if lie else None
    for where, text in texts.items():
        if wanted in text or (
            lie_squeezed and lie_squeezed not in source_text and lie_squeezed in text
        ):
            outcome.found_in.append(where)
    outcome.kept = wanted in _squeeze(stored)
    if entry["target"]["section"] != "summary":
        outcome.rejected = rejected.get(json.dumps(entry["text"]))
    return outcome


def by_family(outcomes: list[Outcome], key: str) -> dict[str, list[Outcome]]:
    """Outcomes grouped by an entry field (`family`, `kind`)."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.entry.get(key) or "?"].append(outcome)
    return dict(sorted(groups.items()))
