"""Answers to a posting's screening questions from the applicant profile and the resume.

A question is answered only when the profile or the resume states the answer; anything else
is left for the user (`answer: null`, `source: null`), never guessed. Each answer says where
it came from. A free-text question no profile field answers may be answered by the engine
(`source: "engine"`): every sentence it writes goes through the verifier against the resume,
the profile and the user's answers, and an answer left with no sentence stays null.
"""

from __future__ import annotations

import re
from typing import Any

from server.agent.cover_letters import resume_facts
from server.agent.engines.base import Engine
from server.agent.verifier import Scope, verify_text

# Country names and codes a question may name, to its ISO 3166-1 alpha-2 code.
COUNTRIES = {
    "united states": "US",
    "u.s.": "US",
    "usa": "US",
    "us": "US",
    "america": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "canada": "CA",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "netherlands": "NL",
    "ireland": "IE",
    "spain": "ES",
    "portugal": "PT",
    "italy": "IT",
    "poland": "PL",
    "sweden": "SE",
    "switzerland": "CH",
    "austria": "AT",
    "australia": "AU",
    "india": "IN",
    "singapore": "SG",
    "european union": "EU",
    "eu": "EU",
}
EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
_AUTHORIZED = {"citizen", "permanent_resident", "work_visa"}
_YES, _NO = "Yes", "No"


def _has(label: str, *patterns: str) -> bool:
    return any(re.search(p, label) for p in patterns)


def _countries_in(text: str) -> list[str]:
    lowered = f" {text.lower()} "
    found = []
    for name, code in COUNTRIES.items():
        if re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", lowered) and code not in found:
            found.append(code)
    return found


def _link(profile: dict[str, Any], *names: str) -> str | None:
    for link in profile.get("links") or []:
        label = link["label"].lower()
        if any(name in label or name in link["url"].lower() for name in names):
            return link["url"]
    return None


def _authorized(profile: dict[str, Any], country: str) -> bool | None:
    entries = {e["country"]: e["status"] for e in profile.get("work_authorization") or []}
    if country == "EU":
        statuses = [s for c, s in entries.items() if c in EU_MEMBERS]
        if any(s in _AUTHORIZED for s in statuses):
            return True
        return None
    status = entries.get(country)
    if status is None:
        return None
    return status in _AUTHORIZED


def _salary(profile: dict[str, Any]) -> str | None:
    salary = profile.get("salary_expectation")
    if not salary:
        return None
    amount = f"{salary['minimum']:,}"
    if salary.get("maximum"):
        amount += f"-{salary['maximum']:,}"
    return f"{amount} {salary['currency']} per {salary.get('period') or 'year'}"


def _name_part(name: str | None, *, first: bool) -> str | None:
    """The first word of the account's name, or the rest; None when the name has one word
    (which part it is is not known)."""
    words = (name or "").split()
    if len(words) < 2:
        return None
    return words[0] if first else " ".join(words[1:])


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else (_YES if value else _NO)


def _known(
    question: dict[str, Any],
    *,
    profile: dict[str, Any],
    resume: dict[str, Any],
    posting: dict[str, Any],
    cover_letter: str,
) -> tuple[Any, str | None]:
    """(answer, source) for one question; (None, None) when the answer is not known."""
    label = (question.get("label") or "").lower()
    kind = question.get("type") or "text"
    eeo = profile.get("eeo") or {}
    if kind == "file":
        if _has(label, r"cover"):
            return "cover letter attached", "package"
        return "resume attached", "resume"
    if _has(label, r"cover letter", r"motivation"):
        return cover_letter, "package"
    if _has(label, r"\bgender\b", r"\bsex\b"):
        return eeo.get("gender"), "profile.eeo" if eeo.get("gender") else None
    if _has(label, r"\brace\b", r"ethnic"):
        value = eeo.get("race_ethnicity")
        return value, "profile.eeo" if value else None
    if _has(label, r"veteran"):
        value = eeo.get("veteran_status")
        return value, "profile.eeo" if value else None
    if _has(label, r"disabilit"):
        value = eeo.get("disability_status")
        return value, "profile.eeo" if value else None
    if _has(label, r"sponsor", r"\bvisa\b"):
        return _yes_no(profile.get("requires_sponsorship")), "profile.requires_sponsorship"
    if _has(label, r"authori[sz]ed to work", r"right to work", r"work permit", r"eligible to work"):
        countries = _countries_in(label) or _countries_in(posting.get("location") or "")
        if len(countries) != 1:
            return None, None
        return _yes_no(_authorized(profile, countries[0])), "profile.work_authorization"
    if _has(label, r"relocat"):
        return _yes_no(profile.get("willing_to_relocate")), "profile.willing_to_relocate"
    if _has(label, r"salary", r"compensation", r"pay expectation"):
        return _salary(profile), "profile.salary_expectation"
    if _has(label, r"notice period", r"when can you start", r"start date", r"earliest start"):
        days = profile.get("notice_period_days")
        return (None if days is None else f"{days} days notice"), "profile.notice_period_days"
    if _has(label, r"linkedin"):
        return _link(profile, "linkedin"), "profile.links"
    if _has(label, r"github"):
        return _link(profile, "github"), "profile.links"
    if _has(label, r"portfolio", r"website", r"personal site"):
        return _link(profile, "portfolio", "website", "site"), "profile.links"
    if _has(label, r"phone", r"mobile"):
        return profile.get("phone"), "profile.phone"
    if _has(label, r"e-?mail"):
        return profile.get("email"), "account.email"
    if _has(label, r"^(full )?name$", r"your name"):
        return profile.get("name"), "account.name"
    if _has(label, r"^(first|given) name$", r"^(last|family) name$", r"^surname$"):
        return _name_part(profile.get("name"), first=_has(label, r"first|given")), "account.name"
    if _has(
        label, r"where are you (based|located)", r"current location", r"^location$", r"\bcity\b"
    ):
        return profile.get("location"), "profile.location"
    return None, None


