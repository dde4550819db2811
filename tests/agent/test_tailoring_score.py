"""The match score: the share of the job's requirements a resume shows, never a perfect score
on one keyword, and requirements in any field matched by their own words."""

from __future__ import annotations

from server.agent.engines.local import LocalEngine
from server.agent.resume_parsing import parse_resume_text
from server.agent.tailoring import tailor

PYTHON_ONLY_JOB = "Requirements:\n- Python\n"
PYTHON_RESUME = """Ada Lovelace
Python Developer

SUMMARY
Python developer.

EXPERIENCE
Python Developer | Acme | 2019 - Present
- Wrote Python services
- Taught Python

SKILLS
Python
"""
ACCOUNTING_JOB = """Senior Accountant

Responsibilities:
- Lead the month-end close and prepare journal entries and account reconciliations.
- Prepare financial statements and support the annual external audit.
- Maintain the fixed asset register and prepaid expense schedules.

Requirements:
- Working knowledge of GAAP and accruals.
- Experience with intercompany reconciliations and variance analysis.
"""
ACCOUNTANT = """Maria Lopez
Staff Accountant

EXPERIENCE
Staff Accountant | Ledger & Co | 2018 - Present
- Led the month-end close for three entities and posted journal entries
- Prepared account reconciliations and intercompany reconciliations every month
- Prepared financial statements for the annual external audit under GAAP
- Kept the fixed asset register and prepaid expense schedules

SKILLS
Excel, NetSuite, variance analysis, accruals
"""
SOFTWARE_ENGINEER = """Sam Park
Software Engineer

EXPERIENCE
Software Engineer | Globex | 2018 - Present
- Built payment services in Go and PostgreSQL for the close of each billing month
- Prepared the statements API for the finance team's audit exports
- Ran the on-call rotation and wrote postmortems

SKILLS
Go, PostgreSQL, Kubernetes, Terraform
"""


def _score(resume_text: str, job: str) -> dict:
    resume = parse_resume_text(resume_text)
    return tailor(LocalEngine(), resume=resume, job_description=job)["match_score"]


def _part(score: dict, name: str) -> dict:
    return next(part for part in score["breakdown"] if part["part"] == name)


def test_one_keyword_the_resume_has_is_far_from_a_perfect_score():
    score = _score(PYTHON_RESUME, PYTHON_ONLY_JOB)
    assert score["before"] < 50 and score["after"] < 50
    assert score["requirements_found"] == 1
    explanation = _part(score, "requirements")["before_explanation"]
    assert explanation.startswith("1 requirement found in the job")
    assert "fewer than 8 found, so the missing ones count as unmet" in explanation


def test_requirements_without_known_tools_are_matched_by_their_own_words():
    accountant = _score(ACCOUNTANT, ACCOUNTING_JOB)
    engineer = _score(SOFTWARE_ENGINEER, ACCOUNTING_JOB)
    assert accountant["requirements_found"] == 5
    assert accountant["before"] >= 50
    # How many of the job's requirements each resume shows at least half of.
    assert accountant["requirements_met"]["before"] > engineer["requirements_met"]["before"]
    assert accountant["requirements_met"]["after"] <= accountant["requirements_found"]
    assert engineer["before"] < accountant["before"] / 2
    # The accountant's title holds the job's; the engineer's shares no word with it.
    assert _part(accountant, "title")["before"] == 20
    assert _part(engineer, "title")["before"] == 0


def test_a_title_the_person_held_before_counts_half_of_the_title_they_hold_now():
    earlier = ACCOUNTANT.replace(
        "EXPERIENCE\n",
        "EXPERIENCE\nProduct Manager | Initech | 2023 - Present\n- Ran the roadmap\n\n",
    ).replace(
        "Staff Accountant | Ledger & Co | 2018 - Present",
        "Staff Accountant | Ledger & Co | 2018 - 2022",
    )
    earlier = earlier.replace("Maria Lopez\nStaff Accountant\n", "Maria Lopez\n")
    now = _score(ACCOUNTANT, ACCOUNTING_JOB)
    before = _score(earlier, ACCOUNTING_JOB)
    assert _part(now, "title")["before"] == 20
    # "Staff Accountant" shares "Accountant" with "Senior Accountant", but it is a past role.
    assert _part(before, "title")["before"] == 10
    assert _part(before, "title")["before_explanation"].startswith("Staff Accountant for")


