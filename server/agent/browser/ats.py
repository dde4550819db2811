"""Which hosted form a URL leads to: told from the URL (host, or the vendor's path shape on a
domain of its own), confirmed from the page.

Each supported ATS has its traits: what on the page proves it is that form, the button that
submits it, the page or message that confirms it, and how it asks for the next page. Workday,
Taleo and iCIMS put an account in front of the form: they are recognised so the user is told
to apply by hand, never filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class Ats:
    name: str
    label: str
    # CSS that only this vendor's form has (one match confirms the page).
    confirms: str
    submit: str
    # CSS or a URL suffix that shows the application was taken.
    confirmed_css: str
    confirmed_path: str | None = None
    next_button: str | None = None
    supported: bool = True


# Text a confirmation says, whatever the vendor (checked with the vendor's own sign).
CONFIRMATION_TEXT = re.compile(
    r"thank you for applying|thanks for applying|application (has been |was )?"
    r"(successfully )?(submitted|received)|your application was successfully submitted",
    re.IGNORECASE,
)

ATSES: dict[str, Ats] = {
    ats.name: ats
    for ats in (
        Ats(
            "greenhouse",
            "Greenhouse (classic boards)",
            confirms="form#application_form",
            submit="#submit_app, form#application_form [type=submit]",
            confirmed_css="#application_confirmation",
        ),
        Ats(
            "greenhouse_new",
            "Greenhouse (job-boards)",
            confirms="form#application-form.application--form",
            submit="form#application-form button[type=submit]",
            confirmed_css="main.confirmation, .confirmation",
            confirmed_path="/confirmation",
        ),
        Ats(
            "lever",
            "Lever",
            confirms="form#application-form [data-qa=btn-submit], form#application-form #btn-submit",
            submit="#btn-submit",
            confirmed_css="[data-qa=msg-submit-success], .application-confirmation",
            confirmed_path="/thanks",
        ),
        Ats(
            "ashby",
            "Ashby",
            confirms=".ashby-application-form-field-entry",
            submit=".ashby-application-form-submit-button",
            confirmed_css=".ashby-application-form-success-container",
        ),
        Ats(
            "workable",
            "Workable",
            confirms="form[data-ui=application-form]",
            submit="button[data-ui=apply-button]",
            confirmed_css="[data-ui=application-success]",
        ),
        Ats(
            "smartrecruiters",
            "SmartRecruiters",
            confirms="oc-app-root, oc-oneclick-form-root",
            submit="spl-button[data-test=submit]",
            confirmed_css="oc-oneclick-form-root .confirmation",
            next_button="spl-button[data-test=next]",
        ),
        Ats(
            "workday",
            "Workday",
            confirms="[data-automation-id=applyFlowPage], [data-automation-id=signInLink]",
            submit="",
            confirmed_css="",
            supported=False,
        ),
        Ats(
            "taleo",
            "Taleo",
            confirms="#requisitionDescriptionInterface",
            submit="",
            confirmed_css="",
            supported=False,
        ),
        Ats(
            "icims",
            "iCIMS",
            confirms="#iCIMS_MainWrapper",
            submit="",
            confirmed_css="",
            supported=False,
        ),
    )
}

_HOSTS = (
    (re.compile(r"(^|\.)job-boards(\.eu)?\.greenhouse\.io$"), "greenhouse_new"),
    (re.compile(r"(^|\.)boards(\.eu)?\.greenhouse\.io$"), "greenhouse"),
    (re.compile(r"(^|\.)jobs(\.eu)?\.lever\.co$"), "lever"),
    (re.compile(r"(^|\.)jobs\.ashbyhq\.com$"), "ashby"),
    (re.compile(r"(^|\.)apply\.workable\.com$"), "workable"),
    (re.compile(r"(^|\.)(jobs|careers)\.smartrecruiters\.com$"), "smartrecruiters"),
    (re.compile(r"\.myworkdayjobs\.com$|\.myworkday\.com$"), "workday"),
    (re.compile(r"\.taleo\.net$"), "taleo"),
    (re.compile(r"(^|\.)icims\.com$"), "icims"),
)
# The vendors' path shapes, for their forms on other domains (and the tests' stand-ins).
_PATHS = (
    (re.compile(rf"^/[^/]+/{UUID}/application/?$"), "ashby"),
    (re.compile(rf"^/[^/]+/{UUID}(/apply)?/?$"), "lever"),
    (re.compile(r"^/[^/]+/j/[0-9A-F]{6,12}(/apply)?/?$"), "workable"),
    (re.compile(rf"^/oneclick-ui/company/[^/]+/publication/{UUID}/?$"), "smartrecruiters"),
    (re.compile(r"^/(embed/job_app|[^/]+/jobs/\d+)/?$"), "greenhouse"),
    (re.compile(r"^/[a-z]{2}-[A-Z]{2}/[^/]+/job/"), "workday"),
)
ANY_GREENHOUSE = ("greenhouse", "greenhouse_new")


def from_url(url: str | None) -> str | None:
    """The ATS a URL names by its host or path shape, or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    for pattern, name in _HOSTS:
        if pattern.search(host):
            return name
    if "gh_jid=" in (parts.query or ""):
        return "greenhouse"
    for pattern, name in _PATHS:
        if pattern.match(parts.path):
            return name
    return None


def form_url(url: str, name: str) -> str:
    """Where the vendor's form is, given its posting URL (Lever's form is at `/apply`)."""
    parts = urlsplit(url)
    if name == "lever" and not parts.path.rstrip("/").endswith("/apply"):
        return parts._replace(path=parts.path.rstrip("/") + "/apply").geturl()
    if name == "workable" and not parts.path.rstrip("/").endswith("/apply"):
        return parts._replace(path=parts.path.rstrip("/") + "/apply/").geturl()
    return url


# Checked in the page, in order: the first whose sign is there is the form.
CONFIRM_ORDER = (
    "workday",
    "taleo",
    "icims",
    "greenhouse",
    "greenhouse_new",
    "lever",
    "ashby",
    "workable",
    "smartrecruiters",
)
