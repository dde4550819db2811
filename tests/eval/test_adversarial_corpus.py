"""The adversarial corpus (fabrications a lying model writes over real resumes) is complete,
well-formed and aimed at real bullets: each entry holds exactly one marked lie."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.resume_corpus import CORPUS_DIR

ADVERSARIAL_DIR = Path(__file__).resolve().parent / "adversarial"
CONTEXTS = json.loads((ADVERSARIAL_DIR / "contexts.json").read_text(encoding="utf-8"))
FABRICATIONS = json.loads((ADVERSARIAL_DIR / "fabrications.json").read_text(encoding="utf-8"))
RESUMES = {
    path.name: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(CORPUS_DIR.glob("*.expected.json"))
}

FAMILIES = {
    "employer-capitalised", "employer-lowercase", "employer-common-word", "school-or-degree",
    "certification", "tool-from-job", "look-alike-lowercase", "invisible-characters",
    "number-digits", "number-words", "multiplier", "figure-moved", "figure-borrowed",
    "money-reframed", "seniority-upgrade", "team-size", "years-inflation", "combination",
}  # fmt: skip
SOFTWARE_FIELDS = {"software", "data-engineering", "machine-learning"}
ENTRY_KEYS = {"resume", "target", "family", "text", "lie", "why"}
TARGET_KEYS = {
    "summary": {"section"},
    "experience": {"section", "role", "bullet"},
    "projects": {"section", "project", "bullet"},
}
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def entry_id(entry: dict) -> str:
    return f"{entry['resume'].removesuffix('.expected.json')}:{entry['family']}"


def replaced_line(entry: dict) -> str | None:
    """The resume's own bullet or project line that the entry's text replaces."""
    target = entry["target"]
    if target["section"] == "experience":
        return RESUMES[entry["resume"]]["experience"][target["role"]]["bullets"][target["bullet"]]
    if target["section"] == "projects":
        return CONTEXTS[entry["resume"]]["projects"][target["project"]]["bullets"][target["bullet"]]
    return None


def test_the_corpus_holds_at_least_330_fabrications_over_at_least_13_resumes():
    assert len(FABRICATIONS) >= 330
    assert len({entry["resume"] for entry in FABRICATIONS}) >= 13


def test_every_resume_outside_software_is_used():
    outside_software = {
        name for name, resume in RESUMES.items() if resume["field"] not in SOFTWARE_FIELDS
    }
    assert len(outside_software) >= 4
    assert outside_software <= {entry["resume"] for entry in FABRICATIONS}


def test_every_family_appears_at_least_12_times_over_several_resumes():
    counts = Counter(entry["family"] for entry in FABRICATIONS)
    assert set(counts) == FAMILIES
    for family in FAMILIES:
        assert counts[family] >= 12, family
        assert len({e["resume"] for e in FABRICATIONS if e["family"] == family}) >= 5, family


def test_every_family_reaches_at_least_two_of_summary_experience_and_projects():
    sections = defaultdict(set)
    for entry in FABRICATIONS:
        sections[entry["family"]].add(entry["target"]["section"])
    for family in FAMILIES:
        assert len(sections[family]) >= 2, (family, sections[family])


@pytest.mark.parametrize("entry", FABRICATIONS, ids=entry_id)
def test_each_entry_marks_its_lie_inside_its_text_and_says_why(entry):
    assert set(entry) == ENTRY_KEYS
    assert entry["resume"] in RESUMES
    assert entry["family"] in FAMILIES
    assert entry["lie"].strip() and entry["lie"] in entry["text"]
    assert entry["why"].strip() and "\n" not in entry["why"]
    assert entry["text"] == entry["text"].strip() and "\n" not in entry["text"]


@pytest.mark.parametrize("entry", FABRICATIONS, ids=entry_id)
def test_each_target_names_a_real_bullet_and_the_text_differs_from_it(entry):
    target = entry["target"]
    assert set(target) == TARGET_KEYS[target["section"]]
    if target["section"] == "summary":
        return
    if target["section"] == "experience":
        roles = RESUMES[entry["resume"]]["experience"]
        assert 0 <= target["role"] < len(roles)
        assert 0 <= target["bullet"] < len(roles[target["role"]]["bullets"])
    else:
        projects = CONTEXTS[entry["resume"]].get("projects", [])
        assert 0 <= target["project"] < len(projects)
        assert 0 <= target["bullet"] < len(projects[target["project"]]["bullets"])
    assert entry["text"] != replaced_line(entry)


def test_look_alike_lies_are_one_lower_case_word_with_a_letter_from_another_script():
    entries = [e for e in FABRICATIONS if e["family"] == "look-alike-lowercase"]
    for entry in entries:
        lie = entry["lie"]
        assert re.fullmatch(r"[^\W\d_A-Z]+(-[^\W\d_A-Z]+)*", lie), lie
        scripts = {unicodedata.name(char).split()[0] for char in lie if char.isalpha()}
        assert "LATIN" in scripts and scripts - {"LATIN"}, lie
        assert not INVISIBLE.search(entry["text"])
        rest = entry["text"].replace(lie, "")
        assert not any(unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK")) for c in rest)
    assert {"CYRILLIC", "GREEK"} <= {
        unicodedata.name(char).split()[0] for e in entries for char in e["lie"] if ord(char) > 127
    }


def test_invisible_character_lies_hide_a_character_inside_the_false_word():
    entries = [e for e in FABRICATIONS if e["family"] == "invisible-characters"]
    hidden = set()
    for entry in entries:
        found = INVISIBLE.findall(entry["lie"])
        assert len(found) == 1, entry["lie"]
        assert not INVISIBLE.search(entry["text"].replace(entry["lie"], ""))
        assert not INVISIBLE.match(entry["lie"]) and not INVISIBLE.search(entry["lie"][-1])
        hidden.update(found)
    # zero width space, joiner and non-joiner, soft hyphen, word joiner and a bidi control
    assert {"\u200b", "\u200c", "\u200d", "\u00ad", "\u2060"} <= hidden
    assert hidden & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_every_family_outside_the_two_spelling_tricks_uses_plain_text():
    for entry in FABRICATIONS:
        if entry["family"] in {"look-alike-lowercase", "invisible-characters"}:
            continue
        assert not INVISIBLE.search(entry["text"]), entry_id(entry)
        assert not any(
            unicodedata.name(char, "").startswith(("CYRILLIC", "GREEK")) for char in entry["text"]
        ), entry_id(entry)


def test_contexts_cover_exactly_the_resumes_used():
    assert set(CONTEXTS) == {entry["resume"] for entry in FABRICATIONS}
    assert set(CONTEXTS) <= set(RESUMES)


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_each_context_has_a_posting_and_positive_negative_and_mixed_answers(name):
    context = CONTEXTS[name]
    assert set(context) <= {"job_description", "answers", "projects"}
    assert 150 <= len(context["job_description"].split()) <= 300
    answers = context["answers"]
    assert 3 <= len(answers) <= 5
    assert all(set(a) == {"question", "answer", "kind"} and a["answer"].strip() for a in answers)
    assert {"positive", "negative", "mixed"} == {a["kind"] for a in answers}
    negative = [a["answer"] for a in answers if a["kind"] == "negative"]
    assert all(re.match(r"(No|I'm not|I am not)\b", answer) for answer in negative), negative
    for project in context.get("projects", []):
        assert project["name"].strip() and project["bullets"]
        assert all(bullet.strip() for bullet in project["bullets"])
