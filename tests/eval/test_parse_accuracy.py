"""Parse accuracy over the real-resume corpus: every field of every expected structure.

Each corpus document goes through the upload's own path (`parse_document`: the sandboxed child
process, PDFium layout, the structure parser) and is compared field by field with what a
careful reader wrote down (`tests/fixtures/resumes/*.expected.json`; see parse_accuracy.py
for what counts). The goal is 95% of fields exact and every resume's name, roles and dates
right; the floors below hold what the parser reaches today, so a change that loses fields
fails here, and a change that gains them should raise the floors.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.agent.resume_parsing import ExtractionLimits, parse_document
from tests.parse_accuracy import ResumeScore, key_fields_line, score_resume, summary_line, upload_of
from tests.resume_corpus import load_expected, notice_rows

# pytest-xdist: the corpus is parsed once, by one worker, for the tests that read it.
pytestmark = pytest.mark.xdist_group("parse_accuracy")
CORPUS = load_expected()
GOAL = 95.0
# What the parser reaches on the corpus today (fields exact, and resumes whose name, every
# role's employer and title, and every role's dates are right).
ACCURACY_FLOOR = 95.0
NAMES_FLOOR, ROLES_FLOOR, DATES_FLOOR = 19, 19, 19


def _parse(resume) -> ResumeScore:
    extension, data = upload_of(resume.path)
    parsed = parse_document(extension=extension, data=data, limits=ExtractionLimits())
    return score_resume(resume, parsed)


@pytest.fixture(scope="module")
def scores() -> list[ResumeScore]:
    missing = [str(r.path) for r in CORPUS if not r.path.is_file()]
    assert not missing, (
        f"corpus originals missing from tests/fixtures/resumes/ (see its NOTICE.md): {missing}"
    )
    with ThreadPoolExecutor(max_workers=ExtractionLimits().max_concurrent) as pool:
        return list(pool.map(_parse, CORPUS))


def test_the_corpus_originals_are_the_credited_files_byte_for_byte():
    rows = notice_rows()
    for resume in CORPUS:
        digest = hashlib.sha256(resume.path.read_bytes()).hexdigest()
        assert digest == rows[resume.expected["file"]]["SHA-256"], resume.path


def test_field_level_accuracy_over_the_corpus_holds_its_floor(scores, figures):
    exact, total = sum(s.exact for s in scores), sum(s.total for s in scores)
    figures.append(summary_line(scores))
    figures.append(key_fields_line(scores))
    for score in scores:
        figures.append(
            f"eval.parse.resume {score.file} exact={score.exact}/{score.total} "
            f"name={'ok' if score.name_ok else 'wrong'} roles={'ok' if score.roles_ok else 'wrong'} "
            f"dates={'ok' if score.dates_ok else 'wrong'}"
        )
    assert len(scores) == len(CORPUS) >= 15
    assert 100.0 * exact / total >= ACCURACY_FLOOR, summary_line(scores)


def test_names_roles_and_dates_hold_their_floor(scores):
    assert sum(s.name_ok for s in scores) >= NAMES_FLOOR, key_fields_line(scores)
    assert sum(s.roles_ok for s in scores) >= ROLES_FLOOR, key_fields_line(scores)
    assert sum(s.dates_ok for s in scores) >= DATES_FLOOR, key_fields_line(scores)
