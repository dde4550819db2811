"""Real resumes from other open-source projects, each with what a careful reader finds in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

TESTS = Path(__file__).resolve().parent
CORPUS_DIR = TESTS / "fixtures" / "resumes"
NOTICE = CORPUS_DIR / "NOTICE.md"
# The originals sit beside their expected files, except the two layouts the rest of the suite
# already keeps in tests/fixtures.
SOURCE_DIRS = (CORPUS_DIR, TESTS / "fixtures")


class CorpusResume(NamedTuple):
    expected: dict
    path: Path


def resume_path(file_name: str) -> Path:
    """Where the original of `file_name` is, or where it belongs when it is missing."""
    for directory in SOURCE_DIRS:
        if (directory / file_name).is_file():
            return directory / file_name
    return CORPUS_DIR / file_name


def load_expected() -> list[CorpusResume]:
    """Every expected structure in the corpus, with the path of the document it describes."""
    resumes = []
    for expected_file in sorted(CORPUS_DIR.glob("*.expected.json")):
        expected = json.loads(expected_file.read_text(encoding="utf-8"))
        resumes.append(CorpusResume(expected, resume_path(expected["file"])))
    return resumes


def notice_rows() -> dict[str, dict[str, str]]:
    """The rows of NOTICE.md's source table, keyed by file name."""
    text = NOTICE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        row = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
        rows[row["File"]] = row
    return rows


def as_parsed(expected: dict, projects: list[dict] | None = None) -> dict:
    """An expected structure as the parser's output shape (what tailoring takes)."""
    experience = []
    for role in expected["experience"]:
        end = role.get("end")
        experience.append(
            {
                "title": role.get("title"),
                "employer": role.get("employer"),
                "location": None,
                "dates": role.get("dates"),
                "start_date": role.get("start"),
                "end_date": None if end == "present" else end,
                "is_current": end == "present",
                "bullets": list(role.get("bullets") or []),
                "details": [],
            }
        )
    return {
        "contact": {
            "name": expected.get("name"),
            "headline": None,
            "email": expected.get("email"),
            "phone": expected.get("phone"),
            "location": None,
            "links": list(expected.get("links") or []),
        },
        "summary": expected.get("summary") or "",
        "experience": experience,
        "education": [
            {
                "degree": school.get("degree"),
                "field": None,
                "institution": school.get("institution"),
                "dates": school.get("dates"),
                "details": [],
            }
            for school in expected["education"]
        ],
        "skills": [{"category": None, "items": list(expected.get("skills") or [])}],
        "projects": [
            {"name": p.get("name"), "role": None, "bullets": list(p.get("bullets") or [])}
            for p in projects or []
        ],
        "certifications": [],
        "other_sections": [],
    }


def expected_by_file() -> dict[str, dict]:
    """Every expected structure, keyed by its file name (`<name>.expected.json`)."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(CORPUS_DIR.glob("*.expected.json"))
    }