PAYROLL_JOB = """Payroll Specialist

Requirements:
- Run semi-monthly payroll for 300 employees.
- Reconcile payroll taxes and benefits deductions.
- Answer employee questions about pay stubs.
"""
OFFICE_MANAGER = """Dana Cruz

SUMMARY
Office manager for a dental practice who has run its payroll for six years.

EXPERIENCE
Office Manager | Bright Smiles Dental | 2019 - Present
- Scheduled patients for four dentists
"""


def test_the_jobs_title_in_what_the_person_says_they_do_counts_by_how_much_the_job_asks_for_it():
    score = _score(OFFICE_MANAGER, PAYROLL_JOB)
    title = _part(score, "title")
    # "Payroll" is in the summary and two of the three requirements; "Specialist" in neither.
    assert title["before"] == 15
    assert title["before_explanation"].startswith("the summary for Payroll Specialist")


def test_what_only_an_earlier_role_shows_counts_less_than_what_the_latest_role_shows():
    earlier = ACCOUNTANT.replace(
        "EXPERIENCE\n",
        "EXPERIENCE\nProduct Manager | Initech | 2023 - Present\n- Ran the roadmap\n\n",
    )
    now = _part(_score(ACCOUNTANT, ACCOUNTING_JOB), "requirements")["before"]
    past = _part(_score(earlier, ACCOUNTING_JOB), "requirements")["before"]
    # The same accounting lines, but the person's work now is product management.
    assert past < 0.8 * now


def test_the_latest_role_is_found_by_its_dates_when_a_resume_lists_the_oldest_first():
    oldest_first = (
        ACCOUNTANT.replace("Maria Lopez\nStaff Accountant\n", "Maria Lopez\n")
        .replace("2018 - Present", "2018 - 2022")
        .replace(
            "\nSKILLS", "Product Manager | Initech | 2023 - Present\n- Ran the roadmap\n\nSKILLS"
        )
    )
    roles = parse_resume_text(oldest_first)["experience"]
    assert [role["title"] for role in roles] == ["Staff Accountant", "Product Manager"]
    title = _part(_score(oldest_first, ACCOUNTING_JOB), "title")
    # "Staff Accountant" is the earlier role, though listed first.
    assert title["before"] == 10
    assert title["before_explanation"].startswith("Staff Accountant for")


DATA_ENGINEER_JOB = """Data Engineer

Requirements:
- Build batch pipelines in Python and SQL.
- Model warehouse tables in dbt.
"""
SPREAD_SUMMARY = """Lee Chen

SUMMARY
Accountant who builds data dashboards for the finance team. Looking for an IT engineering role.

EXPERIENCE
Accountant | Ledger & Co | 2019 - Present
- Closed the books every month
"""


def test_the_jobs_title_counts_in_a_summary_only_where_its_words_stand_together():
    spread = _part(_score(SPREAD_SUMMARY, DATA_ENGINEER_JOB), "title")
    together = SPREAD_SUMMARY.replace(
        "Accountant who builds data dashboards for the finance team. Looking for an IT "
        "engineering role.",
        "Data engineer who builds dashboards for the finance team.",
    )
    whole = _part(_score(together, DATA_ENGINEER_JOB), "title")
    # "data" in one sentence and "engineering" in the next do not make a "Data Engineer".
    assert spread["before"] == 10
    assert whole["before"] == 20
    assert whole["before_explanation"].startswith("the summary for Data Engineer")
