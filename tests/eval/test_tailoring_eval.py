"""An evaluation set: varied resumes and job descriptions (fields, seniorities, layouts), each
tailored by the local engine and checked the same deterministic way:

- nothing fabricated: every word, number and skill of the tailored resume is in the source
  (the template words "experienced with ... and" aside), and every employer, title and date
  is the source's;
- every section kept, personal details unchanged;
- keyword coverage and the match score never lower than before;
- and invented claims pushed through the verifier (an employer, a degree, a number, a skill)
  never reach the output and are each listed as dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.agent.engines.local import LocalEngine
from server.agent.engines.vocabulary import TERMS, canonical_terms, keyword_in
from server.agent.resume_parsing import ExtractionLimits, parse_document, parse_resume_text
from server.agent.tailoring import apply_and_verify, normalised, plain_text, tailor
from server.agent.verifier import degree_levels
from tests.tailoring_samples import JOB_DESCRIPTION, RESUME_TEXT

# pytest-xdist: each case is tailored once, by one worker, for all its tests.
pytestmark = pytest.mark.xdist_group("tailoring_eval")

CASES_DIR = Path(__file__).resolve().parent / "cases"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEMPLATE_WORDS = {"experienced", "with", "and"}
SECTIONS = ("summary", "experience", "education", "skills", "projects", "certifications")


@dataclass(frozen=True)
class Case:
    name: str
    resume: str  # a file in cases/ or fixtures/, or "sample"
    job_description: str  # a file in cases/

    def load(self) -> tuple[dict, str]:
        jd = (CASES_DIR / self.job_description).read_text()
        if self.resume == "sample":
            return parse_resume_text(RESUME_TEXT), jd
        if self.resume.endswith(".pdf"):
            data = (FIXTURES / self.resume).read_bytes()
            limits = ExtractionLimits(
                cpu_seconds=10, memory_bytes=512 << 20, wall_seconds=20, max_pages=5
            )
            return parse_document(extension="pdf", data=data, limits=limits), jd
        text = (CASES_DIR / self.resume).read_text()
        return parse_resume_text(text, markdown=self.resume.endswith(".md")), jd


CASES = [
    Case("backend-senior", "sample", "jd-backend-eng.txt"),
    Case("backend-senior-pdf-single-column", "resume-single-column.pdf", "jd-backend-eng.txt"),
    Case("frontend-from-pdf-two-column", "resume-two-column.pdf", "jd-frontend-eng.txt"),
    Case("frontend-mid-markdown", "frontend-mid.md", "frontend-mid.jd.txt"),
    Case("backend-junior", "backend-junior.txt", "jd-backend-eng.txt"),
    Case("new-grad", "new-grad.txt", "new-grad.jd.txt"),
    Case("sre-staff", "sre-staff.txt", "sre-staff.jd.txt"),
    Case("data-scientist", "data-scientist.txt", "data-scientist.jd.txt"),
    Case("ml-researcher-phd", "ml-researcher.txt", "ml-researcher.jd.txt"),
    Case("nurse", "nurse.txt", "nurse.jd.txt"),
    Case("accountant", "accountant.txt", "accountant.jd.txt"),
    Case("teacher", "teacher.txt", "teacher.jd.txt"),
    Case("product-designer-markdown", "designer.md", "designer.jd.txt"),
    Case("marketing-manager", "marketing.txt", "marketing.jd.txt"),
    Case("mechanical-engineer", "mechanical.txt", "mechanical.jd.txt"),
]
_WORD = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def source_text(resume: dict) -> str:
    return plain_text(resume) + "\n" + str(resume.get("raw_text") or "")


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.name)
def tailored(request):
    resume, jd = request.param.load()
    result = tailor(LocalEngine(), resume=resume, job_description=jd)
    return resume, result


def test_the_set_is_varied_enough():
    assert len(CASES) >= 12
    assert len({case.job_description for case in CASES}) >= 12
    assert {Path(case.resume).suffix for case in CASES} >= {".txt", ".md", ".pdf", ""}


def test_nothing_is_fabricated(tailored):
    source, result = tailored
    out = result["tailored_resume"]
    text, original = plain_text(out), source_text(source)
    respelled = {
        w
        for term in TERMS
        if term.canonical in canonical_terms(original)
        for w in words(term.canonical)
    }
    assert words(text) - words(original) - TEMPLATE_WORDS - respelled == set()
    assert set(_DIGITS.findall(text)) <= set(_DIGITS.findall(original))
    assert set(canonical_terms(text)) <= set(canonical_terms(original))
    identity = ("title", "employer", "location", "start_date", "end_date", "dates")
    assert [{k: e.get(k) for k in identity} for e in out["experience"]] == [
        {k: e.get(k) for k in identity} for e in source["experience"]
    ]
    assert out["education"] == source["education"]
    assert out["certifications"] == source["certifications"]
    assert degree_levels(text) <= degree_levels(original)


def test_every_section_is_kept_and_personal_details_are_unchanged(tailored):
    source, result = tailored
    out = result["tailored_resume"]
    assert out["contact"] == source["contact"]
    assert out["sections"] == source["sections"]
    for section in SECTIONS:
        assert bool(out.get(section)) >= bool(source.get(section)), section
    assert len(out["experience"]) == len(source["experience"])
    for old, new in zip(source["experience"], out["experience"], strict=True):
        assert len(new["bullets"]) == len(old["bullets"])
    assert sorted(i for g in out["skills"] for i in g["items"]) == sorted(
        i for g in source["skills"] for i in g["items"]
    )


def test_keyword_coverage_is_never_lower(tailored):
    source, result = tailored
    keywords = [*result["keywords"]["present"], *result["keywords"]["missing"]]
    keywords += result["keywords"]["added_with_evidence"]
    before = [k for k in keywords if keyword_in(plain_text(source), k)]
    after = [k for k in keywords if keyword_in(plain_text(result["tailored_resume"]), k)]
    assert set(before) <= set(after)
    assert result["keywords"]["added_with_evidence"] == []  # no Mimikree here: nothing new
    assert result["match_score"]["after"] >= result["match_score"]["before"]


def _invented_edits(source: dict) -> tuple[list[dict], list[str]]:
    """Edits that add an employer, a degree the person lacks, a number and a skill."""
    original = source_text(source)
    skill = next(
        t.canonical
        for t in TERMS
        if t.canonical not in canonical_terms(original) and len(t.canonical) > 3
    )
    degree = "an MBA" if "mba" not in degree_levels(original) else "a PhD"
    summary = (source.get("summary") or "").strip()
    text = (
        f"{summary} Previously a lead at Initech Systems. Holds {degree}. "
        f"Expert in {skill}. Grew revenue by 977%."
    ).strip()
    edits = [
        {
            "section": "summary",
            "action": "rewrite",
            "text": text,
            "keywords": [],
            "reason": "invented",
            "experience_index": None,
            "bullet_index": None,
            "order": None,
        }
    ]
    invented = ["Initech", degree.split()[-1], skill, "977"]
    jobs = source.get("experience") or []
    if jobs and jobs[0].get("bullets"):
        bullet = jobs[0]["bullets"][0]
        edits.append(
            {
                "section": "experience",
                "action": "rewrite",
                "experience_index": 0,
                "bullet_index": 0,
                "text": bullet + " across 4,311 sites",
                "keywords": [],
                "reason": "inflated",
                "order": None,
            }
        )
        invented.append("4,311")
    return edits, invented


def test_invented_claims_never_reach_the_output(tailored):
    source, result = tailored
    edits, invented = _invented_edits(source)
    resume = {**source, "summary": source.get("summary") or ""}
    keywords = result["keywords"]["present"] + result["keywords"]["missing"]
    out, _diff, dropped, _rejected = apply_and_verify(
        normalised(resume), edits, keywords=keywords, answers=[]
    )
    text = plain_text(out)
    for claim in invented:
        assert not re.search(rf"(?<![\w+#]){re.escape(claim)}(?![\w+#])", text), claim
    kinds = {d["kind"] for d in dropped}
    assert {"degree", "number", "skill"} <= kinds
    assert kinds & {"employer", "name"}
    assert out["summary"] == (source.get("summary") or "")


def test_the_shared_sample_is_tailored_for_its_own_job_too():
    resume = parse_resume_text(RESUME_TEXT)
    result = tailor(LocalEngine(), resume=resume, job_description=JOB_DESCRIPTION)
    assert result["keywords"]["missing"] == ["Kubernetes", "Kafka"]
    assert result["dropped_claims"] == []
