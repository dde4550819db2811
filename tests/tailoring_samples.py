"""A resume and a job description the tailoring tests share, and Gemini stand-in answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

RESUME_TEXT = """Jane Doe
Backend Engineer
jane@example.com | (555) 123-4567 | Austin, TX | github.com/jane

SUMMARY
Backend engineer with 6 years building Python services.

EXPERIENCE
Senior Software Engineer | Acme Corp | Austin, TX
Jan 2021 - Present
- Mentored 3 engineers
- Reduced p99 latency by 40% with Redis caching
- Built Python APIs on Postgres serving 2M requests a day

Software Engineer | Globex | Remote
2017 - 2020
- Wrote Django services and Celery workers
- Ran Docker deployments on AWS

EDUCATION
B.S. Computer Science, University of Texas at Austin, 2017

SKILLS
Languages: Go, SQL, Python
Tools: Redis, Docker, Postgres, AWS

PROJECTS
Garden Planner - a React app for seed schedules (2020)
- Drew charts of seed schedules
Queue Lab - a Redis job queue in Python (2022)
- Benchmarked 10k jobs per second

CERTIFICATIONS
AWS Certified Developer - Associate, Amazon, 2020
"""

JOB_DESCRIPTION = """We are hiring a Senior Backend Engineer.
Requirements: 5+ years of Python; PostgreSQL and Redis; Docker and Kubernetes; AWS.
Nice to have: Kafka.
"""

REQUIREMENTS = {
    "title": "Senior Backend Engineer",
    "seniority": "senior",
    "requirements": [
        {
            "text": "5+ years of Python",
            "kind": "experience",
            "keywords": ["Python"],
            "importance": "required",
            "years": 5,
        },
        {
            "text": "PostgreSQL and Redis",
            "kind": "skill",
            "keywords": ["PostgreSQL", "Redis"],
            "importance": "required",
            "years": None,
        },
        {
            "text": "Docker and Kubernetes",
            "kind": "skill",
            "keywords": ["Docker", "Kubernetes"],
            "importance": "required",
            "years": None,
        },
        {"text": "Kafka", "kind": "skill", "keywords": ["Kafka"], "importance": "preferred"},
    ],
    "keywords": ["Python", "PostgreSQL", "Redis", "Docker", "Kubernetes", "Kafka"],
}


def edit(section: str, action: str, **fields: Any) -> dict[str, Any]:
    """One edit as an engine proposes it."""
    return {
        "section": section,
        "action": action,
        "experience_index": fields.get("experience_index"),
        "bullet_index": fields.get("bullet_index"),
        "text": fields.get("text"),
        "order": fields.get("order"),
        "keywords": fields.get("keywords", []),
        "reason": fields.get("reason", "stronger for the job"),
    }


FAITHFUL_EDITS = {
    "edits": [
        edit(
            "summary",
            "rewrite",
            text="Backend engineer with 6 years building Python services on PostgreSQL, "
            "Redis and AWS.",
            keywords=["Python", "PostgreSQL", "Redis", "AWS"],
        ),
        edit(
            "experience",
            "rewrite",
            experience_index=0,
            bullet_index=2,
            text="Built Python APIs on PostgreSQL serving 2M requests a day",
            keywords=["PostgreSQL"],
        ),
        edit("experience", "reorder", experience_index=0, order=[2, 1, 0]),
        edit("projects", "select", order=[1]),
    ]
}

# What a model that makes things up might answer: an employer, a degree, a bigger number and
# a skill that nothing in the resume shows.
INVENTED_EDITS = {
    "edits": [
        edit(
            "summary",
            "rewrite",
            text="Backend engineer with 6 years building Python services. Previously a "
            "backend engineer at Initech. Holds a PhD in Computer Science. Runs production "
            "Kubernetes clusters.",
            keywords=["Kubernetes"],
        ),
        edit(
            "experience",
            "rewrite",
            experience_index=0,
            bullet_index=1,
            text="Reduced p99 latency by 90% with Redis caching",
            keywords=["Redis"],
        ),
        edit(
            "experience",
            "rewrite",
            experience_index=0,
            bullet_index=2,
            text="Built Python APIs on PostgreSQL serving 2M requests a day",
            keywords=["PostgreSQL"],
        ),
    ]
}


def task_of(body: dict[str, Any]) -> str:
    """The engine task a generateContent request body asks for."""
    return json.loads(body["contents"][0]["parts"][0]["text"])["task"]


def gemini_answers(
    edits: dict[str, Any] = FAITHFUL_EDITS, requirements: dict[str, Any] = REQUIREMENTS
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stand-in `answer` that replies to each task with its scripted output."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return requirements if task_of(body) == "extract_requirements" else edits

    return answer
