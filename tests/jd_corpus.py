"""Real job descriptions from other open-source projects, with the keywords a careful reader
picks out of each (hand-labelled in tests/eval/keywords/labels.json).

The descriptions are other projects' files, unchanged, in tests/fixtures/job-descriptions/
with a NOTICE naming each file's source, commit and licence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

TESTS = Path(__file__).resolve().parent
LABELS = TESTS / "eval" / "keywords" / "labels.json"
CORPUS_DIR = TESTS / "fixtures" / "job-descriptions"
# A job board's front matter (`+++ ... +++` TOML or `--- ... ---` YAML): metadata, not text.
_FRONT_MATTER = re.compile(r"\A\s*(\+\+\+|---)\n(?P<meta>.*?)\n\1\n", re.DOTALL)
_TITLE = re.compile(r"""^title\s*[=:]\s*["']?(?P<title>.*?)["']?\s*$""", re.MULTILINE)
_TAG = re.compile(r"<[^>]+>")


class JobDescription(NamedTuple):
    name: str  # the file name, `<field>--<slug>.<ext>`
    field: str
    title: str | None
    text: str
    keywords: list[str]  # the hand-labelled keywords


def notice_rows() -> dict[str, dict[str, str]]:
    """The rows of the corpus NOTICE's source table, keyed by file name."""
    lines = [
        line
        for line in (CORPUS_DIR / "NOTICE.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("|")
    ]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return {
        row["File"]: row
        for row in (
            dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]
        )
    }


def as_posted(raw: str) -> tuple[str | None, str]:
    """(title, text) of a stored posting: the job board's front matter and HTML tags are
    dropped, the title taken from the front matter where it gives one."""
    title = None
    match = _FRONT_MATTER.match(raw)
    if match:
        found = _TITLE.search(match["meta"])
        title = found["title"].strip() if found else None
        raw = raw[match.end() :]
    return title, _TAG.sub("", raw).strip()


def load() -> list[JobDescription]:
    """Every labelled description, in file-name order."""
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    jobs = []
    for name in sorted(labels):
        title, text = as_posted((CORPUS_DIR / name).read_text(encoding="utf-8"))
        jobs.append(JobDescription(name, name.split("--", 1)[0], title, text, labels[name]))
    return jobs