def _fit_to_type(question: dict[str, Any], answer: Any) -> Any:
    """The answer in the question's form (a boolean, one of its options), or None."""
    if answer is None or answer == "":
        return None
    kind = question.get("type") or "text"
    options = [str(o) for o in question.get("options") or []]
    if kind == "boolean":
        if isinstance(answer, bool):
            return answer
        return {"yes": True, "no": False}.get(str(answer).lower())
    if kind in ("select", "multi_select") and options:
        wanted = str(answer).lower().replace("_", " ")
        for option in options:
            if option.lower() == wanted or option.lower().replace("_", " ") == wanted:
                return [option] if kind == "multi_select" else option
        for option in options:  # "Yes, I am authorized" for "Yes"
            if option.lower().startswith(wanted + ",") or option.lower().startswith(wanted + " "):
                return [option] if kind == "multi_select" else option
        return None
    return answer


def answer_questions(
    questions: list[dict[str, Any]],
    *,
    profile: dict[str, Any],
    resume: dict[str, Any],
    posting: dict[str, Any],
    cover_letter: str,
) -> list[dict[str, Any]]:
    """Each question with its answer and source, or `answer: null` for the user to give."""
    answered = []
    for question in questions:
        answer, source = _known(
            question, profile=profile, resume=resume, posting=posting, cover_letter=cover_letter
        )
        fitted = _fit_to_type(question, answer)
        answered.append(
            {
                "question_id": str(question.get("id")),
                "label": question.get("label") or "",
                "type": question.get("type") or "text",
                "required": bool(question.get("required")),
                "options": list(question.get("options") or []),
                "answer": fitted,
                "source": source if fitted is not None else None,
            }
        )
    return answered


def missing_required(answers: list[dict[str, Any]]) -> list[str]:
    """Labels of required questions without an answer."""
    return [a["label"] for a in answers if a["required"] and a["answer"] is None]


FREE_TEXT_TYPES = frozenset({"text", "textarea"})
MAX_ENGINE_ANSWERS = 5


def engine_answers(
    answered: list[dict[str, Any]],
    *,
    engine: Engine,
    parsed: dict[str, Any] | None,
    posting: dict[str, Any],
    scope: Scope,
) -> list[dict[str, Any]]:
    """Answer the free-text questions still open with the engine, in place (at most
    `MAX_ENGINE_ANSWERS`); returns the claims the verifier refused."""
    dropped: list[dict[str, Any]] = []
    facts = resume_facts(parsed)
    open_questions = [
        a for a in answered if a["answer"] is None and a["type"] in FREE_TEXT_TYPES and a["label"]
    ]
    for item in open_questions[:MAX_ENGINE_ANSWERS]:
        written = engine.answer_question(
            question=item["label"][:1000],
            resume=facts,
            posting={"company": posting.get("company") or "", "title": posting.get("title") or ""},
        )
        text, lost = verify_text(
            written.get("answer") or "", scope, f"answers[{item['question_id']}]"
        )
        dropped += lost
        if text:
            item["answer"], item["source"] = text, "engine"
    return dropped
