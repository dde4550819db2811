"""Real job descriptions from other open-source projects, with the keywords a careful reader
picks out of each (hand-labelled in tests/eval/keywords/labels.json).

The descriptions are other projects' files: they sit in the shared fixtures beside the
repository (`../shared/fixtures/job-descriptions/`, with a NOTICE naming each file's source,
commit and licence), never in the repository itself.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import NamedTuple

TESTS = Path(__file__).resolve().parent
LABELS = TESTS / "eval" / "keywords" / "labels.json"
_SHARED = Path("fixtures") / "job-descriptions"
# Beside a clone (CI, the main checkout), beside the work trees that share one folder, or in
# the machine's shared fixtures.
SOURCE_DIRS = tuple(
    Path(p)
    for p in (
        os.environ.get("JOB_DESCRIPTIONS_DIR", ""),
        TESTS.parent.parent / "shared" / _SHARED,
        TESTS.parent.parent.parent / "shared" / _SHARED,
        Path("/work/shared") / _SHARED,  # this machine's shared fixtures, for a clone elsewhere
    )
    if str(p)
)
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


def corpus_dir() -> Path:
    """The folder holding the descriptions (the first candidate that has them)."""
    for directory in SOURCE_DIRS:
        if (directory / "NOTICE.md").is_file():
            return directory
    raise FileNotFoundError(
        "the job-description corpus is missing: expected in one of "
        + ", ".join(str(d) for d in SOURCE_DIRS)
    )


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
    directory = corpus_dir()
    jobs = []
    for name in sorted(labels):
        title, text = as_posted((directory / name).read_text(encoding="utf-8"))
        jobs.append(JobDescription(name, name.split("--", 1)[0], title, text, labels[name]))
    return jobs
