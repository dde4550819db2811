"""The claim checks behind tailoring's verifier: what the source supports, and what it does not."""

from __future__ import annotations

import pytest

from server.agent.claims import Scope, unsupported_claims

SOURCE = """Senior Software Engineer | Acme Corp | Austin, TX | Jan 2021 - Present
Built Python APIs on Postgres serving 2M requests a day
Reduced p99 latency by 40% with Redis caching
Mentored 3 engineers
B.S. Computer Science, University of Texas at Austin, 2017
AWS Certified Developer - Associate, Amazon, 2020"""


@pytest.fixture(scope="module")
def scope():
    return Scope.of([SOURCE], keywords=["Kafka", "ownership"])


def claims(text, scope):
    return {(claim.kind, claim.text) for claim, _reason in unsupported_claims(text, scope)}


@pytest.mark.parametrize(
    "text",
    [
        "Built Python APIs on PostgreSQL serving 2 million requests a day.",
        "Mentored three engineers.",
        "Senior Software Engineer at Acme Corp since 2021.",
        "Designed caching with Redis that reduced p99 latency by 40%.",
        "Holds a B.S. from the University of Texas at Austin.",
        "AWS Certified Developer with Python and Redis.",
    ],
)
def test_what_the_source_says_passes_however_it_is_worded(text, scope):
    assert claims(text, scope) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reduced p99 latency by 60% with Redis caching.", ("number", "60%")),
        ("Mentored 12 engineers.", ("number", "12")),
        ("Mentored five engineers.", ("number", "five")),
        ("Staff Software Engineer with Python.", ("title", "Staff Software Engineer")),
        ("Built APIs for Initech.", ("employer", "Initech")),
        ("Earned an MBA.", ("degree", "mba")),
        ("Studied at Stanford University.", ("institution", "Stanford University")),
        ("Built Kafka pipelines.", ("skill", "Kafka")),
        ("Runs Kubernetes clusters.", ("skill", "Kubernetes")),
        ("Took ownership of releases.", ("skill", "ownership")),
        ("Shipped APIs since 2014.", ("date", "2014")),
        (
            "Holds the Google Cloud Certified Architect credential.",
            ("certification", "Google Cloud Certified Architect"),
        ),
    ],
)
def test_each_kind_of_invented_claim_is_caught(text, expected, scope):
    assert expected in claims(text, scope)


def test_a_common_word_opening_a_sentence_is_no_name(scope):
    assert claims("Architected Python APIs. Designed Redis caching.", scope) == set()
