"""The verifier, default deny: what a person's material supports passes however it is worded;
anything else is refused, with its kind and a reason. One test per family of lies a model tells.
"""

from __future__ import annotations

import pytest

from server.agent.verifier import (
    Scope,
    Source,
    bullet_scope,
    display_form,
    profile_sources,
    resume_scope,
    verify,
)

# pytest-xdist: the scopes are built once, by one worker, for all its tests.
pytestmark = pytest.mark.xdist_group("verifier")

RESUME = {
    "contact": {
        "name": "Dana Ortiz",
        "headline": "Operations Analyst",
        "email": "dana@example.com",
        "phone": "+1 (415) 555-0199",
        "location": "Oakland, CA 94607",
        "links": [],
    },
    "summary": "Operations analyst with 7 years in retail supply chains.",
    "experience": [
        {
            "title": "Senior Operations Analyst",
            "employer": "Northwind Traders",
            "location": "Oakland, CA",
            "dates": "Mar 2021 - Present",
            "start_date": "2021-03",
            "end_date": None,
            "is_current": True,
            "bullets": [
                "Cut inventory write-offs by 18% with a weekly Tableau dashboard",
                "Managed a $1.2 million freight budget across 14 warehouses",
                "Trained 6 store managers on the replenishment process",
                "Met 99% of delivery deadlines during the 2022 peak season",
            ],
        },
        {
            "title": "Operations Analyst",
            "employer": "Contoso Retail",
            "location": "San Jose, CA",
            "dates": "2018 - 2021",
            "start_date": "2018",
            "end_date": "2021",
            "is_current": False,
            "bullets": [
                "Built SQL reports on vendor lead times for a team of 4 buyers",
                "Contributed to the migration of order data to Snowflake",
                "Reduced stockouts 30% by rebalancing safety stock",
            ],
        },
    ],
    "education": [
        {
            "degree": "B.A. Economics",
            "institution": "San Francisco State University",
            "dates": "2012 - 2016",
            "details": [],
        },
        {
            "degree": "MBA candidate (coursework only)",
            "institution": "Golden Gate University",
            "dates": "2019",
            "details": [],
        },
    ],
    "skills": [{"category": "Tools", "items": ["Excel", "SQL", "Tableau", "Power BI"]}],
    "projects": [],
    "certifications": [{"name": "APICS CPIM", "issuer": "ASCM", "dates": "2020"}],
    "other_sections": [],
}
ANSWERS = [
    "Yes, at Northwind I forecast demand in Python for the holiday season.",
    "No, I have not used SAP.",
]


@pytest.fixture(scope="module")
def whole():
    return resume_scope(RESUME, answers=ANSWERS, keywords=["SAP", "Python", "forecasting"])


@pytest.fixture(scope="module")
def northwind():
    return bullet_scope(RESUME, 0, answers=ANSWERS)


@pytest.fixture(scope="module")
def contoso():
    return bullet_scope(RESUME, 1, answers=ANSWERS)


def refused(text: str, scope: Scope) -> set[tuple[str, str]]:
    verdict = verify(text, scope)
    assert not verdict.kept, f"kept: {text!r}"
    for claim in verdict.claims:
        assert claim.reason and claim.text
    return {(c.kind, c.text) for c in verdict.claims}


def kept(text: str, scope: Scope) -> str:
    verdict = verify(text, scope)
    assert verdict.kept, [(c.kind, c.text, c.reason) for c in verdict.claims]
    return verdict.text


# --- what the material supports passes ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Cut inventory write-offs by 18% with a weekly Tableau dashboard.",
        "Reduced inventory write-offs 18% using a weekly Tableau dashboard.",
        "Using a weekly Tableau dashboard, cut inventory write-offs by 18%.",
        "Managed a $1.2M freight budget across 14 warehouses.",
        "Managing a freight budget of $1.2 million across fourteen warehouses.",
        "Trained six store managers on the replenishment process.",
        "Trains 6 store managers on replenishment.",
        "Met 99% of delivery deadlines in the 2022 peak season.",
        "Forecast holiday demand in Python.",
    ],
)
def test_a_bullet_reworded_from_its_own_role_passes(text, northwind):
    kept(text, northwind)


