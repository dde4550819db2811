"""Answers for a form's fields, in the issue's order of sources.

1. The user's own answer to this application's question (given with PATCH or at submit).
2. The applicant profile, mapped deterministically by the field's name, id, autocomplete
   attribute and label: name, email, phone, location, links, work authorisation and
   sponsorship, relocation, salary, start date, EEO answers where the user gave them and
   "decline to answer" otherwise; the tailored resume and the cover letter for uploads.
3. The user's saved answers to earlier questions, matched by normalised label.
4. The answers prepared with the package for the posting's questions (by label).
5. The engine, for required free-text questions only, every sentence through the verifier
   (`screening.engine_answers`); an answer the verifier leaves empty stays unanswered.

A field none of these answers stays unanswered: the application stops for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from server.agent.screening import answer_questions

# Labels of EEO questions, and the words of each answer the profile may hold.
_EEO_LABELS = (
    ("gender", r"\bgender\b|\bsex\b"),
    ("hispanic", r"hispanic|latin[oa]"),
    ("race_ethnicity", r"\brace\b|ethnic"),
    ("veteran_status", r"veteran"),
    ("disability_status", r"disabilit"),
)
_EEO_WORDS = {
    "female": r"^female|^woman",
    "male": r"^male|^man\b",
    "non_binary": r"non.?binary",
    "other": r"^other|self.?describe",
    "american_indian_or_alaska_native": r"american indian|alaska",
    "asian": r"^asian",
    "black_or_african_american": r"^black|african american",
    "hispanic_or_latino": r"^hispanic|latino",
    "native_hawaiian_or_pacific_islander": r"hawaiian|pacific islander",
    "white": r"^white",
    "two_or_more_races": r"two or more",
    "protected_veteran": r"^(yes|i am a (protected )?veteran|i identify as one or more)",
    "not_a_protected_veteran": r"^(no|i am not a (protected )?veteran)",
    "yes": r"^yes",
    "no": r"^no\b",
}
DECLINE = re.compile(
    r"decline|don.?t wish|do not wish|prefer not|choose not|not to (self.?identify|answer|disclose)",
    re.IGNORECASE,
)
_DATE_HINT = re.compile(r"mm/dd/yyyy|pick date|date", re.IGNORECASE)
FREE_TEXT = ("text", "textarea")


def normalise_label(label: str) -> str:
    """A label as saved answers are matched: lower case, words only, no required marker."""
    return " ".join(re.findall(r"[a-z0-9]+", (label or "").lower()))[:300]


@dataclass
class Sources:
    """What a form may be answered from."""

    profile: dict[str, Any]
    resume: dict[str, Any]
    posting: dict[str, Any]
    cover_letter: str
    resume_file: dict[str, Any] | None  # {name, mimeType, buffer}
    cover_letter_file: dict[str, Any] | None
    given: dict[str, Any] = field(default_factory=dict)  # field key -> the user's answer
    saved: dict[str, Any] = field(default_factory=dict)  # normalised label -> answer
    prepared: dict[str, Any] = field(default_factory=dict)  # normalised label -> answer
    today: date = field(default_factory=date.today)


def _words(field_: dict[str, Any]) -> str:
    return " ".join(
        str(field_.get(k) or "") for k in ("name", "id", "autocomplete", "label")
    ).lower()


def _name_parts(name: str | None) -> tuple[str | None, str | None]:
    words = (name or "").split()
    if len(words) < 2:
        return None, None
    return words[0], " ".join(words[1:])


def _link(profile: dict[str, Any], *names: str) -> str | None:
    for link in profile.get("links") or []:
        text = f"{link['label']} {link['url']}".lower()
        if any(n in text for n in names):
            return link["url"]
    return None


def _profile_answer(field_: dict[str, Any], sources: Sources) -> tuple[Any, str | None]:
    """The profile's answer to a field by its attributes, or (None, None)."""
    profile = sources.profile
    words = _words(field_)
    label = (field_.get("label") or "").lower()
    kind, auto = field_["kind"], (field_.get("autocomplete") or "").lower()
    if kind == "file":
        if re.search(r"cover", words):
            return (
                sources.cover_letter_file,
                "package.cover_letter" if sources.cover_letter_file else None,
            )
        if re.search(r"resume|\bcv\b|curriculum", words):
            return sources.resume_file, "tailored_resume" if sources.resume_file else None
        return None, None
    first, last = _name_parts(profile.get("name"))
    if re.search(r"preferred", words):
        return None, None  # optional by nature; the user's legal name is asked elsewhere
    if auto == "given-name" or re.search(r"first.?name|given.?name|firstname", words):
        return first, "account.name" if first else None
    if auto == "family-name" or re.search(r"last.?name|family.?name|surname|lastname", words):
        return last, "account.name" if last else None
    if (
        auto == "name"
        or field_.get("name") in ("name", "_systemfield_name")
        or re.fullmatch(r"(full |your )?name", label)
    ):
        return profile.get("name"), "account.name"
    if field_.get("type") == "email" or auto == "email" or re.search(r"e-?mail", words):
        return profile.get("email"), "account.email"
    if field_.get("type") == "tel" or re.search(r"phone|mobile", words):
        if kind in ("combobox", "select"):
            return None, None  # the phone's country code: chosen from the number below
        return profile.get("phone"), "profile.phone"
    for names, pattern in (
        (("linkedin",), r"linkedin"),
        (("github",), r"github"),
        (("portfolio", "website", "site"), r"portfolio|website|personal site"),
    ):
        if re.search(pattern, words) and kind in FREE_TEXT:
            value = _link(profile, *names)
            return value, "profile.links" if value else None
    if kind == "textarea" and re.search(r"cover letter|additional information|comments", words):
        return (
            sources.cover_letter or None,
            "package.cover_letter" if sources.cover_letter else None,
        )
    if re.search(r"location|\bcity\b|address|where are you based", words) and not re.search(
        r"relocat", words
    ):
        return profile.get("location"), "profile.location" if profile.get("location") else None
    for key, pattern in _EEO_LABELS:
        if re.search(pattern, label):
            return _eeo_answer(field_, key, profile)
    if re.search(r"start date|when can you start|earliest start|available to start", label):
        days = profile.get("notice_period_days")
        if days is None:
            return None, None
        start = sources.today + timedelta(days=int(days))
        if kind in FREE_TEXT and _DATE_HINT.search(field_.get("placeholder") or ""):
            return start.strftime("%m/%d/%Y"), "profile.notice_period_days"
        if kind in FREE_TEXT:
            return f"{start.isoformat()} ({days} days notice)", "profile.notice_period_days"
        return None, None
    return None, None


