"""Submission channels: the Recruitee candidates API (keyless) and email.

Recruitee: `POST {careers site}/api/offers/{offer_slug}/candidates`, multipart, with
`candidate[name]`, `candidate[email]`, `candidate[phone]`, `candidate[cover_letter]`, the CV
file as `candidate[cv]` and one `candidate[open_question_answers_attributes][i]` group per
answered screening question (`open_question_id` and `content`, `flag` for a yes/no question
or `multi_content[]` for a multiple choice); 201 on success, 422 with the errors otherwise.
The careers site comes from `RECRUITEE_BASE_URL` (`https://{company}.recruitee.com`): a
posting's apply URL must lie on it, so board data can never send a candidate elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.core.mailer import Attachment
from server.security_manager.outbound import (
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    OutboundUnavailable,
)

_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})(?![\w-])")
_OFFER_PATH = re.compile(r"^/o/(?P<slug>[A-Za-z0-9][A-Za-z0-9_-]{0,200})(?:/|$)")
MAX_ANSWER_BYTES = 1024 * 1024


class SubmissionRefused(Exception):  # noqa: N818 - reads as an outcome
    """The channel refused the application (trying again will not help)."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.detail = detail or {}


class SubmissionUnavailable(Exception):  # noqa: N818
    """The channel could not be reached or failed on its side: worth trying again."""


class SubmissionUncertain(Exception):  # noqa: N818
    """The application went out whole but no answer came: the channel may have it, so it is
    not sent again by itself."""


@dataclass(frozen=True)
class Candidate:
    name: str
    email: str
    phone: str | None
    cover_letter: str
    cv: Attachment
    answers: list[dict[str, Any]]  # [{question_id, type, answer}] with known answers


def resume_as_sent(candidate: Candidate) -> Attachment:
    """The candidate's resume under the name a recruiter expects, `<First>-<Last>-Resume.pdf`
    (from the applicant's name; the extension of the file sent)."""
    words = re.findall(r"[^\W_]+", candidate.name)[:4]  # letters and digits of any script
    stem, dot, extension = candidate.cv.filename.rpartition(".")
    suffix = f".{extension.lower()}" if dot and stem and extension.isalnum() else ""
    return candidate.cv._replace(filename="-".join([*words, "Resume"]) + suffix)


def recruitee_candidates_url(base_template: str, apply_url: str | None) -> str | None:
    """The candidates endpoint for a posting whose apply URL is on the configured careers
    site (`…/o/<offer slug>…`), or None."""
    if not apply_url:
        return None
    prefix, marker, suffix = base_template.rstrip("/").partition("{company}")
    pattern = re.escape(prefix)
    if marker:
        pattern += r"(?P<company>[A-Za-z0-9][A-Za-z0-9-]{0,62})" + re.escape(suffix)
    match = re.match(pattern + r"(?P<path>/.*)$", apply_url)
    if not match:
        return None
    offer = _OFFER_PATH.match(match["path"])
    if not offer:
        return None
    site = prefix + (match["company"] if marker else "") + suffix
    return f"{site}/api/offers/{offer['slug']}/candidates"


def _recruitee_form(candidate: Candidate) -> list[tuple[str, str]]:
    fields = [
        ("candidate[name]", candidate.name),
        ("candidate[email]", candidate.email),
        ("candidate[cover_letter]", candidate.cover_letter),
    ]
    if candidate.phone:
        fields.append(("candidate[phone]", candidate.phone))
    group = "candidate[open_question_answers_attributes]"
    for index, answer in enumerate(a for a in candidate.answers if a["type"] != "file"):
        fields.append((f"{group}[{index}][open_question_id]", str(answer["question_id"])))
        value = answer["answer"]
        if answer["type"] == "boolean":
            fields.append((f"{group}[{index}][flag]", "true" if value else "false"))
        elif isinstance(value, list):
            fields += [(f"{group}[{index}][multi_content][]", str(item)) for item in value]
        else:
            fields.append((f"{group}[{index}][content]", str(value)))
    return fields