@pytest.mark.parametrize(
    "text",
    [
        "Operations analyst with 7 years in retail supply chains.",
        "Senior Operations Analyst at Northwind Traders since 2021.",
        "Operations Analyst at Contoso Retail from 2018 to 2021.",
        "Holds a B.A. in Economics from San Francisco State University.",
        "Builds SQL reports and Tableau dashboards.",
        "Experienced with Excel, SQL, Tableau and Power BI.",
        "Operations analyst with 8 years of experience.",
        "Trained 6 store managers at Northwind Traders.",
    ],
)
def test_a_summary_reworded_from_the_resume_passes(text, whole):
    kept(text, whole)


def test_the_kept_text_is_what_was_read_without_invisible_characters(northwind):
    text = "Cut inventory write\u00ad-offs by 18% with a week\u200bly Tableau dash\u2060board."
    assert (
        kept(text, northwind) == "Cut inventory write-offs by 18% with a weekly Tableau dashboard."
    )
    assert display_form("Ｔａｂｌｅａｕ\u200d") == "Tableau"


# --- employers and names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Built SQL reports for Initech buyers.",
        "Built SQL reports at Initech.",
        "Built SQL reports at initech.",
        "Joined initech to build SQL reports.",
        "Built SQL reports (Initech).",
        "Initech buyers used the SQL reports.",
        "Built SQL reports at Target.",
        "Built SQL reports at Apple.",
        "Built SQL reports for Square and Target.",
        "Built SQL reports at Northwind Traders.",  # another role's employer
        "Built SQL reports at Contoso Logistics.",  # the right name, a different company
    ],
)
def test_an_employer_the_role_does_not_name_is_refused_wherever_it_stands(text, contoso):
    refused(text, contoso)


def test_a_common_word_written_as_a_name_inside_a_sentence_is_refused(whole):
    assert refused("Analyst at Target since 2018.", whole) & {("employer", "Target")}
    assert refused("Led Replenishment at Build.", whole)


def test_a_name_only_after_a_bracket_or_at_the_start_is_still_a_name(whole):
    refused("(Globex) Operations analyst.", whole)
    refused("Globex operations analyst.", whole)


# --- schools, degrees, certifications -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Holds an MBA from Golden Gate University.", "degree"),  # coursework only
        ("Holds an M.A. in Economics.", "degree"),
        ("Holds a postgraduate diploma in logistics.", "degree"),
        ("Holds an associate degree in supply chain.", "degree"),
        ("Holds a PhD in Economics.", "degree"),
        ("Holds a B.A. in Statistics from San Francisco State University.", "degree"),
        ("Studied economics at Stanford University.", "institution"),
        ("Holds a B.A. from Golden Gate University.", "degree"),
        ("CPA with supply chain experience.", "certification"),
        ("Certified Supply Chain Professional.", "certification"),
        ("PMP-certified operations analyst.", "word"),
    ],
)
def test_schools_degrees_and_certifications_must_be_the_persons_own(text, kind, whole):
    claims = refused(text, whole)
    assert kind in {k for k, _ in claims} or kind == "word", claims


# --- products and tools -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Built SQL reports in Looker.",
        "Built SQL reports on SAP.",  # the user said no
        "Built dbt models on vendor lead times.",
        "Automated reports with Google Analytics 4.",
        "Built SQL reports with ETL pipelines.",
    ],
)
def test_a_tool_the_role_does_not_show_is_refused(text, contoso):
    refused(text, contoso)


# --- look-alikes and invisible characters -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Built SQL rеports for 4 buyers.",  # Cyrillic е in a lower-case word
        "Built SQL reports for 4 bυyers.",  # Greek upsilon
        "Built ЅQL reports for 4 buyers.",  # Cyrillic Ѕ
        "Contributed to the migration of order data to Snowflаke.",
    ],
)
def test_a_word_spelled_with_look_alike_letters_is_refused(text, contoso):
    claims = refused(text, contoso)
    assert "look-alike" in {k for k, _ in claims}, claims


@pytest.mark.parametrize(
    "text",
    [
        "Built SQL reports at Ini\u200btech.",
        "Built SQL reports at In\u00aditech.",
        "Built SQL reports at Ini\u2062tech.",
        "Built SQL reports at \u202eInitech\u202c.",
        "Built SQL reports at Ini\U000e0041tech.",
        "Built SQL reports at Ini\u034ftech.",
    ],
)
def test_an_invisible_character_never_hides_a_word(text, contoso):
    verdict = verify(text, contoso)
    assert not verdict.kept
    assert "Initech" in verdict.text