def _eeo_answer(field_: dict[str, Any], key: str, profile: dict[str, Any]) -> tuple[Any, str]:
    """The user's EEO answer where they gave one; "decline to answer" otherwise."""
    eeo = profile.get("eeo") or {}
    given = eeo.get("race_ethnicity" if key == "hispanic" else key)
    if key == "hispanic" and given:
        given = "yes" if given == "hispanic_or_latino" else None
    options = field_.get("options") or []
    if given and given != "decline_to_answer":
        if not options:
            return given.replace("_", " ").capitalize(), "profile.eeo"
        pattern = _EEO_WORDS.get(given)
        for option in options:
            if pattern and re.search(pattern, option, re.IGNORECASE):
                return option, "profile.eeo"
    declined = next((o for o in options if DECLINE.search(o)), None)
    if declined:
        return declined, "decline_to_answer"
    if field_["kind"] == "combobox":
        return "Decline", "decline_to_answer"  # typed: the menu offers the employer's wording
    return None, "decline_to_answer"


def fit(field_: dict[str, Any], answer: Any) -> Any:
    """The answer in the field's form: one of its options for a choice, text for text."""
    if answer is None or answer == "":
        return None
    kind = field_["kind"]
    options = field_.get("options") or []
    if kind in ("select", "radio", "yesno", "combobox") or (kind == "checkboxes" and options):
        if isinstance(answer, bool):
            answer = "Yes" if answer else "No"
        if isinstance(answer, list):
            answer = answer[0] if answer else None
            if answer is None:
                return None
        wanted = str(answer).strip().lower()
        if not options:
            return str(answer) if kind == "combobox" else None
        for option in options:
            if option.strip().lower() == wanted:
                return option
        for option in options:
            text = option.strip().lower()
            if text.startswith(wanted + ",") or text.startswith(wanted + " "):
                return option
        if wanted in ("true", "false"):
            return fit(field_, wanted == "true")
        return None
    if kind == "checkbox":
        if isinstance(answer, bool):
            return answer
        return {"yes": True, "true": True, "no": False, "false": False}.get(str(answer).lower())
    if isinstance(answer, bool):
        return "Yes" if answer else "No"
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return answer


def resolve(fields: list[dict[str, Any]], sources: Sources) -> list[dict[str, Any]]:
    """Each field with `value` and `source` (None, None when nothing answers it)."""
    as_questions = [
        {
            "id": f["key"],
            "label": f["label"],
            "type": "boolean"
            if f["kind"] in ("yesno", "checkbox")
            else ("select" if f["options"] else "text"),
            "required": f["required"],
            "options": f["options"],
        }
        for f in fields
    ]
    screened = answer_questions(
        as_questions,
        profile=sources.profile,
        resume=sources.resume,
        posting=sources.posting,
        cover_letter=sources.cover_letter,
    )
    resolved = []
    for field_, screened_answer in zip(fields, screened, strict=True):
        value, source = None, None
        label_key = normalise_label(field_["label"])
        if field_["key"] in sources.given:
            value, source = fit(field_, sources.given[field_["key"]]), "user"
        if value is None:
            raw, source = _profile_answer(field_, sources)
            value = raw if field_["kind"] == "file" else fit(field_, raw)
            if value is None and source == "decline_to_answer":
                source = None
        if value is None and screened_answer["answer"] is not None and field_["kind"] != "file":
            value = fit(field_, screened_answer["answer"])
            source = screened_answer["source"]
        if value is None and label_key in sources.saved and field_["kind"] != "file":
            value, source = fit(field_, sources.saved[label_key]), "saved_answer"
        if value is None and label_key in sources.prepared and field_["kind"] != "file":
            value, source = fit(field_, sources.prepared[label_key]), "package.answers"
        if value is None:
            source = None
        resolved.append({**field_, "value": value, "source": source})
    return resolved
