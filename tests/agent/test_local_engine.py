"""The local engine: deterministic, offline, honest answers to every engine task."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.agent.engines.local import LocalEngine
from server.agent.engines.tasks import schema_errors

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BACKEND_JD = (FIXTURES / "jd-backend-eng.txt").read_text()
FRONTEND_JD = (FIXTURES / "jd-frontend-eng.txt").read_text()

RESUME = {
    "summary": "Backend developer who builds reliable services",
    "experience": [
        {
            "employer": "Acme Corp",
            "title": "Software Engineer",
            "bullets": [
                "Organised the team's weekly demo sessions",
                "Built REST services in Python and Flask backed by Postgres",
                "Moved deployments to k8s with Docker images built in GitHub Actions",
            ],
        }
    ],
    "skills": ["JavaScript", "Flask", "Docker", "Python", "Postgres"],
    "projects": [
        {"name": "Recipe app", "description": "A React front end for recipes"},
        {"name": "Queue", "description": "A job queue on Redis written in Python"},
    ],
}


@pytest.fixture
def engine():
    return LocalEngine()


def test_it_extracts_the_obvious_skills_of_a_backend_job(engine):
    result = engine.extract_requirements(job_description=BACKEND_JD)
    expected = {
        "Python", "FastAPI", "Django REST Framework", "AWS", "Kafka", "PostgreSQL", "asyncio",
        "Docker", "Kubernetes", "SQL", "Redis", "GitHub Actions", "CircleCI", "Datadog",
        "OpenTelemetry", "CI/CD", "Microservices",
    }  # fmt: skip
    assert expected <= set(result["keywords"])
    assert result["title"] == "Senior Backend Engineer" and result["seniority"] == "senior"
    assert (result["engine"], result["model"]) == ("local", "local-keywords-1")
    assert schema_errors("extract_requirements", {
        k: v for k, v in result.items() if k not in ("engine", "model", "cached")
    }) == []  # fmt: skip


def test_years_of_experience_become_an_experience_requirement(engine):
    requirements = engine.extract_requirements(job_description=BACKEND_JD)["requirements"]
    [years] = [r for r in requirements if r["kind"] == "experience"]
    assert years["years"] == 4 and years["keywords"] == ["Python"]
    assert years["text"] == "4+ years of professional Python experience"


def test_it_finds_a_frontend_jobs_skills_without_backend_ones(engine):
    keywords = set(engine.extract_requirements(job_description=FRONTEND_JD)["keywords"])
    assert {"React", "Next.js", "TypeScript", "Tailwind CSS", "Playwright", "GraphQL"} <= keywords
    assert not keywords & {"Python", "Kafka", "PostgreSQL"}


def test_preferred_requirements_are_marked_preferred(engine):
    text = "Data Engineer\n\nRequirements:\n- Python and SQL\n\nNice to have:\n- Airflow\n"
    requirements = engine.extract_requirements(job_description=text)["requirements"]
    importance = {r["text"]: r["importance"] for r in requirements}
    assert importance == {"Python and SQL": "required", "Airflow": "preferred"}


def test_the_same_input_gives_the_same_output(engine):
    for _ in range(2):
        assert engine.extract_requirements(job_description=BACKEND_JD) == LocalEngine(
        ).extract_requirements(job_description=BACKEND_JD)  # fmt: skip
    requirements = engine.extract_requirements(job_description=BACKEND_JD)["requirements"]
    edits = [engine.propose_edits(resume=RESUME, requirements=requirements, evidence=[])]
    edits.append(LocalEngine().propose_edits(resume=RESUME, requirements=requirements, evidence=[]))
    assert edits[0] == edits[1]


def test_edits_reorder_but_never_rewrite_the_persons_sentences(engine):
    requirements = engine.extract_requirements(job_description=BACKEND_JD)["requirements"]
    result = engine.propose_edits(resume=RESUME, requirements=requirements, evidence=[])
    edits = result["edits"]
    assert result["rejected_edits"] == []
    by_kind = {(e["section"], e["action"], e.get("bullet_index")): e for e in edits}

    # No bullet is rewritten: "Postgres" and "k8s" stay as the person wrote them.
    assert not [e for e in edits if e["section"] == "experience" and e["action"] == "rewrite"]
    bullets = by_kind[("experience", "reorder", None)]
    assert bullets["order"][-1] == 0  # the bullet without the job's keywords goes last
    skills = by_kind[("skills", "reorder", None)]["order"]
    assert [RESUME["skills"][i] for i in skills][-2:] == ["JavaScript", "Flask"]
    projects = by_kind[("projects", "select", None)]
    assert projects["order"] == [1]  # the Redis/Python project, not the React one
    summary = by_kind[("summary", "rewrite", None)]["text"]
    assert summary.startswith(RESUME["summary"] + ". Experienced with ")
    # Only skills the resume shows are named, each as the resume spells it; the job's Kafka
    # and AWS are not, nor Kubernetes ("k8s" aside, the resume never names it so).
    assert "Kafka" not in summary and "AWS" not in summary
    assert "Python" in summary and "Postgres" in summary and "PostgreSQL" not in summary
    assert "k8s" in summary and "Kubernetes" not in summary


def test_mimikree_evidence_lets_the_summary_name_a_skill(engine):
    requirements = [
        {"text": "Kafka", "kind": "skill", "keywords": ["Kafka"], "importance": "required"}
    ]
    evidence = [{"requirement": "Kafka", "source": "mimikree", "text": "I ran Kafka at Acme."}]
    without = engine.propose_edits(resume=RESUME, requirements=requirements, evidence=[])
    with_evidence = engine.propose_edits(
        resume=RESUME, requirements=requirements, evidence=evidence
    )
    assert without["edits"] == []
    assert "Kafka" in with_evidence["edits"][0]["text"]


def test_a_skill_only_mimikree_shows_comes_first_in_a_crowded_summary(engine):
    # Six job skills the resume already shows (beyond the summary's cap of five) and one
    # only the user's Mimikree answer shows: that one must not be crowded out.
    skills = ["Python", "Flask", "Docker", "Postgres", "Redis", "JavaScript"]
    resume = {**RESUME, "skills": skills}
    requirements = [
        {"text": s, "kind": "skill", "keywords": [s], "importance": "required"}
        for s in ["Python", "Flask", "Docker", "PostgreSQL", "Redis", "JavaScript", "Kafka"]
    ]
    evidence = [{"requirement": "Kafka", "source": "mimikree", "text": "I ran Kafka at Acme."}]
    result = engine.propose_edits(resume=resume, requirements=requirements, evidence=evidence)
    [summary] = [e for e in result["edits"] if e["section"] == "summary"]
    assert "Kafka" in summary["text"], summary


def test_ranking_puts_the_best_match_first(engine):
    candidates = [
        {"id": "frontend", "text": FRONTEND_JD},
        {"id": "backend", "text": BACKEND_JD},
    ]
    query = "Python developer with PostgreSQL, Redis, Docker and Kafka experience"
    rankings = engine.rank(query=query, candidates=candidates)["rankings"]
    assert [r["id"] for r in rankings] == ["backend", "frontend"]
    assert rankings[0]["score"] == 100 and rankings[1]["score"] == 0
    assert rankings[1]["missing_keywords"] == ["Python", "PostgreSQL", "Redis", "Docker", "Kafka"]


ISSUE_RESUME = {
    "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "experience": [
        {
            "title": "Platform Engineer",
            "employer": "Acme",
            "dates": "2020 - 2024",
            "bullets": [
                "Organised the team's offsite",
                "Led containerization of 12 services",
                "Added a cache in front of the orders API",
                "Provided mentoring to 3 engineers",
            ],
        },
        {
            "title": "Software Engineer",
            "employer": "Globex",
            "dates": "2017 - 2020",
            "bullets": [
                "Wrote release tooling in Python",
                "Moved billing to event-driven microservices architecture",
            ],
        },
    ],
    "skills": [{"category": None, "items": ["Terraform", "Redis", "Python"]}],
}
ISSUE_JOB = (
    "Platform Engineer\nRequirements:\n- Docker and Kubernetes\n- Caching strategies\n"
    "- Mentoring junior engineers\n- Event-driven architecture and microservices\n- Python\n"
)


def test_the_sentences_the_issue_saw_broken_stay_the_persons_own():
    from server.agent.tailoring import normalised, plain_text, tailor
    from tests.grammar_check import problems

    result = tailor(LocalEngine(), resume=ISSUE_RESUME, job_description=ISSUE_JOB)
    tailored = result["tailored_resume"]
    for before, after in zip(ISSUE_RESUME["experience"], tailored["experience"], strict=True):
        assert sorted(after["bullets"]) == sorted(before["bullets"])  # reordered, not rewritten
    # The job-relevant bullets come first; the offsite goes last.
    assert tailored["experience"][0]["bullets"][-1] == "Organised the team's offsite"
    assert tailored["experience"][1]["bullets"][0].startswith("Moved billing")
    assert tailored["skills"][0]["items"][0] == "Python"
    text = plain_text(tailored)
    # "containerization" is related to Docker but no spelling of it: neither tool is named.
    assert "Docker" not in text and "Kubernetes" not in text
    summary = tailored["summary"]
    assert summary == (
        "Platform Engineer experienced with cache, mentoring, event-driven microservices "
        "architecture and Python."
    )
    assert problems("", summary, source=plain_text(normalised(ISSUE_RESUME))) == []
    assert [c["action"] for c in result["diff"] if c["section"] == "summary"] == ["rewrite"]


def test_a_jobs_own_words_outside_the_vocabulary_are_named_only_as_the_resume_writes_them(
    engine,
):
    resume = {
        "summary": "",
        "experience": [
            {
                "title": "Staff Accountant",
                "employer": "Brightline",
                "bullets": [
                    "Organised the office move",
                    "Closed the books each month in QuickBooks Online",
                    "Ran Accounts Payable for 40 vendors under GAAP",
                    "Trained two clerks to prepare tax returns",
                    "Answered support tickets from 12 branches",
                ],
            }
        ],
        "skills": ["Excel", "Customer service", "QuickBooks Online"],
    }
    requirements = [
        {"text": t, "kind": "skill", "keywords": k, "importance": i}
        for t, k, i in (
            ("QuickBooks Online", ["QuickBooks Online"], "required"),
            ("Accounts payable under GAAP", ["accounts payable", "GAAP"], "required"),
            ("Prepare tax returns", ["prepare tax returns"], "required"),
            ("Support tickets", ["support tickets"], "preferred"),
            ("NetSuite", ["NetSuite"], "preferred"),
        )
    ]
    edits = engine.propose_edits(resume=resume, requirements=requirements, evidence=[])["edits"]
    by_section = {e["section"]: e for e in edits}
    # As the resume writes them ("Accounts Payable"); NetSuite (not in the resume) is not
    # named, nor a phrase that opens with a verb ("experienced with prepare tax returns").
    assert by_section["summary"]["text"] == (
        "Staff Accountant experienced with QuickBooks Online, Accounts Payable, GAAP and "
        "support tickets."
    )
    assert by_section["experience"]["order"] == [2, 1, 3, 4, 0]
    assert by_section["skills"]["order"][0] == 2
