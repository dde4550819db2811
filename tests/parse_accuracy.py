"""Field-level accuracy of the resume parser over the real-resume corpus.

Every field of an expected structure (`tests/fixtures/resumes/*.expected.json`) counts once:
name, email, phone, summary, each link, each role's employer, title, dates, start, end and
each of its bullets, each school's institution, degree and dates, and each skill. A field is
exact when the parser's value equals the expected one after white space is collapsed. What
the parser adds that the document does not have (a link, a skill, a role or a bullet too many)
counts as one wrong field each, so splitting a skill in two or a bullet at its line breaks
costs accuracy too.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from tests.resume_corpus import CorpusResume

# Formats the upload takes; a JSON Resume file is read as the text a JSON Resume theme prints.
UPLOAD_EXTENSION = {".pdf": "pdf", ".docx": "docx", ".txt": "txt", ".md": "md", ".json": "txt"}


def normal(value: object) -> str | None:
    """A value compared as a reader compares it: white space collapsed, dashes alike."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).replace("\u00ad", "-")
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _link(value: str) -> str:
    value = normal(value) or ""
    value = re.sub(r"^https?://(www\.)?", "", value, flags=re.IGNORECASE)
    return value.rstrip("/").lower()


def _date_value(value: str | None, current: bool = False) -> str | None:
    return "present" if current else value


@dataclass
class ResumeScore:
    file: str
    exact: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)
    name_ok: bool = False
    roles_ok: bool = False
    dates_ok: bool = False

    def check(self, label: str, expected: object, found: object) -> bool:
        self.total += 1
        if normal(expected) == normal(found):
            self.exact += 1
            return True
        self.misses.append(f"{label}: expected {expected!r}, found {found!r}")
        return False

    def spurious(self, label: str, found: object) -> None:
        self.total += 1
        self.misses.append(f"{label}: not in the document but parsed {found!r}")

    @property
    def key_fields_ok(self) -> bool:
        return self.name_ok and self.roles_ok and self.dates_ok


def _compare_items(score: ResumeScore, label: str, expected: list[str], found: list[str], key):
    wanted = {key(item): item for item in expected}
    got = {key(item): item for item in found}
    for k, item in wanted.items():
        score.check(f"{label} {item!r}", item, got.get(k))
    for k, item in got.items():
        if k not in wanted:
            score.spurious(label, item)


def score_resume(resume: CorpusResume, parsed: dict) -> ResumeScore:
    """How much of one expected structure the parser got exactly right."""
    expected = resume.expected
    score = ResumeScore(expected["file"])
    contact = parsed.get("contact") or {}
    score.name_ok = score.check("name", expected["name"], contact.get("name"))
    score.check("email", expected["email"], contact.get("email"))
    score.check("phone", expected["phone"], contact.get("phone"))
    score.check("summary", expected["summary"], parsed.get("summary"))
    _compare_items(score, "link", expected["links"], contact.get("links") or [], _link)

    roles = parsed.get("experience") or []
    score.roles_ok = score.dates_ok = len(roles) == len(expected["experience"])
    for index, role in enumerate(expected["experience"]):
        got = roles[index] if index < len(roles) else {}
        where = f"role {index + 1}"
        for key, found_key in (("employer", "employer"), ("title", "title")):
            if not score.check(f"{where} {key}", role[key], got.get(found_key)):
                score.roles_ok = False
        end = _date_value(got.get("end_date"), bool(got.get("is_current")))
        for key, found in (
            ("dates", got.get("dates")),
            ("start", got.get("start_date")),
            ("end", end),
        ):
            if not score.check(f"{where} {key}", role[key], found):
                score.dates_ok = False
        bullets = list(got.get("bullets") or [])
        for number, bullet in enumerate(role["bullets"]):
            found = bullets[number] if number < len(bullets) else None
            score.check(f"{where} bullet {number + 1}", bullet, found)
        for bullet in bullets[len(role["bullets"]) :]:
            score.spurious(f"{where} bullet", bullet)
    for role in roles[len(expected["experience"]) :]:
        score.spurious("role", f"{role.get('title')} at {role.get('employer')}")

    schools = parsed.get("education") or []
    for index, school in enumerate(expected["education"]):
        got = schools[index] if index < len(schools) else {}
        for key in ("institution", "degree", "dates"):
            score.check(f"school {index + 1} {key}", school[key], got.get(key))
    for school in schools[len(expected["education"]) :]:
        score.spurious("school", school.get("institution"))

    skills = [item for group in parsed.get("skills") or [] for item in group.get("items") or []]
    _compare_items(score, "skill", expected["skills"], skills, lambda s: (normal(s) or "").lower())
    return score


def json_resume_text(document: dict) -> str:
    """A JSON Resume (jsonresume.org schema) printed as plain text, as its themes lay it out."""
    basics = document.get("basics") or {}
    lines = [basics.get("name") or ""]
    if basics.get("label"):
        lines.append(basics["label"])
    contact = [basics.get(k) for k in ("email", "phone", "url") if basics.get(k)]
    contact += [p["url"] for p in basics.get("profiles") or [] if p.get("url")]
    lines.append(" | ".join(contact))
    if basics.get("summary"):
        lines += ["", "Summary", basics["summary"]]
    if document.get("work"):
        lines += ["", "Work Experience"]
        for job in document["work"]:
            dates = " - ".join(d for d in (job.get("startDate"), job.get("endDate")) if d)
            lines += [job.get("position") or "", f"{job.get('name') or ''} | {dates}"]
            lines += [f"• {item}" for item in job.get("highlights") or []]
    if document.get("education"):
        lines += ["", "Education"]
        for school in document["education"]:
            dates = " - ".join(d for d in (school.get("startDate"), school.get("endDate")) if d)
            degree = ", ".join(d for d in (school.get("studyType"), school.get("area")) if d)
            lines += [f"{school.get('institution') or ''} | {dates}", degree]
    if document.get("skills"):
        lines += ["", "Skills"]
        for skill in document["skills"]:
            lines.append(", ".join([skill.get("name") or "", *(skill.get("keywords") or [])]))
    return "\n".join(lines) + "\n"


def upload_of(path: Path) -> tuple[str, bytes]:
    """The (extension, bytes) a user would upload for a corpus file."""
    if path.suffix == ".json":
        text = json_resume_text(json.loads(path.read_text(encoding="utf-8")))
        return "txt", text.encode("utf-8")
    return UPLOAD_EXTENSION[path.suffix], path.read_bytes()


def summary_line(scores: list[ResumeScore]) -> str:
    exact = sum(s.exact for s in scores)
    total = sum(s.total for s in scores)
    accuracy = 100.0 * exact / total if total else 0.0
    return (
        f"eval.parse.fields exact={exact} total={total} accuracy={accuracy:.1f}% "
        f"resumes={len(scores)} goal>=95%"
    )


def key_fields_line(scores: list[ResumeScore]) -> str:
    names = sum(s.name_ok for s in scores)
    roles = sum(s.roles_ok for s in scores)
    dates = sum(s.dates_ok for s in scores)
    n = len(scores)
    return f"eval.parse.resumes name={names}/{n} roles={roles}/{n} dates={dates}/{n}"
