"""Resume parsing: real PDFs written by others, generated documents, odd text; nothing is lost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from server.agent.resume_parsing import (
    PARSER_VERSION,
    DocumentUnreadable,
    ExtractionLimits,
    parse_document,
    parse_resume_text,
)
from tests.helpers import make_docx, make_pdf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LIMITS = ExtractionLimits()
FIXTURE_SKILLS = ["Go", "Python", "Node.js", "Kafka", "Docker", "Kubernetes", "Terraform", "gRPC"]


def parse_fixture(name: str) -> dict:
    return parse_document(extension="pdf", data=(FIXTURES / name).read_bytes(), limits=LIMITS)


def skills_of(parsed: dict) -> list[str]:
    return [item for group in parsed["skills"] for item in group["items"]]


def assert_every_line_is_kept(parsed: dict) -> None:
    """Every word of every line of the text appears somewhere in the structure (but the
    connectors the parser reads as separators: "Engineer at Acme", "B.S. in Physics")."""
    strings: list[str] = []

    def collect(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key != "raw_text":
                    collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str):
            strings.append(value)

    collect(parsed)
    words_kept = set(re.findall(r"\w+", "\n".join(strings).lower()))
    for line in parsed["raw_text"].splitlines():
        missing = set(re.findall(r"\w+", line.lower())) - words_kept - {"at", "in"}
        assert not missing, (line, missing)


@pytest.mark.parametrize("name", ["resume-single-column.pdf", "resume-two-column.pdf"])
def test_the_real_resume_pdfs_yield_contact_experience_education_and_skills(name):
    parsed = parse_fixture(name)
    assert parsed["parser_version"] == PARSER_VERSION
    assert parsed["source"] == {"format": "pdf", "pages": 1, "paper": "a4"}
    contact = parsed["contact"]
    assert contact["name"] == "JOHN DOE"
    assert contact["email"] == "john.doe@email.com"
    assert contact["phone"] == "+1 (415) 555-0142"
    assert contact["location"] == "San Francisco, CA"
    # The PDF links its addresses: the link targets are kept.
    assert {"https://linkedin.com/in/johndoe", "https://github.com/johndoe"} <= set(
        contact["links"]
    )
    assert parsed["summary"].startswith("Senior Software Engineer with 5+ years")
    jobs = [
        (e["employer"], e["title"], e["start_date"], e["end_date"], e["is_current"])
        for e in parsed["experience"]
    ]
    assert jobs == [
        ("Stripe", "Senior Software Engineer", "2023-01", None, True),
        ("Figma", "Software Engineer", "2021-06", "2022-12", False),
        ("Notion", "Software Engineer", "2019-07", "2021-05", False),
    ]
    assert all(e["location"] == "San Francisco, CA" for e in parsed["experience"])
    assert [len(e["bullets"]) for e in parsed["experience"]] == [3, 3, 3]
    assert parsed["experience"][0]["bullets"][0].endswith(
        "optimized distributed system architecture"
    )
    [education] = parsed["education"]
    assert (education["institution"], education["degree"], education["field"]) == (
        "UC Berkeley",
        "Bachelor of Science, Computer Science",
        "Computer Science",
    )
    assert education["end_date"] == "2019"
    assert [p["name"] for p in parsed["projects"]] == [
        "DevFlow",
        "Real-time Transit Prediction App",
    ]
    assert set(FIXTURE_SKILLS) <= set(skills_of(parsed))
    assert_every_line_is_kept(parsed)


def test_both_layouts_of_the_same_resume_agree():
    single, double = (
        parse_fixture(n) for n in ("resume-single-column.pdf", "resume-two-column.pdf")
    )
    for key in ("contact", "experience", "education"):
        if key == "experience":
            strip = [{k: v for k, v in e.items() if k != "bullets"} for e in single[key]]
            assert strip == [{k: v for k, v in e.items() if k != "bullets"} for e in double[key]]
        else:
            assert single[key] == double[key]
    assert "Microservices Architecture" in skills_of(single)
    assert "REST APIs" in skills_of(single)


def test_a_generated_docx_with_headings_and_list_bullets_is_parsed():
    data = make_docx(
        paragraphs=(
            "Ada Lovelace",
            "ada@example.org | +44 20 7946 0958 | London, UK | github.com/ada",
            "# Experience",
            "Analytical Engines Ltd — Lead Programmer",
            "March 2019 – Present",
            "- Wrote the first published algorithm for the engine",
            "- Cut computation time by 30%",
            "Babbage & Co, London, UK | Research Assistant | 2016 - 2019",
            "- Translated and annotated Menabrea's paper",
            "# Education",
            "University of London",
            "B.Sc. in Mathematics, 2016",
            "# Skills",
            "Languages: Python, Rust, SQL",
            "Tools: Git; Docker",
            "# Certifications",
            "AWS Certified Developer – Amazon Web Services (2021)",
            "# Volunteering",
            "Mentor at Code Club",
        )
    )
    parsed = parse_document(extension="docx", data=data, limits=LIMITS)
    assert parsed["contact"]["name"] == "Ada Lovelace"
    assert parsed["contact"]["email"] == "ada@example.org"
    assert parsed["contact"]["location"] == "London, UK"
    first, second = parsed["experience"]
    assert (first["employer"], first["title"], first["start_date"], first["is_current"]) == (
        "Analytical Engines Ltd",
        "Lead Programmer",
        "2019-03",
        True,
    )
    assert first["bullets"] == [
        "Wrote the first published algorithm for the engine",
        "Cut computation time by 30%",
    ]
    assert (second["employer"], second["title"], second["location"]) == (
        "Babbage & Co",
        "Research Assistant",
        "London, UK",
    )
    assert (second["start_date"], second["end_date"]) == ("2016", "2019")
    [education] = parsed["education"]
    assert education["institution"] == "University of London"
    assert (education["degree"], education["field"]) == ("B.Sc. in Mathematics", "Mathematics")
    assert parsed["skills"] == [
        {"category": "Languages", "items": ["Python", "Rust", "SQL"]},
        {"category": "Tools", "items": ["Git", "Docker"]},
    ]
    [certification] = parsed["certifications"]
    assert certification["name"] == "AWS Certified Developer"
    assert certification["issuer"] == "Amazon Web Services"
    assert certification["date"] == "2021"
    assert parsed["other_sections"] == [
        {"heading": "Volunteering", "lines": ["Mentor at Code Club"]}
    ]
    assert_every_line_is_kept(parsed)


def test_a_generated_pdf_is_parsed():
    data = make_pdf(
        "Grace Hopper\ngrace@example.com\nEXPERIENCE\nSenior Developer at Remington Rand\n"
        "Jan 1949 - Dec 1959\n- Built the first compiler\nSKILLS\nCOBOL, FLOW-MATIC"
    )
    parsed = parse_document(extension="pdf", data=data, limits=LIMITS)
    [job] = parsed["experience"]
    assert (job["title"], job["employer"], job["start_date"]) == (
        "Senior Developer",
        "Remington Rand",
        "1949-01",
    )
    assert job["bullets"] == ["Built the first compiler"]
    assert skills_of(parsed) == ["COBOL", "FLOW-MATIC"]


def test_the_paper_size_of_a_pdf_or_docx_source_is_recorded():
    letter_pdf = parse_document(extension="pdf", data=make_pdf(paper="Letter"), limits=LIMITS)
    a4_pdf = parse_document(extension="pdf", data=make_pdf(paper="A4"), limits=LIMITS)
    letter_docx = parse_document(extension="docx", data=make_docx(), limits=LIMITS)
    a4_docx = parse_document(extension="docx", data=make_docx(paper_mm=(210, 297)), limits=LIMITS)
    assert [p["source"]["paper"] for p in (letter_pdf, a4_pdf, letter_docx, a4_docx)] == [
        "letter",
        "a4",
        "letter",
        "a4",
    ]
    legal = parse_document(extension="pdf", data=make_pdf(paper="Legal"), limits=LIMITS)
    assert legal["source"]["paper"] is None


MARKDOWN = """# Linus Example
Backend engineer · linus@example.com · [GitHub](https://github.com/linus)

## Summary
Builds **reliable** systems.

## Work Experience
### Software Engineer, Acme Corp — Remote
*06/2020 – 2023-08*
- Shipped `search`
  across three products
* On call for the payments API

## Projects
**kvstore** – https://github.com/linus/kvstore
- A log-structured key-value store

## Hobbies
Chess, climbing
"""


def test_markdown_is_parsed_with_its_headings_links_and_wrapped_bullets():
    parsed = parse_resume_text(MARKDOWN, markdown=True)
    assert parsed["contact"]["name"] == "Linus Example"
    assert parsed["contact"]["email"] == "linus@example.com"
    assert "https://github.com/linus" in parsed["contact"]["links"]
    assert parsed["summary"] == "Builds reliable systems."
    [job] = parsed["experience"]
    assert (job["title"], job["employer"], job["location"]) == (
        "Software Engineer",
        "Acme Corp",
        "Remote",
    )
    assert (job["start_date"], job["end_date"]) == ("2020-06", "2023-08")
    assert job["bullets"] == [
        "Shipped search across three products",
        "On call for the payments API",
    ]
    [project] = parsed["projects"]
    assert (project["name"], project["url"]) == ("kvstore", "https://github.com/linus/kvstore")
    assert parsed["other_sections"] == [{"heading": "Hobbies", "lines": ["Chess, climbing"]}]


def test_text_without_any_heading_keeps_every_line():
    text = "Jane Roe\nI have done many things over many years in many places, " * 3
    parsed = parse_resume_text(text)
    assert parsed["contact"]["name"] == "Jane Roe"
    assert_every_line_is_kept(parsed)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "EXPERIENCE",
                    "Education",
                    "## Skills",
                    "Projects:",
                    "• ",
                    "- item",
                    "Jan 2020 – Present",
                    "2019",
                    "Engineer at Foo Inc, Austin, TX",
                    "Skills: a, b,",
                    "x@y.io",
                    "Certifications",
                    "",
                    "   ",
                    "|",
                    "#",
                    "**",
                    "[a](",
                ]
            ),
            st.text(max_size=60),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_the_parser_never_raises_and_never_loses_a_line(lines, markdown):
    text = "\n".join(lines)
    parsed = parse_resume_text(text, markdown=markdown)
    assert parsed["raw_text"] == text
    if not markdown:  # Markdown markup (link targets, emphasis) is rewritten, not kept verbatim
        assert_every_line_is_kept(parsed)


def test_an_unreadable_pdf_is_refused_with_a_reason():
    with pytest.raises(DocumentUnreadable) as caught:
        parse_document(extension="pdf", data=b"%PDF-1.4\n% nothing here\n%%EOF\n", limits=LIMITS)
    assert caught.value.status_code == 422


@pytest.mark.parametrize(
    "printed",
    [
        "(123) 456-7890",
        "+1 (415) 555-0142",
        "(+82) 10-9030-1843",
        "+966 54 823 2198",
        "607.379.5733",
        "123-456-7890",
        "+44 20 7946 0958",
    ],
)
def test_a_phone_number_is_kept_whole_in_national_and_international_formats(printed):
    parsed = parse_resume_text(f"Jane Roe\njane@example.com | {printed} | Berlin, Germany\n")
    assert parsed["contact"]["phone"] == printed


def test_the_name_is_never_a_headline_or_a_document_title():
    text = "Curriculum Vitae\nDEVOPS ENGINEER\nName: Ahmed Ali Al-Khateeb\nahmed@example.com\n"
    assert parse_resume_text(text)["contact"]["name"] == "Ahmed Ali Al-Khateeb"
    text = "Senior Software Engineer\nJohn Doe\njohn@example.com\n"
    assert parse_resume_text(text)["contact"]["name"] == "John Doe"


def test_skills_keep_multi_word_items_and_split_lists_outside_parentheses():
    text = (
        "Jane Roe\nSKILLS\nREST APIs\nMicroservices Architecture\n"
        "Python (Pandas, NumPy), SQL, and Agile and Scrum\nDevOps AWS, GCP, Docker\n"
    )
    parsed = parse_resume_text(text)
    assert skills_of(parsed) == [
        "REST APIs",
        "Microservices Architecture",
        "Python (Pandas, NumPy)",
        "SQL",
        "Agile and Scrum",
        "AWS",
        "GCP",
        "Docker",
    ]
    assert parsed["skills"][-1]["category"] == "DevOps"


def test_docx_skills_come_whole_from_a_table_and_from_comma_lists():
    import io

    import docx

    document = docx.Document()
    document.add_paragraph("Jane Roe")
    document.add_heading("Skills", level=1)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Accounting", "QuickBooks, Month-End Close"
    table.cell(1, 0).text, table.cell(1, 1).text = "Software", "Proficiency in Excel, SAP"
    document.add_paragraph("Financial Reporting, Cost Accounting")
    data = io.BytesIO()
    document.save(data)
    parsed = parse_document(extension="docx", data=data.getvalue(), limits=LIMITS)
    assert skills_of(parsed) == [
        "QuickBooks",
        "Month-End Close",
        "Proficiency in Excel",
        "SAP",
        "Financial Reporting",
        "Cost Accounting",
    ]
    assert [g["category"] for g in parsed["skills"]][:2] == ["Accounting", "Software"]


def test_a_links_section_adds_its_links_once_and_no_heading_text():
    text = (
        "John Doe\njohn@example.com | linkedin.com/in/johndoe | github.com/johndoe\n"
        "LINKS\nlinkedin.com/in/johndoe\ngithub.com/johndoe\n"
    )
    links = [
        {"uri": "https://linkedin.com/in/johndoe", "text": "linkedin.com/in/johndoe"},
        {"uri": "https://github.com/johndoe", "text": "github.com/johndoe"},
        {"uri": "mailto:john@example.com", "text": "john@example.com"},
    ]
    parsed = parse_resume_text(text, links=links)
    assert parsed["contact"]["links"] == [
        "https://linkedin.com/in/johndoe",
        "https://github.com/johndoe",
    ]
    assert parsed["contact"]["name"] == "John Doe"


def test_a_pdf_reads_wrapped_bullets_whole_and_its_link_annotations_as_contact_details():
    parsed = parse_fixture("resume-two-column.pdf")
    assert [len(role["bullets"]) for role in parsed["experience"]] == [3, 3, 3]
    assert parsed["experience"][1]["bullets"][1] == (
        "Optimized canvas rendering performance, reducing frame drop rate by 40% on large "
        "design files through WebGL batching and database query optimization"
    )
    assert {"Microservices Architecture", "REST APIs", "A/B Testing"} <= set(skills_of(parsed))


@pytest.mark.parametrize(
    ("heading", "title", "employer"),
    [
        # A comma inside a name (the wide gaps of a PDF's line are tabs): the place is elsewhere
        # on the line, so the rest is the name's.
        (
            "R.O.K Cyber Command, MND\tSeoul, South Korea\nSoftware Engineer\t2011 - 2013",
            "Software Engineer",
            "R.O.K Cyber Command, MND",
        ),
        (
            "Northwind Traders\tTaipei, Taiwan\nSchool Ambassador, Software Engineer\t2014 - 2015",
            "School Ambassador, Software Engineer",
            "Northwind Traders",
        ),
        # No place given elsewhere: what follows the comma may be the place, and stays apart.
        ("Product Manager\t2019 - 2021\nGoogle, Mountain View", "Product Manager", "Google"),
    ],
)
def test_a_comma_inside_a_title_or_an_employer_keeps_the_name_whole(heading, title, employer):
    text = f"Ada Lovelace\nada@example.com\n\nExperience\n{heading}\n- Built the thing\n"
    [role] = parse_resume_text(text)["experience"]
    assert (role["title"], role["employer"]) == (title, employer)


def test_a_docx_role_heading_run_together_in_one_line_reads_title_employer_and_place():
    # Title, employer, place and dates in one run with single spaces (a LaTeX resume saved
    # as Word), each bullet a plain paragraph.
    bullets = [
        "Closed the books every month three days sooner by reconciling the bank and card "
        "accounts every week.",
        "Ran payroll and benefits for 40 staff across two clinics for three years without a "
        "single late payment.",
        "Built the weekly sales report that the regional managers used every Monday to plan "
        "their stock orders.",
    ]
    headings = [
        "Staff Accountant Harbor Freight Logistics Lisbon, Portugal Mar. 2019 - Present",
        "Office Manager, Payroll Coordinator Blue Fern Dental Clinic, Oral Surgery Unit "
        "Porto, Portugal Jan. 2016 - Feb. 2019",
        "Data Analyst III Acme Analytics San Diego, CA Jun. 2014 - Dec. 2015",
    ]
    paragraphs = ["Jane Roe", "# Experience"]
    for heading, bullet in zip(headings, bullets, strict=True):
        paragraphs += [heading, bullet]
    data = make_docx(paragraphs=tuple(paragraphs))
    roles = parse_document(extension="docx", data=data, limits=LIMITS)["experience"]
    assert [(r["title"], r["employer"], r["location"]) for r in roles] == [
        ("Staff Accountant", "Harbor Freight Logistics", "Lisbon, Portugal"),
        (
            "Office Manager, Payroll Coordinator",
            "Blue Fern Dental Clinic, Oral Surgery Unit",
            "Porto, Portugal",
        ),
        ("Data Analyst III", "Acme Analytics", "San Diego, CA"),
    ]
    assert [r["bullets"] for r in roles] == [[bullet] for bullet in bullets]


def test_a_research_entry_that_names_only_its_subject_is_a_project_not_a_role():
    text = (
        "Ada Lovelace\nada@example.com\n\nResearch\n"
        "The Design and Development of a Location-Based Services Group Touring System using\n"
        "the Mobile Social Network\tTainan, Taiwan\n"
        "Researcher & Developer\tFeb. 2015 - Jan. 2016\n"
        "• Developed a group navigation application\n"
        "Analytical Engines Lab, University of London\tLondon, UK\n"
        "Research Assistant\t2016 - 2018\n"
        "• Wrote the first program\n"
    )
    parsed = parse_resume_text(text)
    [role] = parsed["experience"]
    assert role["employer"] == "Analytical Engines Lab, University of London"
    assert role["bullets"] == ["Wrote the first program"]
    [project] = parsed["projects"]
    assert "Developed a group navigation application" in str(project)


def test_a_comma_inside_a_schools_name_stays_when_the_place_is_given_apart():
    text = (
        "Ada Lovelace\nada@example.com\n\nEducation\n"
        "University of California, Berkeley | Berkeley, CA\n"
        "B.S. in Business Administration\t2012 - 2016\n"
    )
    [school] = parse_resume_text(text)["education"]
    assert (school["institution"], school["location"]) == (
        "University of California, Berkeley",
        "Berkeley, CA",
    )


@pytest.mark.parametrize(
    ("top", "headline"),
    [
        ("Ada Lovelace, analyst", "analyst"),
        ("Ada Lovelace — Data Analyst", "Data Analyst"),
        ("Ada Lovelace - Registered Nurse", "Registered Nurse"),
    ],
)
def test_a_name_followed_by_what_the_person_does_is_cut_in_two(top, headline):
    contact = parse_resume_text(f"{top}\nada@example.com\n")["contact"]
    assert (contact["name"], contact["headline"]) == ("Ada Lovelace", headline)
