"""A DOCX source tailored in place: the user's own document, with only the tailoring's
changes (a summary it adds goes first, bullets reordered or left out), and nothing else."""

from __future__ import annotations

import copy
import io

import docx
import pytest
from docx.shared import Mm

from server.agent.docx_in_place import NotInDocument, tailor_in_place
from server.agent.engines.local import LocalEngine
from server.agent.resume_parsing import ExtractionLimits, parse_document
from server.agent.tailoring import tailor

BULLETS = (
    "Mentored 3 engineers",
    "Reduced p99 latency by 40% with Redis caching",
    "Built Python APIs on Postgres serving 2M requests a day",
)
JOB = "Backend Engineer\nRequirements:\n- Python and PostgreSQL\n- Redis caching\n"


def letter_docx_without_summary() -> bytes:
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(215.9), Mm(279.4)
    section.left_margin = section.right_margin = Mm(25)
    document.add_paragraph().add_run("Jane Doe").bold = True
    document.add_paragraph("jane@example.com | (555) 123-4567")
    document.add_heading("EXPERIENCE", level=1)
    document.add_paragraph().add_run(
        "Senior Software Engineer | Acme Corp | Austin, TX"
    ).bold = True
    document.add_paragraph("Jan 2021 - Present")
    for bullet in BULLETS:
        document.add_paragraph(bullet, style="List Bullet")
    document.add_heading("SKILLS", level=1)
    document.add_paragraph("Go, SQL, Python, Redis, Docker")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def source():
    data = letter_docx_without_summary()
    parsed = parse_document(extension="docx", data=data, limits=ExtractionLimits())
    assert parsed["source"]["paper"] == "letter" and not parsed.get("summary")
    return data, parsed


def test_a_summary_the_tailoring_adds_goes_first_in_the_users_own_styles(source):
    data, parsed = source
    result = tailor(LocalEngine(), resume=parsed, job_description=JOB)
    tailored = result["tailored_resume"]
    assert tailored["summary"]
    written = tailor_in_place(data, source=parsed, tailored=tailored, diff=result["diff"])
    after = docx.Document(io.BytesIO(written))
    before = docx.Document(io.BytesIO(data))
    texts = [p.text for p in after.paragraphs]
    # Under the contact lines, before the first section: a heading in the document's case and
    # heading style, and a plain paragraph (no list numbering).
    assert texts[2:5] == ["SUMMARY", tailored["summary"], "EXPERIENCE"]
    assert after.paragraphs[2].style.name == "Heading 1"
    assert after.paragraphs[3].style.name == "Normal"
    assert after.paragraphs[3]._p.pPr is None or after.paragraphs[3]._p.pPr.numPr is None
    # The page (US Letter) and margins stay the user's.
    for name in ("page_width", "page_height", "left_margin", "right_margin"):
        assert getattr(after.sections[0], name) == getattr(before.sections[0], name), name
    # The bullets in their tailored order, in the user's list style; the rest as it was.
    bullets = [p for p in after.paragraphs if p.style.name == "List Bullet"]
    assert [p.text for p in bullets] == tailored["experience"][0]["bullets"] != list(BULLETS)
    for index in (0, 1, 3, 4):
        assert (
            before.paragraphs[index]._p.xml
            == after.paragraphs[index if index < 2 else index + 2]._p.xml
        )


def test_a_bullet_left_out_to_keep_the_page_count_leaves_the_document(source):
    data, parsed = source
    tailored = copy.deepcopy(parsed)
    tailored["experience"][0]["bullets"] = [BULLETS[2], BULLETS[1]]
    diff = [
        {
            "section": "experience[0].bullets",
            "action": "drop",
            "before": BULLETS[0],
            "after": None,
            "keywords": [],
            "reason": "keeps the resume to 1 page, as its source",
        }
    ]
    written = tailor_in_place(data, source=parsed, tailored=tailored, diff=diff)
    after = docx.Document(io.BytesIO(written))
    texts = [p.text for p in after.paragraphs]
    assert BULLETS[0] not in texts
    assert [p.text for p in after.paragraphs if p.style.name == "List Bullet"] == [
        BULLETS[2],
        BULLETS[1],
    ]


def test_a_change_with_no_place_in_the_document_is_refused_not_guessed(source):
    data, parsed = source
    tailored = copy.deepcopy(parsed)
    tailored["experience"][0]["bullets"] = ["Led Docker of 12 services", *BULLETS[1:]]
    with pytest.raises(NotInDocument):
        tailor_in_place(data, source=parsed, tailored=tailored, diff=[])
