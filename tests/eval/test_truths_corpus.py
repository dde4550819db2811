"""The corpus of true rephrasings is complete and well formed: enough entries of every kind over
enough resumes (every resume outside software among them), each aimed at a bullet or summary
that exists, resting on words its resume or the user's answers really hold, and each resume
with the job description and answers it was written against."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from tests.resume_corpus import CORPUS_DIR

TRUTHS = Path(__file__).resolve().parent / "truths"
REPHRASINGS = json.loads((TRUTHS / "rephrasings.json").read_text(encoding="utf-8"))
CONTEXTS = json.loads((TRUTHS / "contexts.json").read_text(encoding="utf-8"))
RESUMES = {
    path.name: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(CORPUS_DIR.glob("*.expected.json"))
}

KINDS = {
    "reorder", "tense", "condense", "synonym", "canonical-name", "abbreviation",
    "summary-combine", "summary-years", "evidenced-term",
}  # fmt: skip
SUMMARY_KINDS = {"summary-combine", "summary-years"}
ENTRY_KEYS = {"resume", "target", "kind", "text", "source"}
# Words of an employer's name that do not tell one employer from another.
GENERIC_NAME_WORDS = {
    "inc", "corp", "ltd", "co", "company", "the", "and", "of", "for", "bank", "pay",
    "solutions", "industries", "university", "organization", "group",
}  # fmt: skip


def squeezed(text: str) -> str:
    return " ".join(text.split())


def bullet_of(entry: dict) -> str:
    target = entry["target"]
    return RESUMES[entry["resume"]]["experience"][target["role"]]["bullets"][target["bullet"]]


def answers_of(resume_name: str) -> list[str]:
    return [item["answer"] for item in CONTEXTS[resume_name]["answers"]]


def resume_texts(resume: dict) -> list[str]:
    """Every printed field a rephrasing may quote: roles, bullets, education, skills, summary."""
    texts = []
    for role in resume["experience"]:
        texts += [role["title"], role["employer"], role["dates"], *role["bullets"]]
    for school in resume["education"]:
        texts += [school["institution"], school["degree"], school["dates"]]
    texts += [*resume["skills"], resume["summary"]]
    return [text for text in texts if text]


def names_employer(answer: str, employer: str) -> bool:
    words = re.findall(r"[A-Za-z][A-Za-z.&]*[A-Za-z]", employer)
    distinctive = [w for w in words if len(w) >= 3 and w.lower() not in GENERIC_NAME_WORDS]
    return any(re.search(rf"\b{re.escape(w)}\b", answer, re.IGNORECASE) for w in distinctive)


def is_positive(answer: str) -> bool:
    return answer.startswith("Yes, ")


def is_negative(answer: str) -> bool:
    return answer.startswith("No, ")


def summary_sentences(summary: str | None) -> list[str]:
    return [squeezed(s) for s in re.split(r"(?<=[.!?])\s+", summary or "") if s.strip()]


def used_resumes() -> set[str]:
    return {entry["resume"] for entry in REPHRASINGS}


def test_the_corpus_holds_at_least_170_rephrasings_over_at_least_13_resumes():
    assert len(REPHRASINGS) >= 170
    assert len(used_resumes()) >= 13


def test_every_resume_outside_software_is_used():
    outside_software = {name for name, resume in RESUMES.items() if resume["field"] != "software"}
    assert outside_software - used_resumes() == set()


def test_every_kind_is_known_and_written_at_least_15_times():
    kinds = Counter(entry["kind"] for entry in REPHRASINGS)
    assert set(kinds) == KINDS
    assert {kind: n for kind, n in kinds.items() if n < 15} == {}


def test_each_kind_is_spread_over_resumes_and_over_bullets_and_summaries():
    for kind in KINDS:
        entries = [entry for entry in REPHRASINGS if entry["kind"] == kind]
        assert len({entry["resume"] for entry in entries}) >= 5, kind
        sections = Counter(entry["target"]["section"] for entry in entries)
        if kind in SUMMARY_KINDS:
            assert set(sections) == {"summary"}, kind
        else:
            assert sections["summary"] >= 3 and sections["experience"] >= 3, (kind, sections)


def test_every_entry_has_the_agreed_shape():
    for entry in REPHRASINGS:
        assert set(entry) == ENTRY_KEYS, entry
        assert isinstance(entry["text"], str) and entry["text"].strip(), entry
        assert isinstance(entry["source"], str) and entry["source"].strip(), entry


def test_every_target_names_a_summary_or_a_bullet_its_resume_has():
    missing = []
    for entry in REPHRASINGS:
        resume = RESUMES.get(entry["resume"])
        target = entry["target"]
        if resume is None:
            missing.append(entry)
        elif target == {"section": "summary"}:
            continue
        elif set(target) != {"section", "role", "bullet"} or target["section"] != "experience":
            missing.append(entry)
        elif not 0 <= target["role"] < len(resume["experience"]):
            missing.append(entry)
        elif not 0 <= target["bullet"] < len(resume["experience"][target["role"]]["bullets"]):
            missing.append(entry)
    assert missing == []


def test_a_bullet_rephrasing_rests_on_its_own_bullet_and_nothing_else_but_answers():
    for entry in REPHRASINGS:
        if entry["target"]["section"] != "experience":
            continue
        first, *rest = entry["source"].split("\n")
        assert first == bullet_of(entry), entry
        if entry["kind"] == "evidenced-term":
            assert rest and set(rest) <= set(answers_of(entry["resume"])), entry
        else:
            assert rest == [], entry


def test_a_summary_rephrasing_rests_on_words_its_resume_or_answers_hold():
    unfounded = []
    for entry in REPHRASINGS:
        if entry["target"]["section"] != "summary":
            continue
        material = resume_texts(RESUMES[entry["resume"]]) + answers_of(entry["resume"])
        for line in entry["source"].split("\n"):
            if not any(line in text for text in material):
                unfounded.append((entry["resume"], line))
    assert unfounded == []


def test_an_evidenced_term_rests_on_a_positive_answer_about_the_role_it_rewrites():
    for entry in REPHRASINGS:
        if entry["kind"] != "evidenced-term":
            continue
        answers = set(answers_of(entry["resume"]))
        used = [line for line in entry["source"].split("\n") if line in answers]
        assert used and all(is_positive(answer) for answer in used), entry
        if entry["target"]["section"] == "experience":
            role = RESUMES[entry["resume"]]["experience"][entry["target"]["role"]]
            if role["employer"]:
                assert all(names_employer(answer, role["employer"]) for answer in used), entry


def test_every_resume_used_has_a_context_and_every_context_a_use():
    assert set(CONTEXTS) == used_resumes()


def test_each_context_has_a_job_description_and_yes_and_no_answers():
    for name, context in CONTEXTS.items():
        assert set(context) == {"job_description", "answers"}, name
        assert 150 <= len(context["job_description"].split()) <= 300, name
        assert 2 <= len(context["answers"]) <= 4, name
        for item in context["answers"]:
            assert set(item) == {"question", "answer"} and item["question"].strip(), name
        answers = answers_of(name)
        assert any(is_negative(answer) for answer in answers), name
        employers = [r["employer"] for r in RESUMES[name]["experience"] if r["employer"]]
        positives = [answer for answer in answers if is_positive(answer)]
        assert positives, name
        if employers:
            assert any(names_employer(a, e) for a in positives for e in employers), name


def test_no_two_entries_share_a_text():
    texts = Counter(squeezed(entry["text"]) for entry in REPHRASINGS)
    assert [text for text, n in texts.items() if n > 1] == []


def test_no_rephrasing_repeats_the_words_it_rewrites():
    for entry in REPHRASINGS:
        text = squeezed(entry["text"])
        assert text != squeezed(entry["source"]), entry
        if entry["target"]["section"] == "experience":
            assert text != squeezed(bullet_of(entry)), entry
        else:
            summary = RESUMES[entry["resume"]]["summary"]
            assert text not in summary_sentences(summary), entry
            assert text != squeezed(summary or ""), entry