def test_a_combining_mark_makes_another_word(contoso):
    refused("Built SQL reports for 4 bu\u0301yers.", contoso)


def test_a_symbol_the_material_never_uses_is_refused(northwind):
    assert refused("Cut write-offs by 18% ★★★★★", northwind) == {("symbol", "★")}


# --- figures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Cut inventory write-offs by 19% with a weekly Tableau dashboard.",
        "Cut inventory write-offs by 17% with a weekly Tableau dashboard.",
        "Cut inventory write-offs by 180% with a weekly Tableau dashboard.",
        "Managed a $1.3 million freight budget.",
        "Managed a $12 million freight budget.",
        "Trained 7 store managers.",
        "Trained seven store managers.",
        "Trained a dozen store managers.",
        "Trained sixty store managers.",
        "Trained two hundred store managers.",
        "Trained a hundred store managers.",
        "Trained hundreds of store managers.",
        "Trained 6,000 store managers.",
        "Trained 6k store managers.",
        "Halved inventory write-offs with a weekly Tableau dashboard.",
        "Doubled on-time deliveries across 14 warehouses.",
        "Cut inventory write-offs 3x with a weekly Tableau dashboard.",
        "Tripled delivery deadlines met.",
    ],
)
def test_a_figure_the_role_does_not_state_is_refused(text, northwind):
    refused(text, northwind)


@pytest.mark.parametrize(
    "text",
    [
        "Kept 99% uptime for the delivery systems.",  # 99% of deadlines, not uptime
        "Cut freight costs by 18%.",  # 18% of write-offs
        "Saved $1.2 million in freight.",  # a budget managed is not money saved
        "Managed 14 store managers.",  # 14 warehouses
        "Managed a $1.2 million budget for 6 warehouses.",
        "Cut inventory write-offs by 18% across 14 warehouses.",
    ],
)
def test_a_figure_moved_to_another_noun_or_verb_is_refused(text, northwind):
    refused(text, northwind)


def test_a_figure_borrowed_from_another_role_is_refused(northwind):
    refused("Reduced stockouts 30% with a weekly Tableau dashboard.", northwind)
    refused("Built SQL reports for a team of 4 store managers.", northwind)


def test_a_year_borrowed_from_education_or_another_role_is_refused(whole, northwind):
    refused("Senior Operations Analyst at Northwind Traders since 2016.", whole)
    refused("Senior Operations Analyst at Northwind Traders since 2018.", whole)
    refused("Operations analyst since 2012.", whole)
    refused("Met 99% of delivery deadlines during the 2021 peak season.", northwind)


def test_digits_from_the_contact_line_are_never_evidence(whole):
    refused("Managed 415 vendors across 94607 orders.", whole)
    refused("Analyst with 555 store managers trained.", whole)
    refused("Cut costs by 199 dollars.", whole)


@pytest.mark.parametrize(
    "text",
    [
        "Operations analyst with 10 years in retail supply chains.",
        "Operations analyst with 10+ years of experience.",
        "Operations analyst with over a decade of experience.",
        "Senior Operations Analyst at Northwind Traders for 7 years.",
        "Operations analyst with twelve years of experience.",
    ],
)
def test_years_of_experience_must_follow_from_the_resume(text, whole):
    refused(text, whole)


# --- titles and seniority -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Senior operations analyst building SQL reports.",  # Contoso's title had no "senior"
        "Lead Operations Analyst building SQL reports.",
        "Operations manager building SQL reports.",
        "Head of Operations building SQL reports.",
        "As a senior analyst, built SQL reports on vendor lead times.",
        "Led a team of 4 buyers building SQL reports.",
        "Managed the migration of order data to Snowflake.",
        "Led the migration of order data to Snowflake.",
    ],
)
def test_a_title_or_leadership_the_role_does_not_show_is_refused(text, contoso):
    refused(text, contoso)


def test_a_title_held_in_one_role_is_not_claimed_for_another(whole):
    refused("Senior Operations Analyst at Contoso Retail.", whole)
    kept("Operations Analyst at Contoso Retail.", whole)