def send_to_recruitee(
    *,
    url: str,
    candidate: Candidate,
    timeout_seconds: float,
    user_agent: str,
    policy: OutboundPolicy,
) -> dict[str, Any]:
    """POST the candidate; the board's answer (status, candidate id) on success."""
    resume = resume_as_sent(candidate)
    cv = ("candidate[cv]", (resume.filename, resume.data, resume.content_type))
    client = OutboundClient(
        policy=policy,
        user_agent=user_agent,
        timeout_seconds=timeout_seconds,
        max_bytes=MAX_ANSWER_BYTES,
        headers={"Accept": "application/json"},
        connections_per_host=1,
    )
    try:
        with client:
            response = client.post(url, fields=[*_recruitee_form(candidate), cv])
    except OutboundRefused as refused:
        raise SubmissionRefused(f"Recruitee cannot be reached from here: {refused}") from None
    except OutboundError as error:
        if error.request_sent:
            # Recruitee may have created the candidate before its answer was lost (an answer
            # that comes too late is still an application).
            raise SubmissionUncertain(
                f"Recruitee did not answer the application it was sent: {error}"
            ) from error
        if isinstance(error, OutboundUnavailable):
            raise SubmissionUnavailable(f"Recruitee could not be reached: {error}") from error
        raise SubmissionUnavailable(f"Recruitee answered oddly: {error}") from error
    status = response.status
    detail: dict[str, Any] = {"http_status": status, "url": url}
    try:
        body = response.json()
    except ValueError:
        body = None
    if status in (200, 201):
        created = body.get("candidate") if isinstance(body, dict) else None
        if isinstance(created, dict) and created.get("id") is not None:
            detail["candidate_id"] = created["id"]
        return detail
    if status == 429 or status >= 500:
        raise SubmissionUnavailable(f"Recruitee answered HTTP {status}")
    if isinstance(body, dict):
        detail["errors"] = body.get("errors") or body.get("error") or body
    raise SubmissionRefused(f"Recruitee refused the application (HTTP {status})", detail)


def apply_email_in(*texts: str | None) -> str | None:
    """The first email address a posting gives (a `mailto:` apply link, or its text)."""
    for text in texts:
        if not text:
            continue
        if text.lower().startswith("mailto:"):
            text = text[7:].split("?", 1)[0]
        match = _EMAIL.search(text)
        if match:
            return match[1]
    return None


def application_mail(
    *, candidate: Candidate, title: str | None, company: str | None, user_answers: bool
) -> dict[str, Any]:
    """Subject, body, reply-to and attachments of an application sent by email.

    It carries only what the service made: the cover letter, the answers it found, and the
    resume it tailored (the caller's `cv`); the user's own answers only with `user_answers`
    (the mail goes to the address the posting gives, which asked the questions).
    """
    role = title or "the advertised position"
    body = candidate.cover_letter.rstrip() + "\n"
    answered = [
        a
        for a in candidate.answers
        if a["type"] != "file" and (user_answers or a.get("source") != "user")
    ]
    if answered:
        body += "\nAnswers to your questions:\n"
        for answer in answered:
            value = answer["answer"]
            if isinstance(value, list):
                value = ", ".join(map(str, value))
            elif isinstance(value, bool):
                value = "Yes" if value else "No"
            body += f"- {answer['label']}: {value}\n"
    contact = [candidate.name, candidate.email] + ([candidate.phone] if candidate.phone else [])
    body += "\n" + "\n".join(contact) + "\n"
    letter = Attachment("cover-letter.txt", candidate.cover_letter.encode(), "text/plain")
    return {
        # The title and company come from the job board: line breaks in them would make
        # the subject an invalid header (the message could not be sent at all).
        "subject": " ".join(
            (f"Application: {role}" + (f" at {company}" if company else "")).split()
        ),
        "body": body,
        "reply_to": candidate.email,
        "attachments": [resume_as_sent(candidate), letter],
    }
