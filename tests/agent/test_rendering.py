"""Rendering a structured resume: the DOCX and PDF read back carry every word, hostile text
is shown as written and never as markup, and odd shapes never break a download."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import docx
import pypdf
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from server.agent.rendering import (
    CLASSIC,
    COMPACT,
    FORMATS,
    TEMPLATES,
    TIGHTNESS,
    Page,
    PdfFonts,
    UnknownFormat,
    clean_text,
    find_pdf_fonts,
    fitting_page,
    layout,
    page_count,
    paper_of,
    render,
    render_pdf,
    to_latin1,
)
from server.agent.resume_parsing import ExtractionLimits, parse_document, parse_resume_text
from tests import pdf_layout
from tests.helpers import make_docx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LATIN1_ONLY = PdfFonts(None, None)


def docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def squeeze(text: str) -> str:
    """Text without whitespace: a PDF wraps lines and spaces words its own way."""
    return re.sub(r"\s+", "", text)


def markdown_text(data: bytes) -> str:
    """What a reader of the Markdown sees: the text of its rendered HTML."""
    html = MarkdownIt("commonmark").render(data.decode("utf-8"))
    text = re.sub(r"<[^>]+>", " ", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def content_of(resume: dict) -> list[str]:
    """Every employer, title, bullet, skill, degree, institution, project and certification."""
    strings = [resume["contact"]["name"], resume["contact"]["email"]]
    for job in resume["experience"]:
        strings += [job["employer"], job["title"], *job["bullets"]]
    for school in resume["education"]:
        strings += [school["institution"], school["degree"]]
    for group in resume["skills"]:
        strings += group["items"]
    for project in resume["projects"]:
        strings += [project["name"], *project["bullets"]]
    strings += [cert["name"] for cert in resume["certifications"]]
    return [s for s in strings if s]


def assert_shows_everything(resume: dict) -> None:
    wanted = content_of(resume)
    assert wanted
    in_docx = squeeze(docx_text(render(resume, "docx")))
    in_pdf = squeeze(pdf_text(render(resume, "pdf")))
    in_md = squeeze(markdown_text(render(resume, "md")))
    for text in wanted:
        assert squeeze(text) in in_docx, text
        assert squeeze(text) in in_pdf, text
        assert squeeze(text) in in_md, text


def parsed_fixture(name: str) -> dict:
    data = (FIXTURES / name).read_bytes()
    return parse_document(extension="pdf", data=data, limits=ExtractionLimits())


GENERATED_MARKDOWN = """# Ana Pérez
Data Engineer
ana@example.com | +34 600 123 456 | Madrid, Spain

## Education
M.Sc. in Computer Science — Universidad Politécnica de Madrid, 2016 - 2018

## Experience
Data Engineer, Cabify — Madrid, Spain
Mar 2019 - Present
- Built Airflow pipelines moving 2 TB a day into BigQuery
- Cut warehouse cost by 30% with partitioned tables

## Skills
Languages: Python, SQL, Scala
Tools: Airflow, dbt, Spark

## Projects
Open Data Madrid — maintainer
- Published 40 city datasets as Parquet

## Certifications
Google Professional Data Engineer — Google Cloud, 2021

