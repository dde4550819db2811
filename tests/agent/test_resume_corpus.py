"""The real-resume corpus is complete, credited, unchanged and written down in the agreed shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.resume_corpus import CorpusResume, load_expected, notice_rows

CORPUS = load_expected()
NOTICE = notice_rows()

SOFTWARE_FIELDS = {"software", "data-engineering", "machine-learning"}
LICENCES = {
    "MIT", "Apache-2.0", "LPPL-1.3c", "AGPL-3.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "CC-BY-4.0",
}  # fmt: skip
RESUME_KEYS = {
    "file", "field", "layout", "name", "email", "phone", "links", "experience", "education",
    "skills", "summary",
}  # fmt: skip
ROLE_KEYS = {"employer", "title", "dates", "start", "end", "bullets"}
EDUCATION_KEYS = {"institution", "degree", "dates"}
MAY_BE_ABSENT = {"employer", "title", "dates", "bullets"}
YEAR_OR_MONTH = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")


def by_file(resume: CorpusResume) -> str:
    return resume.expected["file"]


def test_the_corpus_holds_at_least_fifteen_distinct_resumes():
    files = [resume.expected["file"] for resume in CORPUS]
    assert len(files) >= 15
    assert len(set(files)) == len(files)


def test_the_corpus_spans_both_layouts_four_fields_outside_software_and_every_format():
    fields = {resume.expected["field"] for resume in CORPUS}
    assert len(fields - SOFTWARE_FIELDS) >= 4, fields
    assert {resume.expected["layout"] for resume in CORPUS} == {"one-column", "two-column"}
    assert {".pdf", ".docx", ".json", ".txt"} <= {Path(r.expected["file"]).suffix for r in CORPUS}


def test_every_file_is_credited_in_the_notice_with_its_source_commit_and_licence():
    assert set(NOTICE) == {resume.expected["file"] for resume in CORPUS}
    for file_name, row in NOTICE.items():
        assert row["Source repository"].startswith("github.com/"), file_name
        assert row["Path in repository"], file_name
        assert re.fullmatch("[0-9a-f]{40}", row["Commit"]), file_name
        assert row["Licence"] in LICENCES, file_name
        assert row["Person"], file_name


@pytest.mark.parametrize("resume", CORPUS, ids=by_file)
def test_each_expected_structure_has_the_agreed_shape(resume):
    expected = resume.expected
    assert RESUME_KEYS <= set(expected) <= RESUME_KEYS | {"notes"}
    assert expected["layout"] in {"one-column", "two-column"}
    assert re.fullmatch("[a-z]+(-[a-z]+)*", expected["field"])
    for key in ("name", "email", "phone", "summary"):
        assert expected[key] is None or (isinstance(expected[key], str) and expected[key].strip())
    assert all(re.match("https?://[^/ ]+", link) for link in expected["links"])
    assert all(set(role) - {"absent"} == ROLE_KEYS for role in expected["experience"])
    assert all(set(school) == EDUCATION_KEYS for school in expected["education"])
    assert expected["skills"] == [skill.strip() for skill in expected["skills"] if skill.strip()]
    assert len(set(expected["skills"])) == len(expected["skills"])
    assert all(isinstance(note, str) and note for note in expected.get("notes", []))


@pytest.mark.parametrize("resume", CORPUS, ids=by_file)
def test_every_role_has_employer_title_dates_and_bullets_unless_the_document_has_none(resume):
    for role in resume.expected["experience"]:
        absent = set(role.get("absent", []))
        assert absent <= MAY_BE_ABSENT, role
        for key in ("employer", "title"):
            assert (role[key] is None) if key in absent else bool(role[key] and role[key].strip())
        if "dates" in absent:
            assert role["dates"] is role["start"] is role["end"] is None
        else:
            assert role["dates"] and YEAR_OR_MONTH.fullmatch(role["start"]), role["dates"]
            assert role["end"] == "present" or YEAR_OR_MONTH.fullmatch(role["end"]), role["dates"]
            assert role["end"] == "present" or role["start"] <= role["end"], role["dates"]
        if "bullets" in absent:
            assert role["bullets"] == []
        else:
            assert role["bullets"] and all(bullet.strip() for bullet in role["bullets"])