# --- claims false in combination ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Forecast demand in Python at Contoso Retail.",  # the answer was about Northwind
        "Built Tableau dashboards at Contoso Retail.",  # Tableau was at Northwind
        "Cut stockouts by 18% at Northwind Traders.",  # 18% was write-offs
        "Increased inventory write-offs by 18%.",  # the direction is the fact
        "Trained 4 buyers on the replenishment process.",
    ],
)
def test_words_of_the_resume_put_together_falsely_are_refused(text, whole):
    refused(text, whole)


# --- hand-made slips a broken gate would make ----------------------------------------------


def test_a_number_near_the_source_is_no_evidence(northwind):
    """Slip: a number accepted within +-1 of the source's."""
    refused("Trained 5 store managers on the replenishment process.", northwind)
    refused("Met 98% of delivery deadlines.", northwind)
    refused("Met 100% of delivery deadlines.", northwind)


def test_a_capitalised_common_word_names_something_anywhere_in_the_sentence(contoso):
    """Slip: a capitalised common word treated as no name wherever it stands."""
    refused("Built SQL reports at Target.", contoso)
    refused("Target buyers used the SQL reports.", contoso)
    refused("Built SQL reports for buyers (Target).", contoso)


def test_lower_case_seniority_is_checked(contoso):
    """Slip: lower-case seniority titles ("senior analyst") not checked."""
    refused("Worked as a senior analyst on vendor lead times.", contoso)
    refused("Built SQL reports as lead analyst.", contoso)
    # Every word is in scope, but the title is someone else's: only the title check sees it.
    scope = Scope(
        (
            Source("Operations Analyst | Contoso Retail | 2018 - 2021", "role", 0),
            Source("Trained senior analysts on SQL reports", "bullet", 0),
        )
    )
    refused("As a senior analyst, built SQL reports.", scope)
    kept("Trained senior analysts on SQL reports.", scope)


def test_a_bullet_is_judged_by_its_own_role(northwind, contoso):
    """Slip: a bullet verified against the whole resume instead of its own role."""
    refused("Built SQL reports with a weekly Tableau dashboard.", contoso)
    refused("Reduced stockouts 30% by rebalancing safety stock.", northwind)
    kept("Reduced stockouts 30% by rebalancing safety stock.", contoso)


def test_a_negative_answer_is_no_evidence(whole):
    """Slip: a negative Mimikree answer ("no, I have not used SAP") counted as evidence."""
    refused("Built SQL reports on SAP.", whole)
    refused("Experienced with SAP.", whole)
    mixed = resume_scope(RESUME, answers=["I used Looker at Northwind but never SAP."])
    kept("Used Looker at Northwind Traders.", mixed)
    refused("Built SAP reports at Northwind Traders.", mixed)


def test_the_skills_list_counts_for_a_cover_letter():
    """Slip: the resume's skills list not counted when judging a cover letter."""
    scope = resume_scope(RESUME, extra=profile_sources({"name": "Dana Ortiz"}), purpose="letter")
    kept("I work with Power BI and Excel.", scope)


def test_a_role_noun_needs_its_own_spelling_not_a_verb_of_the_same_stem():
    """Slip: stems matching role nouns ("managed" making a "manager")."""
    scope = Scope((Source("Managed a freight budget", "bullet", 0),))
    refused("Freight manager.", scope)


def test_a_fact_bearing_verb_needs_its_class_in_scope():
    """Slip: every action verb taken as rephrasing."""
    scope = Scope((Source("Contributed to the order data migration", "bullet", 0),))
    refused("Spearheaded the order data migration.", scope)
    kept("Contributed to the migration of order data.", scope)


def test_rephrasing_words_standing_where_a_name_stands_are_names():
    """Slip: the rephrasing list exempting words in a name's place."""
    scope = Scope((Source("Built order reports", "bullet", 0),))
    refused("Built order reports at Delivered.", scope)
    refused("Built order reports at Using Labs.", scope)


def test_a_lower_case_role_noun_needs_its_own_spelling_where_no_title_is_read():
    """Slip: only capitalised role and seniority words held to their spelling (a lower-case
    "manager" found by the stem of "managed")."""
    scope = Scope((Source("Managed a freight budget", "bullet", 0),))
    assert refused("Managed a freight budget as a manager.", scope) == {("title", "manager")}
    kept("Managed a freight budget.", scope)