## Languages
Spanish (native), English (C1)
"""


@pytest.mark.parametrize("name", ["resume-single-column.pdf", "resume-two-column.pdf"])
def test_a_parsed_real_resume_shows_every_entry_in_docx_pdf_and_markdown(name):
    assert_shows_everything(parsed_fixture(name))


def test_a_generated_docx_resume_round_trips_through_parser_and_renderers():
    data = make_docx(
        paragraphs=(
            "Sam Lee",
            "sam@example.org",
            "# Experience",
            "Backend Engineer at Initech Inc, 2018 - 2022",
            "- Shipped the billing API used by 4,000 customers",
            "- Moved 12 services to Kubernetes",
            "# Skills",
            "Go, Rust, PostgreSQL",
        )
    )
    parsed = parse_document(extension="docx", data=data, limits=ExtractionLimits())
    assert parsed["experience"] and parsed["skills"]
    assert_shows_everything(parsed)


def test_a_generated_markdown_resume_keeps_accents_and_every_section_in_every_format():
    parsed = parse_resume_text(GENERATED_MARKDOWN, markdown=True)
    assert_shows_everything(parsed)
    pdf = pdf_text(render(parsed, "pdf"))
    assert "Pérez" in pdf and "Politécnica" in pdf
    assert "Spanish (native), English (C1)" in docx_text(render(parsed, "docx"))


def test_sections_keep_the_order_and_headings_the_resume_had():
    parsed = parse_resume_text(GENERATED_MARKDOWN, markdown=True)
    headings = [block.text for block in layout(parsed) if block.kind == "heading"]
    assert headings == [
        "Education",
        "Experience",
        "Skills",
        "Projects",
        "Certifications",
        "Languages",
    ]
    text = docx_text(render(parsed, "docx"))
    assert text.index("Universidad Politécnica") < text.index("Cabify")


def test_docx_and_pdf_carry_the_same_words_in_the_same_order():
    parsed = parsed_fixture("resume-single-column.pdf")
    words_docx = squeeze(docx_text(render(parsed, "docx")))
    words_pdf = squeeze(pdf_text(render(parsed, "pdf"))).replace("•", "")
    assert words_docx == words_pdf


HOSTILE = {
    "contact": {
        "name": "<script>alert('x')</script> Eve",
        "email": "eve@example.com",
        "links": ["javascript:alert(1)"],
    },
    "summary": "[click me](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** &amp;",
    "experience": [
        {
            "employer": "# Not a heading",
            "title": "1. Not a list",
            "bullets": [
                "<iframe src='https://evil.example'></iframe>",
                "| a | table |",
                "> not a quote",
                "`code` and ![img](http://evil.example/x.png)",
            ],
        }
    ],
    "skills": [{"category": None, "items": ["C++", "C#", "F*", "_under_"]}],
}


def test_markdown_and_html_in_resume_text_render_as_literal_text_not_markup():
    html = MarkdownIt("commonmark").render(render(HOSTILE, "md").decode())
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert "<a " not in html and "<table" not in html and "<blockquote" not in html
    assert "<strong>bold" not in html and "<code>" not in html
    # The only headings are the name and the section titles; no list comes from "1.".
    assert re.findall(r"<h\d>(.*?)</h\d>", html) == [
        "&lt;script&gt;alert('x')&lt;/script&gt; Eve",
        "Summary",
        "Experience",
        "Skills",
    ]
    assert "<ol" not in html
    shown = markdown_text(render(HOSTILE, "md"))
    for text in (
        "<script>alert('x')</script> Eve",
        "[click me](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** &amp;",
        "# Not a heading",
        "`code` and ![img](http://evil.example/x.png)",
        "C++, C#, F*, _under_",
    ):
        assert text in shown, text


def test_hostile_text_appears_verbatim_in_docx_and_pdf():
    in_docx = docx_text(render(HOSTILE, "docx"))
    in_pdf = squeeze(pdf_text(render(HOSTILE, "pdf")))
    for text in ("<script>alert('x')</script> Eve", "<iframe src='https://evil.example'></iframe>"):
        assert text in in_docx
        assert squeeze(text) in in_pdf


def shown_text(data: bytes, fmt: str) -> str:
    return {
        "md": lambda: data.decode(),
        "docx": lambda: docx_text(data),
        "pdf": lambda: pdf_text(data),
    }[fmt]()


def test_control_and_bidi_override_characters_are_removed_everywhere():
    resume = {
        "contact": {"name": "Mallory\x00\x07 \u202eTXT.exe"},
        "experience": [{"employer": "Acme\x1b[31m", "title": "Engineer\ufeff", "bullets": []}],
    }
    for fmt in FORMATS:
        shown = shown_text(render(resume, fmt), fmt)
        assert "\u202e" not in shown and "\x00" not in shown and "\x1b" not in shown
        assert "TXT.exe" in shown and "Acme" in shown


def test_very_long_lines_and_words_wrap_and_keep_every_character():
    long_bullet = " ".join(f"word{i}" for i in range(3000))
    long_word = "x" * 5000
    resume = {
        "contact": {"name": "Long Lines"},
        "experience": [
            {"employer": "Acme", "title": "Engineer", "bullets": [long_bullet, long_word]}
        ],
    }
    started = time.monotonic()
    data = render(resume, "pdf")
    assert time.monotonic() - started < 20
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 1
    in_pdf = squeeze(pdf_text(data))
    assert squeeze(long_bullet) in in_pdf and long_word in in_pdf
    assert long_word in docx_text(render(resume, "docx"))


def test_greek_cyrillic_and_accented_text_reaches_the_pdf_with_the_unicode_font():
    assert find_pdf_fonts().regular, "a Unicode TrueType font is installed (fonts-dejavu-core)"
    resume = {
        "contact": {"name": "Zoë Łukasiewicz"},
        "summary": "Ελληνικά και Кириллица — naïve café",
        "skills": [{"category": "Språk", "items": ["Português", "Türkçe"]}],
    }
    in_pdf = pdf_text(render(resume, "pdf"))
    for text in ("Zoë Łukasiewicz", "Ελληνικά", "Кириллица", "naïve café", "Português", "Türkçe"):
        assert text in in_pdf


def test_without_a_unicode_font_the_pdf_falls_back_to_the_closest_latin1_text():
    resume = {"contact": {"name": "Zoë Łukasiewicz"}, "summary": "Built 東京 tools — fast"}
    data = render_pdf(layout(resume), LATIN1_ONLY)
    text = pdf_text(data)
    assert "Zoë Lukasiewicz" in text
    assert "Built ?? tools - fast" in text
    assert to_latin1("Łódź “quoted”") == 'Lódz "quoted"'


def test_characters_no_loaded_font_has_become_question_marks_not_silent_gaps():
    system = find_pdf_fonts()
    without_fallbacks = PdfFonts(system.regular, system.bold, ())
    resume = {"contact": {"name": "Kenji"}, "summary": "Speaks 日本語 fluently"}
    assert "Speaks ??? fluently" in pdf_text(render_pdf(layout(resume), without_fallbacks))


def test_empty_sections_are_left_out_and_an_empty_resume_still_renders():
    resume = {
        "contact": {"name": "Only Name"},
        "summary": None,
        "experience": [],
        "skills": [{"category": None, "items": []}],
        "other_sections": [{"heading": "Awards", "lines": []}],
        "sections": [{"kind": "experience", "heading": "Experience"}],
    }
    assert [b.kind for b in layout(resume)] == ["name"]
    for fmt in FORMATS:
        assert render({}, fmt)
        assert "Experience" not in render(resume, "md").decode()
    assert "Awards" not in docx_text(render(resume, "docx"))
    assert pypdf.PdfReader(io.BytesIO(render({}, "pdf"))).pages


def test_odd_shapes_from_an_engine_do_not_break_rendering():
    resume = {
        "contact": "not a dict",
        "summary": 42,
        "experience": ["a string", None, {"employer": 7, "bullets": None, "title": ["x"]}],
        "skills": ["Python", {"items": "not a list"}],
        "certifications": ["AWS SAA", {"name": None, "issuer": "Amazon"}],
        "projects": None,
    }
    for fmt in FORMATS:
        assert render(resume, fmt)
    text = docx_text(render(resume, "docx"))
    assert "42" in text and "AWS SAA" in text and "Python" in text and "Amazon" in text


def test_experience_dates_come_from_the_resume_or_are_built_from_normalised_ones():
    resume = {
        "experience": [
            {"employer": "A", "title": "T", "dates": "Jan 2020 – Mar 2021"},
            {"employer": "B", "title": "T", "start_date": "2021-04", "is_current": True},
        ]
    }
    dates = [b.aside for b in layout(resume) if b.kind == "entry"]
    assert dates == ["Jan 2020 – Mar 2021", "2021-04 – Present"]


def test_an_unknown_format_is_refused():
    with pytest.raises(UnknownFormat, match="md, docx, pdf"):
        render({}, "html")


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=80),
    bullet=st.text(max_size=300),
    skill=st.text(max_size=40),
)
def test_any_text_renders_in_every_format_and_the_docx_keeps_it(name, bullet, skill):
    resume = {
        "contact": {"name": name},
        "experience": [{"employer": "Acme", "title": "Engineer", "bullets": [bullet]}],
        "skills": [{"category": None, "items": [skill]}],
    }
    for fmt in FORMATS:
        assert render(resume, fmt)
    in_docx = squeeze(docx_text(render(resume, "docx")))
    for value in (name, bullet, skill):
        assert squeeze(clean_text(value)) in in_docx


def long_resume(bullets: int, *, pages: int | None = 1, paper: str | None = None) -> dict:
    """One role with many one-line bullets, from a source of `pages` pages."""
    return {
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "source": {"format": "pdf", "pages": pages, "paper": paper},
        "experience": [
            {
                "title": "Engineer",
                "employer": "Acme",
                "dates": "2019 - 2024",
                "bullets": [
                    f"Shipped feature number {i} of the analytical engine with care"
                    for i in range(bullets)
                ],
            }
        ],
    }


def test_a_summary_the_source_did_not_have_is_read_first():
    resume = parse_resume_text(GENERATED_MARKDOWN, markdown=True)
    assert "summary" not in [s["kind"] for s in resume["sections"]]
    resume["summary"] = "Data engineer. Experienced with Airflow and BigQuery."
    headings = [block.text for block in layout(resume) if block.kind == "heading"]
    assert headings[:2] == ["Summary", "Education"]
    printed = [line.text for line in pdf_layout.lines(render(resume, "pdf"))]
    assert printed.index("Summary") < printed.index("Education") < printed.index("Experience")


@pytest.mark.parametrize(
    ("paper", "size_mm"),
    [("letter", (215.9, 279.4)), ("a4", (210.0, 297.0)), (None, (210.0, 297.0))],
)
def test_the_source_paper_size_is_kept_in_the_pdf_and_the_docx(paper, size_mm):
    resume = long_resume(3, paper=paper)
    assert pdf_layout.page_size_mm(render(resume, "pdf")) == size_mm
    section = docx.Document(io.BytesIO(render(resume, "docx"))).sections[0]
    assert (round(section.page_width.mm, 1), round(section.page_height.mm, 1)) == size_mm


def test_text_is_left_aligned_not_justified():
    words = " ".join(["ledger", "reconciled", "by", "hand", "every", "week"] * 20)
    resume = {"contact": {"name": "Ada"}, "summary": words}
    wrapped = [line for line in pdf_layout.lines(render(resume, "pdf")) if "ledger" in line.text]
    assert len(wrapped) >= 3
    lefts = [line.left for line in wrapped]
    rights = [line.right for line in wrapped[:-1]]
    assert max(lefts) - min(lefts) < 1.5  # every line starts at the margin
    assert max(rights) - min(rights) > 10  # and ends at its last word: a ragged right edge
    # The DOCX too, in every template: no paragraph (nor the style it takes its look from)
    # is justified, centred or right-aligned.
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    for name in TEMPLATES:
        document = docx.Document(io.BytesIO(render(long_resume(3), "docx", template=name)))
        for paragraph in document.paragraphs:
            style, alignments = paragraph.style, [paragraph.alignment]
            while style is not None:
                alignments.append(style.paragraph_format.alignment)
                style = style.base_style
            effective = next((a for a in alignments if a is not None), WD_ALIGN_PARAGRAPH.LEFT)
            assert effective == WD_ALIGN_PARAGRAPH.LEFT, (name, paragraph.text)


def test_a_one_page_source_stays_one_page_by_tightening_type_and_spacing():
    resume = long_resume(50)
    fonts = find_pdf_fonts()
    assert page_count(layout(resume), fonts, Page()) == 2  # at the template's own sizes
    pdf = render(resume, "pdf")
    assert pdf_layout.page_count(pdf) == 1
    tightest = Page(level=len(TIGHTNESS) - 1)
    assert (
        pdf_layout.ink_outside(pdf, side_mm=tightest.margins[0], top_mm=tightest.margins[1]) == []
    )
    sizes = {
        run.font.size.pt
        for paragraph in docx.Document(io.BytesIO(render(resume, "docx"))).paragraphs
        for run in paragraph.runs
        if paragraph.style.name == "List Bullet"
    }
    assert sizes and max(sizes) < CLASSIC.looks["bullet"].size
    # A source of two pages leaves it at two, at the template's own sizes.
    assert pdf_layout.page_count(render(long_resume(50, pages=2), "pdf")) == 2
    untightened = {
        run.font.size.pt
        for paragraph in docx.Document(
            io.BytesIO(render(long_resume(50, pages=2), "docx"))
        ).paragraphs
        for run in paragraph.runs
        if paragraph.style.name == "List Bullet"
    }
    assert untightened == {CLASSIC.looks["bullet"].size}


def tailored_from(source: str) -> dict:
    """A tailored resume from a PDF source (one page) or a Markdown source."""
    from server.agent.engines.local import LocalEngine
    from server.agent.tailoring import tailor
    from tests.tailoring_samples import JOB_DESCRIPTION

    if source == "pdf":
        resume = parsed_fixture("resume-single-column.pdf")
    else:
        resume = parse_resume_text(GENERATED_MARKDOWN, markdown=True)
    return tailor(LocalEngine(), resume=resume, job_description=JOB_DESCRIPTION)["tailored_resume"]


@pytest.mark.parametrize("source", ["pdf", "md"])
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_keeps_the_page_count_prints_inside_its_margins_and_aligns_dates(
    name, source
):
    resume = tailored_from(source)
    template, fonts = TEMPLATES[name], find_pdf_fonts()
    pdf = render(resume, "pdf", template=name)
    # The page count kept: the source's own (a one-page PDF), or what the source took.
    expected = 1 if source == "pdf" else resume["source"]["fit_pages"][name]
    assert pdf_layout.page_count(pdf) == expected == resume["source"]["fit_pages"][name]
    # Nothing runs into the margins of the page it was laid out on (rendered as an image).
    blocks = layout(resume, template)
    page = fitting_page(blocks, fonts, Page(template, paper_of(resume)), expected)
    side, top = page.margins
    assert pdf_layout.ink_outside(pdf, side_mm=side, top_mm=top) == []
    # Each entry's dates end at the right margin, on the entry's own line.
    width_pt = pdf_layout.page_size_mm(pdf)[0] * pdf_layout.MM
    right_margin = width_pt - side * pdf_layout.MM
    entries = [block for block in blocks if block.kind == "entry" and block.aside]
    assert len(entries) >= 2
    printed = pdf_layout.lines(pdf)
    for entry in entries:
        [line] = [
            line
            for line in printed
            if squeeze(line.text).endswith(squeeze(entry.aside))
            and squeeze(line.text).startswith(squeeze(entry.text)[:12])
        ]
        assert abs(line.right - right_margin) < 2, (entry, line)


def test_the_two_templates_differ_in_size_and_shape():
    resume = tailored_from("md")
    classic, compact = (layout(resume, TEMPLATES[name]) for name in ("classic", "compact"))
    assert len(compact) < len(classic)  # an entry's place joins its line
    assert COMPACT.looks["text"].size < CLASSIC.looks["text"].size
    headings = [line.text for line in pdf_layout.lines(render(resume, "pdf", template="compact"))]
    assert "EXPERIENCE" in headings and "Experience" not in headings
    for name, template in TEMPLATES.items():
        document = docx.Document(io.BytesIO(render(resume, "docx", template=name)))
        section = document.sections[0]
        assert round(section.left_margin.mm) == round(template.margins[0])
        text_width = section.page_width - section.left_margin - section.right_margin
        stops = [
            stop.position
            for paragraph in document.paragraphs
            for stop in paragraph.paragraph_format.tab_stops
        ]
        assert stops and all(abs(stop - text_width) < 20000 for stop in stops)  # EMU: < 0.6 mm
