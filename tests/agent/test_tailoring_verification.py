"""Tailoring verifies each edit against the right scope: a bullet its own role, a project line
its own project, the summary the whole resume; the user's "no" is never evidence."""

from __future__ import annotations

import copy

from server.agent.engines.local import LocalEngine
from server.agent.tailoring import apply_and_verify, normalised, tailor
from tests.agent.test_verifier import RESUME
from tests.lying_model import rewrite

SOURCE = normalised(
    {
        **copy.deepcopy(RESUME),
        "projects": [
            {
                "name": "Route Planner",
                "role": "a delivery route tool in Python",
                "bullets": ["Planned 40 delivery routes a day with OR-Tools"],
            }
        ],
    }
)


def applied(edits, answers=()):
    return apply_and_verify(SOURCE, edits, keywords=["SQL"], answers=list(answers))


def test_a_bullet_may_not_borrow_another_roles_facts():
    tailored, _diff, dropped, _rejected = applied(
        [rewrite("experience", 1, 0, "Built SQL reports with a weekly Tableau dashboard.")]
    )
    assert tailored["experience"][1]["bullets"][0] == SOURCE["experience"][1]["bullets"][0]
    assert [(d["section"], d["claim"]) for d in dropped] == [
        ("experience[1].bullets[0]", "weekly Tableau dashboard")
    ]


def test_a_bullet_reworded_from_its_own_role_is_kept_as_read():
    text = "Built SQL re\u200bports on vendor lead times for a team of four buyers."
    tailored, diff, dropped, _rejected = applied([rewrite("experience", 1, 0, text)])
    assert dropped == []
    assert tailored["experience"][1]["bullets"][0] == (
        "Built SQL reports on vendor lead times for a team of four buyers."
    )
    assert [d["section"] for d in diff] == ["experience[1].bullets[0]"]


def test_a_project_line_rests_on_its_project_alone():
    tailored, _diff, dropped, _rejected = applied(
        [
            rewrite("projects", 0, 0, "Planned 400 delivery routes a day with OR-Tools."),
        ]
    )
    assert tailored["projects"][0]["bullets"] == ["Planned 40 delivery routes a day with OR-Tools"]
    assert [d["claim"] for d in dropped] == ["400"]
    kept, _diff, dropped, _rejected = applied(
        [rewrite("projects", 0, 0, "Planned forty delivery routes a day using OR-Tools.")]
    )
    assert dropped == []
    assert kept["projects"][0]["bullets"] == ["Planned forty delivery routes a day using OR-Tools."]


def test_the_summary_loses_only_its_unsupported_sentences():
    text = (
        "Senior Operations Analyst at Northwind Traders. Holds an MBA from Golden Gate "
        "University. Builds Tableau dashboards and SQL reports."
    )
    tailored, _diff, dropped, _rejected = applied([rewrite("summary", None, None, text)])
    assert tailored["summary"] == (
        "Senior Operations Analyst at Northwind Traders. Builds Tableau dashboards and SQL reports."
    )
    assert {d["text"] for d in dropped} == {"Holds an MBA from Golden Gate University."}


def test_a_no_from_the_user_is_never_evidence():
    answers = ["No, I have not used SAP.", "Yes, at Northwind I used Looker for weekly reports."]
    tailored, _diff, dropped, _rejected = applied(
        [
            rewrite("experience", 0, 0, "Cut inventory write-offs by 18% with SAP reports."),
            rewrite("experience", 0, 1, "Used Looker for weekly reports."),
        ],
        answers,
    )
    bullets = tailored["experience"][0]["bullets"]
    assert bullets[0] == SOURCE["experience"][0]["bullets"][0]
    assert bullets[1] == "Used Looker for weekly reports."
    assert [d["claim"] for d in dropped] == ["SAP"]


def test_mimikree_answers_that_say_no_are_not_asked_into_the_evidence():
    def ask(questions):
        return [{"question": q, "answer": "No, I have never used it."} for q in questions]

    result = tailor(
        LocalEngine(),
        resume=SOURCE,
        job_description="Requirements: Kafka and Kubernetes.",
        ask_mimikree=ask,
    )
    assert [e for e in result["evidence"] if e["source"] == "mimikree"] == []
    assert result["mimikree"]["answered"] == 0