def test_a_related_word_never_writes_a_tool_but_a_spelling_writes_its_name():
    """Slip: a tool the material only relates to ("containerization" for Docker) counted as
    spelled, so an alias writes a new tool into the sentence."""
    scope = Scope(
        (Source("Led containerization of 12 services with k8s on Postgres", "bullet", 0),)
    )
    assert refused("Led containerization of 12 services with Docker on Postgres.", scope) == {
        ("skill", "Docker")
    }
    kept("Led containerization of 12 services with Kubernetes on PostgreSQL.", scope)


def test_a_capitalised_rephrasing_word_inside_a_sentence_is_a_name_without_at(contoso):
    """Slip: a capitalised common word (one of the rephrasing words) treated as no name
    wherever it stands, not only after "at"."""
    assert refused("Built SQL reports for Delivered buyers.", contoso) & {("employer", "Delivered")}
    refused("Built SQL reports for Delivered.", contoso)
    kept("Built SQL reports on vendor lead times for a team of 4 buyers.", contoso)


def test_a_capitalised_word_the_material_writes_only_in_lower_case_is_a_name(contoso):
    """Slip: a capitalised word inside a sentence taken for its lower-case form, so a client
    or employer the material never names passes ("vendor lead times" making a "Vendor")."""
    assert refused("Built SQL reports for Vendor.", contoso) == {("employer", "Vendor")}
    refused("Moved order data to Snowflake for Order.", contoso)
    # Title case of the material's own phrase, and a name it writes, still pass.
    kept("Built SQL Reports on vendor lead times.", contoso)
    kept("Contributed to the migration of order data to Snowflake.", contoso)
    scope = Scope((Source("Set up zsh, Tmux and backbone.js-like tooling", "bullet", 0),))
    kept("Set up Zsh, Tmux and Backbone.js-like tooling.", scope)


def test_a_rephrasing_word_in_a_name_s_shape_is_a_name_at_the_start_or_in_brackets(contoso):
    """Slip: a rephrasing word (built, delivered...) taken for no name where a sentence or a
    bracket opens, so "(Delivered)" or "Delivered buyers" names a client unchecked."""
    assert refused("Built SQL reports (Delivered).", contoso) == {("name", "Delivered")}
    assert refused("Delivered buyers used the SQL reports.", contoso) == {("name", "Delivered")}
    refused("Built SQL reports (Vendor).", contoso)
    # The same words as verbs, and a skill in brackets, still pass.
    kept("Built SQL reports on vendor lead times (SQL).", contoso)
    kept("Built SQL reports used by a team of 4 buyers.", contoso)
    scope = Scope((Source("Delivered weekly reports to the buyers", "bullet", 0),))
    kept("Delivered weekly reports to the buyers.", scope)
    refused("Weekly reports (Delivered).", scope)


def test_a_name_after_a_dash_before_a_colon_or_made_of_a_line_s_first_verb_is_checked(contoso):
    """Slip: a capital taken for a sentence's after a dash or before a label's colon, and a
    verb the material capitalises only as a line's first word taken for a name it writes."""
    assert refused("Built SQL reports - Vendor.", contoso) == {("name", "Vendor")}
    assert refused("Vendor: built SQL reports.", contoso) == {("name", "Vendor")}
    assert refused("Built SQL reports for Built buyers.", contoso) == {("employer", "Built")}
    kept("Built SQL reports - vendor lead times for 4 buyers.", contoso)


def test_an_employer_named_as_part_of_what_a_bullet_says_must_be_said_with_it():
    """Slip: the employer's name left out of the words a line must say together, so the
    role's own line (which names the employer for every bullet) lets "across the team"
    become "across Stripe"."""
    resume = {
        "contact": {"name": "Ada Byron"},
        "experience": [
            {
                "title": "Software Engineer",
                "employer": "Stripe",
                "start_date": "2018",
                "end_date": "2021",
                "bullets": ["Wrote code review standards adopted across the team"],
            },
            {
                "title": "Engineer",
                "employer": "Acme Corp",
                "start_date": "2015",
                "end_date": "2018",
                "bullets": ["Built internal dashboards"],
            },
        ],
    }
    for scope in (bullet_scope(resume, 0), resume_scope(resume)):
        assert {
            k for k, _ in refused("Wrote code review standards adopted across Stripe.", scope)
        } == {"combination"}
        for text in (
            "Wrote code review standards adopted across Stripe's team.",
            "Wrote code review standards adopted by Stripe.",
            "Stripe adopted code review standards across the team.",
        ):
            refused(text, scope)
        # Where the person did it is the role's own line's to say.
        kept("Wrote code review standards adopted across the team at Stripe.", scope)
        kept("At Stripe, wrote code review standards adopted across the team.", scope)


