"""A tailored resume prints on no more pages than its source: tighter type first, then the
bullets that show the least of the job are left out, each listed in the diff."""

from __future__ import annotations

from server.agent import rendering
from server.agent.engines.local import LocalEngine
from server.agent.tailoring import tailor
from tests import pdf_layout

JOB = "Data Engineer\n\nRequirements:\n- Python and Airflow\n- Build data pipelines into BigQuery\n"


def one_page_source(filler: int) -> dict:
    """A one-page PDF's resume whose own bullets need more than a page in any template."""
    return {
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "source": {"format": "pdf", "pages": 1, "paper": "letter"},
        "summary": "Data engineer.",
        "experience": [
            {
                "title": "Data Engineer",
                "employer": "Acme",
                "dates": "2019 - 2024",
                "bullets": [
                    *(
                        f"Organised office event number {i} for the whole floor"
                        for i in range(filler)
                    ),
                    "Built Airflow pipelines in Python loading BigQuery",
                ],
            },
            {
                "title": "Clerk",
                "employer": "Globex",
                "dates": "2017 - 2019",
                "bullets": ["Filed the weekly reports for the branch"],
            },
        ],
        "skills": [{"category": None, "items": ["Python", "Airflow", "BigQuery"]}],
    }


def test_the_bullets_that_show_least_of_the_job_are_left_out_to_keep_one_page():
    source = one_page_source(70)
    fonts = rendering.find_pdf_fonts()
    tightest = rendering.Page(paper="letter", level=len(rendering.TIGHTNESS) - 1)
    assert rendering.page_count(rendering.layout(source), fonts, tightest) > 1

    result = tailor(LocalEngine(), resume=source, job_description=JOB)
    tailored = result["tailored_resume"]
    dropped = [change for change in result["diff"] if change["action"] == "drop"]
    assert dropped and all(change["after"] is None for change in dropped)
    assert all(change["before"].startswith("Organised office event") for change in dropped)
    assert all("1 page" in change["reason"] for change in dropped)
    kept = tailored["experience"][0]["bullets"]
    assert "Built Airflow pipelines in Python loading BigQuery" in kept
    assert len(kept) + len(dropped) == 71
    assert tailored["experience"][1]["bullets"] == ["Filed the weekly reports for the branch"]
    assert tailored["source"]["fit_pages"] == {name: 1 for name in rendering.TEMPLATES}
    for name in rendering.TEMPLATES:
        pdf = rendering.render(tailored, "pdf", template=name)
        assert pdf_layout.page_count(pdf) == 1
        assert pdf_layout.page_size_mm(pdf) == (215.9, 279.4)


def test_a_resume_that_fits_keeps_every_bullet():
    result = tailor(LocalEngine(), resume=one_page_source(5), job_description=JOB)
    assert not [change for change in result["diff"] if change["action"] == "drop"]
    assert len(result["tailored_resume"]["experience"][0]["bullets"]) == 6
