"""Reading a job's page for its title, company and description: JSON-LD first, then tags."""

from __future__ import annotations

import json

from server.agent.posting_page import parse_posting_page
from tests.job_page_stand_in import json_ld_page


def test_a_json_ld_job_posting_gives_title_company_and_plain_text_description():
    page = parse_posting_page(
        json_ld_page(
            {
                "title": "Platform Engineer",
                "hiringOrganization": {"@type": "Organization", "name": "Initrode"},
                "description": "<p>Run <b>Python</b> services.</p><ul><li>Kubernetes</li></ul>",
            },
            head='<meta property="og:title" content="Jobs at Initrode">',
            body="<h1>Something else</h1>",
        )
    )
    assert (page.title, page.company) == ("Platform Engineer", "Initrode")
    assert page.description == "Run Python services.\n\n- Kubernetes"


def test_a_posting_inside_a_graph_with_an_escaped_description_is_found():
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "Careers"},
            {
                "@type": ["JobPosting"],
                "title": "Data Engineer",
                "hiringOrganization": "Globex",
                "description": "&lt;p&gt;Spark &amp;amp; SQL&lt;/p&gt;",
            },
        ],
    }
    body = (
        f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head></html>'
    )
    page = parse_posting_page(body.encode())
    assert (page.title, page.company, page.description) == (
        "Data Engineer",
        "Globex",
        "Spark & SQL",
    )


def test_without_json_ld_the_page_tags_and_main_text_are_read():
    body = (
        "<html><head><title>Careers | Umbrella</title>"
        '<meta property="og:title" content="Site Reliability Engineer">'
        '<meta property="og:site_name" content="Umbrella Corp"></head>'
        "<body><nav>Menu</nav><main><h1>SRE</h1><p>On-call for Go services.</p></main>"
        "<footer>Cookies</footer></body></html>"
    )
    page = parse_posting_page(body.encode())
    assert (page.title, page.company) == ("Site Reliability Engineer", "Umbrella Corp")
    assert page.description == "SRE\n\nOn-call for Go services."


def test_the_first_heading_is_the_title_when_no_tag_names_one():
    page = parse_posting_page(b"<html><body><h1> Backend\n Developer </h1></body></html>")
    assert (page.title, page.company) == ("Backend Developer", None)


def test_a_page_that_says_nothing_gives_nothing_rather_than_a_guess():
    for body in (b"", b"<html><body><p>Apply now!</p></body></html>", b"\x00\xff garbage"):
        page = parse_posting_page(body)
        assert (page.title, page.company) == (None, None), body


def test_broken_json_ld_falls_back_to_the_page():
    body = (
        '<html><head><script type="application/ld+json">{"@type": "JobPosting", </script>'
        '<meta property="og:title" content="QA Engineer"></head></html>'
    )
    assert parse_posting_page(body.encode()).title == "QA Engineer"


def test_the_charset_the_server_names_is_used():
    body = "<html><body><h1>Ingénieur logiciel</h1></body></html>".encode("latin-1")
    assert parse_posting_page(body, charset="iso-8859-1").title == "Ingénieur logiciel"