def test_a_figure_keeps_its_unit(contoso, northwind):
    """Slip: figures compared by value alone ("30%" supporting "30x", "$" supporting "€")."""
    refused("Reduced stockouts 30x by rebalancing safety stock.", contoso)
    refused("Managed a €1.2 million freight budget across 14 warehouses.", northwind)
    scope = Scope((Source("Raised conversion 51% with A/B tests", "bullet", 0),))
    for text in (
        "Raised conversion 51x with A/B tests.",
        "Raised conversion 3x with A/B tests.",
        "Raised conversion by $51 with A/B tests.",
        "Doubled conversion with A/B tests.",
    ):
        assert {k for k, _ in refused(text, scope)} == {"number"}, text
    kept("Raised conversion by 51 percent with A/B tests.", scope)


def test_a_postcode_is_no_evidence_for_a_figure_even_beside_its_city():
    """Slip: figures read from the contact line like any other line."""
    scope = Scope(
        (
            Source("Oakland, CA 94607", "contact"),
            Source("Served Oakland customers", "other"),
        )
    )
    assert refused("Served 94607 Oakland customers.", scope) == {("number", "94607")}
    kept("Served Oakland customers.", scope)


def test_a_whole_word_in_another_script_is_named_a_look_alike_in_lower_case(contoso):
    """Slip: the confusable skeleton applied to capitals only (a Cyrillic "а" for "a")."""
    assert refused("Built SQL reports for \u0430 team of 4 buyers.", contoso) == {
        ("look-alike", "\u0430")
    }


# --- a sentence that names one role may not borrow another's facts (found by attack) -------


@pytest.mark.parametrize(
    "text",
    [
        "Operations Analyst at Contoso Retail who cut inventory write-offs by 18%.",
        "Cut inventory write-offs by 18% while at Contoso Retail.",
        "While an Operations Analyst at Contoso Retail, trained 6 store managers.",
        "Trained 6 store managers at both Northwind Traders and Contoso Retail.",
        "Built SQL reports at Northwind Traders and Contoso Retail.",
        "Contoso analyst who managed a $1.2 million freight budget.",
    ],
)
def test_every_part_of_a_sentence_naming_a_role_rests_on_that_role(text, whole):
    refused(text, whole)


@pytest.mark.parametrize(
    "text",
    [
        # A result or a tool put after a comma belongs to the action before it.
        "Trained 6 store managers on the replenishment process, cutting inventory write-offs "
        "by 18%.",
        "Managed a $1.2 million freight budget across 14 warehouses, using Tableau.",
        # The last item of a list is a claim too.
        "Cut inventory write-offs by 18% with a weekly Tableau dashboard and Power BI.",
    ],
)
def test_what_follows_an_action_is_checked_with_it(text, northwind):
    refused(text, northwind)


def test_a_dropped_hedge_or_qualifier_is_refused():
    resume = {
        "experience": [
            {
                "title": "Junior Data Analyst",
                "employer": "Fabrikam",
                "dates": "2019 - 2021",
                "start_date": "2019",
                "end_date": "2021",
                "bullets": ["Assisted in preparing the quarterly forecasts"],
            }
        ],
        "skills": [{"category": None, "items": ["Python (Intermediate)", "SQL (Advanced)"]}],
        "certifications": [{"name": "CPA eligible (exam in progress)"}],
    }
    scope = resume_scope(resume)
    refused("Prepared the quarterly forecasts.", scope)
    kept("Helped prepare the quarterly forecasts.", scope)
    refused("Data Analyst at Fabrikam.", scope)
    kept("Junior Data Analyst at Fabrikam.", scope)
    refused("Analyst and CPA.", scope)
    refused("Advanced Python.", scope)
    kept("Advanced SQL.", scope)


def test_years_of_a_skill_follow_from_the_roles_that_show_it(whole):
    refused("Operations analyst with 7 years of Tableau experience.", whole)
    kept("Operations analyst with 5 years of Tableau experience.", whole)


def test_a_date_comes_from_its_own_line(whole):
    refused("Holds a B.A. in Economics from San Francisco State University, earned in 2018.", whole)
    refused("Operations Analyst at Contoso Retail from 2018 to 2016.", whole)


