"""The match score against real resumes from several fields: every resume of the corpus is
scored against every hand-written job description of the corpus's contexts (one per resume in
tests/eval/adversarial and tests/eval/truths). A resume against the job written for it is a
matched pair; against a job of another field, a mismatched pair. The goal: every mismatched
pair of a job scores below the job's matched pair.

Fields are grouped into families, because a data engineer's or a machine-learning engineer's
resume against a software job is not a resume from another field.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median

import pytest

from server.agent.engines.local import LocalEngine
from server.agent.tailoring import keyword_weights, match_score, normalised
from tests.resume_corpus import as_parsed, expected_by_file

# pytest-xdist: the scores are computed once, by one worker, for all its tests.
pytestmark = pytest.mark.xdist_group("match_score")

EVAL = Path(__file__).resolve().parent
FAMILIES = {
    "software": "technology",
    "data-engineering": "technology",
    "machine-learning": "technology",
    "accounting": "finance",
    "finance": "finance",
    "marketing": "marketing",
    "product-management": "product",
}
# Held as thresholds: where the score stands now, so that a change that blurs fields fails.
# (The keyword score this replaced separated 23 of the 30 jobs, and gave a software resume
# 92 against a financial analyst's job.)
MIN_JOBS_SEPARATED = 30
MAX_MISMATCHED = 40
MAX_MISMATCHED_MEDIAN = 15
MIN_MATCHED_MEDIAN = 40


def _jobs() -> list[tuple[str, str, str]]:
    """(corpus, resume file the job was written for, job description)."""
    jobs = []
    for corpus in ("adversarial", "truths"):
        contexts = json.loads((EVAL / corpus / "contexts.json").read_text(encoding="utf-8"))
        for resume_name, context in sorted(contexts.items()):
            jobs.append((corpus, resume_name, context["job_description"]))
    return jobs


@pytest.fixture(scope="module")
def scores() -> list[dict]:
    """One row per job: its matched score and every other resume's, with its family."""
    resumes = {name: normalised(as_parsed(e)) for name, e in expected_by_file().items()}
    families = {name: FAMILIES[e["field"]] for name, e in expected_by_file().items()}
    engine = LocalEngine()
    rows = []
    for corpus, own, description in _jobs():
        extracted = engine.extract_requirements(job_description=description, job_title=None)
        weights = keyword_weights(extracted["requirements"], extracted["keywords"])
        scored = {
            name: match_score(
                resume,
                extracted["requirements"],
                weights,
                evidence=[],
                job_title=extracted["title"],
            )["score"]
            for name, resume in resumes.items()
        }
        rows.append(
            {
                "job": f"{corpus}/{own.removesuffix('.expected.json')}",
                "matched": scored[own],
                "mismatched": {
                    name: score for name, score in scored.items() if families[name] != families[own]
                },
                "same_family": [
                    score
                    for name, score in scored.items()
                    if name != own and families[name] == families[own]
                ],
            }
        )
    return rows


def _spread(values: list[int]) -> str:
    ordered = sorted(values)
    quarter = len(ordered) // 4
    return (
        f"pairs={len(ordered)} min={ordered[0]} p25={ordered[quarter]} "
        f"median={median(ordered):g} p75={ordered[-quarter - 1]} max={ordered[-1]}"
    )


def test_a_resume_from_another_field_scores_below_the_jobs_own_resume(scores, figures):
    matched = [row["matched"] for row in scores]
    mismatched = [s for row in scores for s in row["mismatched"].values()]
    same_family = [s for row in scores for s in row["same_family"]]
    separated = [row for row in scores if row["matched"] > max(row["mismatched"].values())]
    figures.append(f"eval.match_score.matched {_spread(matched)}")
    figures.append(f"eval.match_score.mismatched {_spread(mismatched)}")
    figures.append(f"eval.match_score.same_field_other_resumes {_spread(same_family)}")
    figures.append(
        f"eval.match_score.separation jobs={len(scores)} "
        f"every_mismatched_below_matched={len(separated)} goal={len(scores)}"
    )
    for row in scores:
        if row in separated:
            continue
        name, highest = max(row["mismatched"].items(), key=lambda item: item[1])
        figures.append(
            f"eval.match_score.not_separated job={row['job']} matched={row['matched']} "
            f"highest_mismatched={highest} ({name.removesuffix('.expected.json')})"
        )
    assert len(separated) >= MIN_JOBS_SEPARATED
    assert max(mismatched) < MAX_MISMATCHED
    assert median(mismatched) <= MAX_MISMATCHED_MEDIAN
    assert median(matched) >= MIN_MATCHED_MEDIAN
