"""Edits that read well: the local engine, tailoring every resume of the evaluation set and of
the real-resume corpus to its job, rewrites no sentence of the person's (it reorders, selects
and adds one summary sentence), and every rewrite it makes passes a grammar check
(tests/grammar_check.py): no doubled or echoed word, no article before a common noun made a
name, no common noun capitalised inside a sentence, no sentence without its verb, no tool name
the person's material never spells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.agent.engines.local import LocalEngine
from server.agent.tailoring import normalised, plain_text, tailor
from tests.eval.test_tailoring_eval import CASES
from tests.grammar_check import problems
from tests.resume_corpus import as_parsed, expected_by_file

# pytest-xdist: the tailorings are made once, by one worker, for all its tests.
pytestmark = pytest.mark.xdist_group("edits_read_well")

EVAL = Path(__file__).resolve().parent


def _pairs() -> list[tuple[str, dict, str]]:
    """(name, resume, job description): the evaluation set, then each corpus resume with the
    job descriptions written for it."""
    pairs = []
    for case in CASES:
        resume, description = case.load()
        pairs.append((case.name, resume, description))
    resumes = expected_by_file()
    for corpus in ("adversarial", "truths"):
        contexts = json.loads((EVAL / corpus / "contexts.json").read_text(encoding="utf-8"))
        for name, context in sorted(contexts.items()):
            pairs.append((f"{corpus}/{name}", as_parsed(resumes[name]), context["job_description"]))
    return pairs


@pytest.fixture(scope="module")
def tailorings() -> list[tuple[str, dict, dict]]:
    return [
        (name, resume, tailor(LocalEngine(), resume=resume, job_description=description))
        for name, resume, description in _pairs()
    ]


def test_the_checker_finds_the_breakages_a_word_for_word_respelling_made():
    broken = {
        "Added a cache in front of the orders API": "Added a Caching in front of the orders API",
        "Provided mentoring to 3 engineers": "Provided Mentoring to 3 engineers",
        "Moved billing to event-driven microservices architecture": (
            "Moved billing to Event-driven architecture microservices architecture"
        ),
        "Led containerization of 12 services": "Led Docker of 12 services",
        "Migrated 40 cron jobs to Airflow": "40 cron jobs to Airflow",
    }
    for before, after in broken.items():
        assert problems(before, after, source=before), after
    # An adjective the material spells ("event-driven services") listed without its noun.
    source = "Moved billing to event-driven services in SQL."
    summary = "Data engineer. Experienced with event-driven, services and SQL."
    assert problems("Data engineer.", summary, source=source) == [
        "an adjective without its noun: 'event-driven'"
    ]
    assert problems("Built APIs on Postgres", "Built APIs on Postgres", source="") == []


def test_the_local_engine_rewrites_no_sentence_and_what_it_writes_reads_well(tailorings, figures):
    checked = summaries = 0
    found = []
    for name, resume, result in tailorings:
        assert result["dropped_claims"] == [], name
        source = plain_text(normalised(resume)) + "\n" + str(resume.get("raw_text") or "")
        for change in result["diff"]:
            if change["action"] != "rewrite":
                continue
            assert change["section"] == "summary", (name, change)
            summaries += 1
            checked += 1
            found += [
                (name, problem)
                for problem in problems(change["before"] or "", change["after"], source=source)
            ]
    figures.append(
        f"eval.edits.rewrites tailorings={len(tailorings)} checked={checked} "
        f"summaries_written={summaries} bullets_rewritten=0 grammar_problems={len(found)}"
    )
    assert found == []
    assert summaries >= len(tailorings) // 2