def test_currently_and_previously_follow_the_roles_dates(whole):
    refused("Currently building SQL reports on vendor lead times.", whole)
    kept("Previously built SQL reports on vendor lead times.", whole)
    refused("Previously cut inventory write-offs by 18% with a weekly Tableau dashboard.", whole)


# --- found by attack: bounds, compounds, people led, tools placed, a year's edge ------------


@pytest.mark.parametrize(
    ("text", "scope_name"),
    [
        ("Built SQL reports on vendor lead times for more than 4 buyers.", "contoso"),
        ("Built SQL reports on vendor lead times for over 4 buyers.", "contoso"),
        ("Reduced stockouts by over 30% by rebalancing safety stock.", "contoso"),
        ("Trained 6+ store managers on the replenishment process.", "northwind"),
        ("Cut inventory write-offs by 18%+ with a weekly Tableau dashboard.", "northwind"),
        ("Managed a freight budget of over $1.2 million across 14 warehouses.", "northwind"),
    ],
)
def test_a_figure_made_a_lower_bound_is_refused(text, scope_name, request):
    assert "number" in {k for k, _ in refused(text, request.getfixturevalue(scope_name))}


def test_a_bound_is_kept_as_the_material_states_it():
    scope = Scope(
        (
            Source("The ES cluster serves over 2M users", "bullet", 0),
            Source("Cut churn nearly 30% with surveys", "bullet", 0),
        )
    )
    kept("The ES cluster serves more than 2M users.", scope)
    kept("The ES cluster serves 2M+ users.", scope)
    kept("Cut churn by nearly 30% with surveys.", scope)
    refused("Cut churn 30% with surveys.", scope)
    refused("Cut churn over 30% with surveys.", scope)


@pytest.mark.parametrize(
    "text",
    [
        "Managed 6 store managers on the replenishment process.",
        "Led 6 store managers on the replenishment process.",
        "Supervised 6 store managers.",
    ],
)
def test_people_the_person_trained_are_not_people_they_led(text, northwind):
    refused(text, northwind)
    kept("Trained 6 store managers on the replenishment process.", northwind)


def test_a_figure_inside_a_compound_word_is_still_a_figure(northwind):
    refused("Met 14/14 delivery deadlines during the 2022 peak season.", northwind)
    refused("Trained 14-store managers on the replenishment process.", northwind)
    scope = Scope((Source("The ES cluster has 9 nodes", "bullet", 0),))
    kept("Built a 9-node ES cluster.", scope)
    refused("Built a 12-node ES cluster.", scope)


@pytest.mark.parametrize(
    "text",
    [
        "Used Power BI at Contoso Retail.",
        "At Contoso Retail, used Power BI.",
        "Used Excel and Power BI while at Northwind Traders.",
    ],
)
def test_the_skills_list_does_not_say_where_a_tool_was_used(text, whole):
    refused(text, whole)
    kept(
        "Senior Operations Analyst at Northwind Traders, with skills in Excel and Power BI.", whole
    )


@pytest.mark.parametrize(
    "text",
    [
        "Operations Analyst at Contoso Retail since 2018.",  # it ended in 2021
        "Joined Contoso Retail in 2021.",  # it began in 2018
        "Senior Operations Analyst at Northwind Traders until 2021.",  # it goes on
        "Operations Analyst at Contoso Retail through 2018.",
        "Graduated from San Francisco State University in 2012.",  # 2012 - 2016
        "Senior Operations Analyst since 2018.",  # senior at Northwind, from 2021
    ],
)
def test_a_year_said_to_start_or_end_something_is_when_it_did(text, whole):
    assert "date" in {k for k, _ in refused(text, whole)}
    kept("Joined Northwind Traders in 2021.", whole)
    kept("Graduated from San Francisco State University in 2016.", whole)
    kept("Operations analyst since 2018.", whole)  # at Contoso, then at Northwind


def test_where_the_person_lives_comes_from_their_contact_details(whole):
    letter = resume_scope(
        RESUME,
        extra=profile_sources({"name": "Dana Ortiz", "location": "Oakland, CA"}),
        purpose="letter",
    )
    refused("I am based in San Jose.", letter)  # Contoso's office, not her home
    refused("Operations analyst based in San Jose, CA.", whole)
    kept("I am based in Oakland, CA.", letter)
    kept("Operations analyst based in Oakland.", whole)
