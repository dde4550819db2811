"""Applications: start one (queues `job_application`), track it, submit it.

States and who moves them:

| from | the service (jobs, submit) | the user (`PATCH`) |
|---|---|---|
| saved | preparing, needs_details | withdrawn |
| needs_details | saved (the details given: prepared again) | withdrawn |
| preparing | ready_for_review, submitted (auto), failed | withdrawn |
| ready_for_review | submitted_unconfirmed (a send begins), submitted, failed, preparing (prepared again) | withdrawn |
| submitted_unconfirmed | submitted, failed, ready_for_review (nothing went out) | submitted (it arrived), ready_for_review (it did not: send it again), responded, interview, offer, rejected, withdrawn |
| submitted | | responded, interview, offer, rejected, withdrawn |
| responded | | interview, offer, rejected, withdrawn |
| interview | | offer, rejected, withdrawn |
| offer | | rejected, withdrawn |
| failed | preparing, needs_details | withdrawn |
| rejected, withdrawn | | |

An application to a job URL is prepared only once its title and company are known (given,
or read from the job's page): until then it waits in `needs_details`, saying what is missing,
and `PATCH` (or applying again) with them queues its preparation.

A submission through a channel that sends (Recruitee, email) needs the account's address
verified, spends one `job_applications_per_user_per_day` and counts against the per-company
cap (`APPLICATION_COMPANY_CAP` applications sent or maybe sent to one company, whatever its
case, in `APPLICATION_COMPANY_WINDOW_DAYS`); a mail to an address the user typed also counts
against the same cap for the address's domain (and for the domain alone when no company is
known). Marking one as sent elsewhere (`manual`) spends nothing.

Sending is at most once per application and channel (`send_key`), whatever job makes it: the
state becomes `submitted_unconfirmed` before the send begins, and stays so when its outcome is
unknown (a worker that died while sending, a server that never answered), until the user
says whether it arrived.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from server import rate_limiter, storage
from server.agent.browser import runtime as browser_runtime
from server.agent.browser.answers import normalise_label
from server.core.config import get_settings
from server.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    StorageUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from server.core.extensions import db
from server.core.pagination import paginate
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority
from server.models import (
    Application,
    ApplicationScreenshot,
    ApplicationState,
    ApplicationSubmission,
    Job,
    Posting,
    SavedAnswer,
    SideEffect,
    SideEffectState,
    SubmissionChannel,
    User,
    utcnow,
)
from server.models.job import TERMINAL_STATUSES, new_job_id
from server.security_manager.sanitising import sanitise_text, strip_control_characters
from server.services import jobs, resumes
from server.services.ownership import get_owned

log = logging.getLogger("server.applications")

S = ApplicationState
DAILY_LIMIT = "job_applications_per_user_per_day"
SUBMISSION_JOB = "application_submission"
# The advisory-lock key space of the per-user send checks (pg_advisory_xact_lock(space, user)).
COMPANY_CAP_LOCK_SPACE = 0x4A414153
SENDING_CHANNELS = (
    SubmissionChannel.RECRUITEE.value,
    SubmissionChannel.EMAIL.value,
    SubmissionChannel.BROWSER.value,
)

# The browser channel's outcomes: `needs_review` (required questions unanswered),
# `needs_human` (the page needs a person), `submitted_unconfirmed` (a run that clicked Submit
# died before it saw the outcome).
_BROWSER_OUTCOMES = frozenset({S.NEEDS_REVIEW, S.NEEDS_HUMAN, S.SUBMITTED_UNCONFIRMED})
SYSTEM_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SAVED: frozenset({S.PREPARING, S.NEEDS_DETAILS}),
    S.NEEDS_DETAILS: frozenset({S.SAVED}),
    S.PREPARING: frozenset({S.READY_FOR_REVIEW, S.SUBMITTED, S.FAILED}) | _BROWSER_OUTCOMES,
    S.READY_FOR_REVIEW: frozenset({S.SUBMITTED, S.FAILED, S.PREPARING}) | _BROWSER_OUTCOMES,
    S.NEEDS_REVIEW: frozenset({S.READY_FOR_REVIEW}),
    S.SUBMITTED_UNCONFIRMED: frozenset({S.SUBMITTED, S.FAILED, S.READY_FOR_REVIEW}),
    S.FAILED: frozenset({S.PREPARING, S.NEEDS_DETAILS}),
}
# Moves from `submitted_unconfirmed` that say the application arrived (a reply proves it).
ARRIVED = frozenset({S.SUBMITTED, S.RESPONDED, S.INTERVIEW, S.OFFER, S.REJECTED})
USER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SAVED: frozenset({S.WITHDRAWN}),
    S.NEEDS_DETAILS: frozenset({S.WITHDRAWN}),
    S.PREPARING: frozenset({S.WITHDRAWN}),
    S.READY_FOR_REVIEW: frozenset({S.WITHDRAWN}),
    S.NEEDS_REVIEW: frozenset({S.WITHDRAWN}),
    # Applied by hand with the prepared answers and files: `submitted`.
    S.NEEDS_HUMAN: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    # `ready_for_review`: it never arrived, and may be sent again.
    S.SUBMITTED_UNCONFIRMED: ARRIVED | {S.READY_FOR_REVIEW, S.WITHDRAWN},
    S.SUBMITTED: frozenset({S.RESPONDED, S.INTERVIEW, S.OFFER, S.REJECTED, S.WITHDRAWN}),
    S.RESPONDED: frozenset({S.INTERVIEW, S.OFFER, S.REJECTED, S.WITHDRAWN}),
    S.INTERVIEW: frozenset({S.OFFER, S.REJECTED, S.WITHDRAWN}),
    S.OFFER: frozenset({S.REJECTED, S.WITHDRAWN}),
    S.FAILED: frozenset({S.WITHDRAWN}),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}


def send_key(application_id: int, channel: str) -> str:
    """The `job.once` key of sending an application through a channel: one send per
    application and channel, whatever job makes it (only the user saying that it never
    arrived frees it)."""
    return f"application:{application_id}:{channel}"


# What a job URL application needs before a letter can be written (the description is
# welcome, not required).
REQUIRED_DETAILS = ("title", "company")


def clean_details(payload: dict[str, Any]) -> dict[str, str]:
    """The title, company and description a user gave: one line each for title and company,
    no control characters anywhere."""
    cleaned = {}
    for name in ("title", "company"):
        if payload.get(name):
            value = " ".join(strip_control_characters(" ".join(payload[name].split())).split())
            if value:
                cleaned[name] = value
    if payload.get("job_description"):
        lines = (strip_control_characters(line) for line in payload["job_description"].splitlines())
        text = "\n".join(lines).strip()
        if text:
            cleaned["job_description"] = text
    return cleaned


def missing_details(application: Application) -> list[str]:
    """What a job URL application still needs before it can be prepared."""
    if application.posting_id is not None:
        return []
    return [name for name in REQUIRED_DETAILS if not getattr(application, name)]


def target_key(*, posting_id: int | None, job_url: str | None) -> str:
    """The identity of what is applied to: one application per user and target."""
    if posting_id is not None:
        return f"posting:{posting_id}"
    return "url:" + hashlib.sha256((job_url or "").strip().encode()).hexdigest()


def move(application: Application, state: str) -> None:
    """Move the application along a transition the service may make (else a bug: 409)."""
    if state not in SYSTEM_TRANSITIONS.get(application.state, frozenset()):
        raise Conflict(
            f"An application in state {application.state} cannot become {state}",
            code="invalid_transition",
            details={"state": application.state, "requested": state},
        )
    application.state = state


def _owned(user_id: int, application_id: int, *, lock: bool = False) -> Application:
    return get_owned(
        Application,
        object_id=application_id,
        user_id=user_id,
        object_type="application",
        lock=lock,
    )


def _owned_posting(user_id: int, posting_id: int) -> Posting:
    return get_owned(Posting, object_id=posting_id, user_id=user_id, object_type="posting")


def start(*, user: User, payload: dict[str, Any]) -> dict[str, Any]:
    """Record the application and queue its `job_application` job (one transaction).

    404 for a posting or resume that is not the user's; 409 when the user already has an
    application for that posting (or job URL), unless it failed: then it is prepared again.
    """
    posting = None
    if payload.get("posting_id") is not None:
        posting = _owned_posting(user.id, payload["posting_id"])
    resumes.get(user_id=user.id, resume_id=uuid.UUID(payload["resume_id"]))
    key = target_key(posting_id=payload.get("posting_id"), job_url=payload.get("job_url"))
    existing = db.session.scalar(
        select(Application).where(Application.user_id == user.id, Application.target_key == key)
    )
    if existing is not None and existing.state not in (S.FAILED, S.NEEDS_DETAILS):
        raise _duplicate(existing.id)
    if existing is not None:  # prepared again by a new job, with any details now given
        return _prepare_again(user, existing, payload)
    details = clean_details(payload)
    application = Application(
        user_id=user.id,
        posting_id=posting.id if posting else None,
        job_url=payload.get("job_url"),
        target_key=key,
        resume_id=uuid.UUID(payload["resume_id"]),
        company=posting.company if posting else details.get("company"),
        title=posting.title if posting else details.get("title"),
        job_description=None if posting else details.get("job_description"),
        mode=payload.get("mode", "review"),
        state=S.SAVED.value,
        package={},
    )
    db.session.add(application)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate(None) from None
    application_id = application.id
    # The submit commits the application and the job together.
    submitted = jobs.submit(user=user, job_type="job_application", payload=payload)
    application = db.session.get(Application, application_id)
    application.job_id = submitted["job_id"]
    db.session.commit()
    return {**submitted, "application_id": application_id}


def _prepare_again(user: User, application: Application, payload: dict[str, Any]) -> dict:
    application.resume_id = uuid.UUID(payload["resume_id"])
    application.mode = payload.get("mode", "review")
    for name, value in clean_details(payload).items():
        setattr(application, name, value)
    if application.state == S.NEEDS_DETAILS:
        move(application, S.SAVED.value)
    application_id = application.id
    submitted = jobs.submit(user=user, job_type="job_application", payload=payload)
    application = db.session.get(Application, application_id)
    application.job_id = submitted["job_id"]
    db.session.commit()
    return {**submitted, "application_id": application_id}


def _duplicate(application_id: int | None) -> Conflict:
    return Conflict(
        "You already have an application for this posting",
        code="application_exists",
        details={"application_id": application_id} if application_id else {},
    )


def describe(application: Application, *, full: bool = False) -> dict[str, Any]:
    """The client view of an application."""
    view: dict[str, Any] = {
        "id": application.id,
        "posting_id": application.posting_id,
        "job_url": application.job_url,
        "resume_id": application.resume_id,
        "company": application.company,
        "title": application.title,
        "mode": application.mode,
        "state": application.state,
        "next_states": sorted(USER_TRANSITIONS.get(application.state, ())),
        "channel": application.channel,
        "apply_email": application.apply_email,
        "job_id": application.job_id,
        "submission_job_id": application.submission_job_id,
        "error": application.error,
        "notes": application.notes,
        "missing_details": (
            missing_details(application) if application.state == S.NEEDS_DETAILS else []
        ),
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "submitted_at": application.submitted_at,
    }
    if full:
        view["job_description"] = application.job_description
        view["package"] = application.package or {}
        view["history"] = [
            {"state": c["state"], "from_": c["from"], "at": datetime.fromisoformat(c["at"])}
            for c in application.state_history or []
        ]
        view["submissions"] = [
            {
                "channel": s.channel,
                "outcome": s.outcome,
                "detail": s.detail,
                "job_id": s.job_id,
                "created_at": s.created_at,
            }
            for s in db.session.scalars(
                select(ApplicationSubmission)
                .where(ApplicationSubmission.application_id == application.id)
                .order_by(ApplicationSubmission.id)
            )
        ]
    return view


def get(*, user_id: int, application_id: int) -> dict[str, Any]:
    """One of the user's applications with its package and submissions; 404 otherwise."""
    return describe(_owned(user_id, application_id), full=True)


def get_all(*, user_id: int, page: int, per_page: int, state: str | None) -> dict[str, Any]:
    """One page of the user's applications, newest first."""
    query = select(Application).where(Application.user_id == user_id)
    if state:
        query = query.where(Application.state == state)
    query = query.order_by(Application.created_at.desc(), Application.id.desc())
    page_of = paginate(query, page=page, per_page=per_page)
    return {"items": [describe(a) for a in page_of["items"]], "meta": page_of["meta"]}


def _merge_answers(application: Application, given: dict[str, Any]) -> None:
    """Put the user's answers into the package; 422 for a question the posting does not ask."""
    package = dict(application.package or {})
    answers = [dict(a) for a in package.get("answers") or []]
    by_id = {a["question_id"]: a for a in answers}
    unknown = sorted(set(given) - set(by_id))
    if unknown:
        raise ValidationFailed(
            "answers: no such question: " + ", ".join(unknown),
            details={"json": {"answers": {qid: ["no such question"] for qid in unknown}}},
        )
    fields = {f["key"]: f for f in (package.get("browser") or {}).get("fields") or []}
    for question_id, value in given.items():
        entry = by_id[question_id]
        entry["answer"] = sanitise_text(value) if isinstance(value, str) else value
        entry["source"] = "user" if value is not None else None
        if question_id.startswith("form:") and question_id[5:] in fields:
            fields[question_id[5:]].update(value=entry["answer"], source=entry["source"])
        if value is not None:
            _save_answer(application.user_id, entry["label"], entry["answer"])
    package["answers"] = answers
    package["unanswered_required"] = [
        a["label"] for a in answers if a["required"] and a["answer"] is None
    ]
    application.package = package
    if application.state == S.NEEDS_REVIEW and not package["unanswered_required"]:
        move(application, S.READY_FOR_REVIEW.value)
        application.error = None


def _save_answer(user_id: int, label: str, answer: Any) -> None:
    """Keep the user's answer for the next form that asks the same question."""
    key = normalise_label(label)
    if not key:
        return
    saved = db.session.scalar(
        select(SavedAnswer).where(SavedAnswer.user_id == user_id, SavedAnswer.label_key == key)
    )
    if saved is None:
        db.session.add(SavedAnswer(user_id=user_id, label_key=key, label=label, answer=answer))
    else:
        saved.label, saved.answer = label, answer


def _set_details(application: Application, changes: dict[str, Any]) -> None:
    """Give a job URL application the title, company or description its page did not."""
    given = {
        name: changes[name] for name in ("title", "company", "job_description") if name in changes
    }
    if not given:
        return
    if application.posting_id is not None:
        raise ValidationFailed(
            "title, company and job_description are given for a job URL; a posting has its own",
            details={"json": {name: ["only for a job URL application"] for name in given}},
        )
    if application.state not in (S.NEEDS_DETAILS, S.FAILED):
        raise Conflict(
            "The job's details can change only while the application waits for them or has "
            f"failed (it is {application.state})",
            code="invalid_transition",
            details={"state": application.state},
        )
    cleaned = clean_details(given)
    blank = sorted(set(given) - set(cleaned))
    if blank:
        raise ValidationFailed(
            f"{', '.join(blank)}: must not be blank",
            details={"json": {name: ["must not be blank"] for name in blank}},
        )
    for name, value in cleaned.items():
        setattr(application, name, value)


def _prepare_with_details(application: Application, user_id: int) -> None:
    """Queue the preparation of an application whose missing details were just given (the
    job's submit commits it with the details)."""
    if application.resume_id is None:
        raise Conflict(
            "The resume of this application was deleted; apply again with another resume",
            code="invalid_transition",
            details={"state": application.state},
        )
    move(application, S.SAVED.value)
    application.error = None
    application_id = application.id
    payload = {
        "job_url": application.job_url,
        "resume_id": str(application.resume_id),
        "mode": application.mode,
    }
    user = db.session.get(User, user_id)
    submitted = jobs.submit(user=user, job_type="job_application", payload=payload)
    application = db.session.get(Application, application_id)
    application.job_id = submitted["job_id"]


def update(*, user_id: int, application_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Track the application (`state`), keep notes, answer questions, set the apply address,
    give a job URL's missing details (then it is prepared).

    A state the user may not move it to is a 409 naming the allowed ones. The row is locked:
    changes at the same moment apply one after the other (none overwrites another's answers).
    """
    application = _owned(user_id, application_id, lock=True)
    _set_details(application, changes)
    state = changes.get("state")
    previous = application.state
    if state is not None and state != application.state:
        allowed = USER_TRANSITIONS.get(application.state, frozenset())
        if application.state == S.SUBMITTED_UNCONFIRMED and state in allowed:
            _refuse_while_sending(application)
        if state not in allowed:
            raise Conflict(
                f"An application in state {application.state} cannot be moved to {state}"
                + (f"; allowed: {', '.join(sorted(allowed))}" if allowed else "")
                + (
                    "; send it with POST /api/applications/{id}/submit"
                    if state == S.SUBMITTED
                    else ""
                ),
                code="invalid_transition",
                details={"state": application.state, "allowed": sorted(allowed)},
            )
    editing_package = "answers" in changes or "apply_email" in changes
    if editing_package and application.state not in (S.READY_FOR_REVIEW, S.NEEDS_REVIEW):
        raise Conflict(
            "Answers and the apply address can change only while the application waits for "
            f"review (it is {application.state})",
            code="invalid_transition",
            details={"state": application.state},
        )
    if "answers" in changes:
        _merge_answers(application, changes["answers"])
    if "apply_email" in changes:
        application.apply_email = changes["apply_email"]
    if "notes" in changes:
        application.notes = sanitise_text(changes["notes"]) if changes["notes"] else None
    if state is not None and state != previous:
        application.state = state
        if previous == S.SUBMITTED_UNCONFIRMED:
            _settle_unconfirmed_send(
                application, arrived=state in ARRIVED, reopen=state == S.READY_FOR_REVIEW
            )
    if application.state == S.NEEDS_DETAILS and not missing_details(application):
        _prepare_with_details(application, user_id)
        application = _owned(user_id, application_id)
    db.session.commit()
    return describe(application, full=True)


def _settle_unconfirmed_send(application: Application, *, arrived: bool, reopen: bool) -> None:
    """Record what the user says of a send whose outcome was unknown (the caller commits).

    It arrived: its send-once key is `done` and the application counts as sent from when the
    send began. It did not (back to `ready_for_review`): the key is forgotten, so the next
    submit sends it again.
    """
    key = send_key(application.id, application.channel or "")
    effect = db.session.scalar(select(SideEffect).where(SideEffect.key == key))
    application.error = None  # what the send left unknown is known now
    if arrived:
        application.submitted_at = effect.created_at if effect is not None else utcnow()
        if effect is not None and effect.state != SideEffectState.DONE:
            effect.state = SideEffectState.DONE.value
            effect.finished_at = utcnow()
    elif reopen and effect is not None:
        db.session.delete(effect)


def _refuse_while_sending(application: Application) -> None:
    """409 while a job is still sending the application: its outcome is not known yet."""
    sending = _sending_job(application)
    if sending:
        db.session.rollback()
        raise Conflict(
            "This application is being sent; wait for the outcome",
            code="submission_in_progress",
            details={"job_id": sending},
        )


def require_verified_sender(user_id: int) -> None:
    """403 `email_unverified` unless the account's address is verified: whatever the service
    sends for a user carries that address (the candidate's email, the mail's Reply-To)."""
    verified = db.session.scalar(select(User.email_verified_at).where(User.id == user_id))
    if verified is None:
        raise Forbidden(
            "Verify your email address before anything is sent on your behalf "
            "(POST /api/auth/verify-email/request)",
            code="email_unverified",
        )


def recipient_typed(application: Application, address: str | None) -> bool:
    """Whether a mail goes to an address the user gave, not the one the posting gives."""
    found = (application.package or {}).get("apply_email") or ""
    return bool(address) and address.strip().lower() != found.strip().lower()


def _sent_since(
    user_id: int,
    since,
    *,
    company: str | None = None,
    domain: str | None = None,
    besides: int | None = None,
):
    # Applications, not attempts: one sent after the user said an unconfirmed send never
    # arrived counts once; one that may have been sent counts.
    query = select(ApplicationSubmission.application_id).where(
        ApplicationSubmission.user_id == user_id,
        ApplicationSubmission.outcome.in_(("sent", "unknown")),
        ApplicationSubmission.created_at >= since,
    )
    if company is not None:
        query = query.where(func.lower(ApplicationSubmission.company) == company.lower())
    else:
        to = func.lower(ApplicationSubmission.detail["to"].as_string())
        query = query.where(
            ApplicationSubmission.channel == SubmissionChannel.EMAIL.value,
            to.endswith(f"@{domain}", autoescape=True),
        )
    sent = set(db.session.scalars(query))
    return len(sent | (_sending(user_id, company=company, domain=domain) - {besides}))


def _sending(user_id: int, *, company: str | None, domain: str | None) -> set[int]:
    """The user's applications on their way (a submission job not finished, or an auto-mode
    job that decided to send and has not finished) to `company`, or by mail to `domain`: they
    count against the cap before their send is recorded, or a burst of submits would pass it."""
    on_their_way = select(Application.id).join(
        Job,
        (Job.user_id == Application.user_id)
        & Job.status.not_in(TERMINAL_STATUSES)
        & (
            (
                (Job.job_type == SUBMISSION_JOB)
                & (Job.payload["application_id"].as_integer() == Application.id)
            )
            | (
                (Job.id == Application.job_id)
                & (Application.mode == "auto")
                & (Application.package["auto_submit"]["send"].as_boolean().is_(True))
            )
        ),
    )
    on_their_way = on_their_way.where(Application.user_id == user_id)
    if company is not None:
        on_their_way = on_their_way.where(func.lower(Application.company) == company.lower())
    else:
        on_their_way = on_their_way.where(
            func.lower(Application.apply_email).endswith(f"@{domain}", autoescape=True)
        )
    return set(db.session.scalars(on_their_way))


def _serialise_sends(user_id: int) -> None:
    """One check of a user's caps at a time, until the caller's transaction ends (the send it
    admits is then visible to the next check)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :user_id)"),
            {"space": COMPANY_CAP_LOCK_SPACE, "user_id": user_id},
        )


def spend_submission_allowance(
    application: Application, *, job_id: str, recipient: str | None = None, typed: bool = False
) -> None:
    """Check the per-company cap (for a mail to an address the user typed, or with no company
    known, the recipient domain's too), then spend one daily application under the id of the
    job that sends it (given back if that job fails for a reason not the user's); 429 when
    either is used up (nothing is spent then)."""
    settings = get_settings()
    cap, days = settings.application_company_cap, settings.application_company_window_days
    since = utcnow() - timedelta(days=days)
    subjects: list[tuple[str | None, str | None]] = []
    if application.company:
        subjects.append((application.company, None))
    if recipient and "@" in recipient and (typed or not application.company):
        subjects.append((None, recipient.rsplit("@", 1)[1].strip().lower()))
    _serialise_sends(application.user_id)
    for company, domain in subjects:
        counted = _sent_since(
            application.user_id, since, company=company, domain=domain, besides=application.id
        )
        if counted >= cap:
            raise TooManyRequests(
                f"At most {cap} applications to {company or f'addresses at {domain}'} "
                f"in {days} days",
                code="company_cap_reached",
                details={
                    "company": company,
                    "recipient_domain": domain,
                    "limit_value": cap,
                    "window_days": days,
                },
            )
    limiter = rate_limiter.get_rate_limiter()
    if not limiter.enabled:
        return
    decision = limiter.hit((DAILY_LIMIT,), str(application.user_id), holder=job_id)
    if not decision.allowed:
        raise rate_limiter.refusal(decision, anonymous=False)


def choose_channel(
    application: Application, *, channel: str | None, email: str | None
) -> tuple[str, str | None]:
    """The channel to send through (given, or the one the package found) and its address."""
    package = application.package or {}
    channel = channel or package.get("channel") or SubmissionChannel.MANUAL.value
    address = email or application.apply_email or package.get("apply_email")
    if channel == SubmissionChannel.EMAIL and not address:
        raise ValidationFailed(
            "email: the posting gives no address to apply to; give one",
            details={"json": {"email": ["required for the email channel"]}},
        )
    if channel == SubmissionChannel.EMAIL and not package.get("tailored_resume"):
        # A mail carries only what the service made: never an upload as it was given.
        raise ValidationFailed(
            "channel: a mail carries the resume tailored to this posting, and there is none "
            "(no description to tailor to, or no parsed resume); apply on the job's page "
            "and mark it `manual`",
            details={"json": {"channel": ["no tailored resume to send by email"]}},
        )
    if channel == SubmissionChannel.BROWSER:
        browser = package.get("browser") or {}
        if not browser.get("fields"):
            raise ValidationFailed(
                "channel: "
                + (
                    browser.get("reason")
                    or "this posting has no application form the browser channel can fill"
                ),
                details={"json": {"channel": ["no form filled in the browser to submit"]}},
            )
        missing = browser_runtime.unavailable_reason(get_settings())
        if missing:
            raise ServiceUnavailable(
                f"browser channel unavailable: {missing}", code="browser_unavailable"
            )
    if channel == SubmissionChannel.RECRUITEE and not package.get("recruitee_url"):
        raise ValidationFailed(
            "channel: this posting cannot be applied to through Recruitee",
            details={"json": {"channel": ["not a Recruitee posting"]}},
        )
    return channel, address


def record_submission(
    application: Application, *, channel: str, outcome: str, detail: dict, job_id: str | None
) -> None:
    """Keep one submission attempt (the caller commits)."""
    db.session.add(
        ApplicationSubmission(
            application_id=application.id,
            user_id=application.user_id,
            company=application.company,
            channel=channel,
            outcome=outcome,
            detail=detail,
            job_id=job_id,
        )
    )


def submit(
    *,
    user_id: int,
    application_id: int,
    channel: str | None,
    email: str | None,
    answers: dict[str, Any] | None,
) -> dict[str, Any]:
    """Send an application that waits for review (queued; 202), or mark it sent elsewhere.

    409 unless it is `ready_for_review` with no sending under way; 422 when a required
    question has no answer or the channel cannot be used; 429 at the daily or company cap.

    The row is locked until the submission job is committed (that commit releases it), so of
    two submits at once the second sees the first one's job and is a 409: one send, one spend.
    """
    application = _owned(user_id, application_id, lock=True)
    if application.state == S.SUBMITTED_UNCONFIRMED:
        _refuse_while_sending(application)
        raise Conflict(
            "This application may have been sent already (state submitted_unconfirmed): say "
            "whether it arrived with PATCH state submitted, or ready_for_review to send it again",
            code="invalid_transition",
            details={"state": application.state},
        )
    if application.state != S.READY_FOR_REVIEW:
        raise Conflict(
            f"Only an application ready for review can be submitted (it is {application.state})",
            code="invalid_transition",
            details={"state": application.state},
        )
    if not (application.package or {}).get("cover_letter"):  # nothing was ever prepared
        raise Conflict(
            "This application has no prepared package to send or to mark as sent",
            code="invalid_transition",
            details={"state": application.state},
        )
    sending = _sending_job(application)
    if sending:
        db.session.rollback()
        raise Conflict(
            "This application is being sent already",
            code="submission_in_progress",
            details={"job_id": sending},
        )
    if answers:
        _merge_answers(application, answers)
    missing = (application.package or {}).get("unanswered_required") or []
    chosen, address = choose_channel(application, channel=channel, email=email)
    if chosen == SubmissionChannel.MANUAL:
        application.channel = chosen
        application.state = S.SUBMITTED.value
        application.submitted_at = utcnow()
        record_submission(application, channel=chosen, outcome="marked", detail={}, job_id=None)
        db.session.commit()
        return describe(application, full=True)
    if missing:
        db.session.rollback()
        raise ValidationFailed(
            "answers: required questions have no answer: " + "; ".join(missing),
            code="answers_missing",
            details={"unanswered_required": missing},
        )
    require_verified_sender(user_id)
    mailed = address if chosen == SubmissionChannel.EMAIL else None
    job_id = new_job_id()
    spend_submission_allowance(
        application, job_id=job_id, recipient=mailed, typed=recipient_typed(application, mailed)
    )
    application.channel = chosen
    application.apply_email = address
    application_id = application.id
    try:
        submitted = job_queue.submit(
            user_id=user_id,
            job_type=SUBMISSION_JOB,
            payload={"application_id": application_id},
            priority=JobPriority.NORMAL,
            job_id=job_id,
        )
    except Exception:  # not recorded (or its commit's fate unknown): the user is not charged
        rate_limiter.give_back(holder=job_id, subject=str(user_id))
        raise
    application = db.session.get(Application, application_id)
    application.submission_job_id = submitted.job_id
    db.session.commit()
    return describe(application, full=True)


def _sending_job(application: Application) -> str | None:
    """The id of a job that sends (or is about to send) the application, if any: an open
    submission job, or its own `auto` job that decided to send it (in `review` mode the
    preparing job never sends, so one not yet recorded as finished is no obstacle)."""
    submission = _open_submission_job(application)
    if submission:
        return submission
    decision = (application.package or {}).get("auto_submit") or {}
    if application.mode == "auto" and decision.get("send") and application.job_id:
        return application.job_id if _job_open(application.job_id) else None
    return None


def _job_open(job_id: str) -> bool:
    status = db.session.scalar(select(Job.status).where(Job.id == job_id))
    return status is not None and status not in TERMINAL_STATUSES


def _open_submission_job(application: Application) -> str | None:
    """The id of a submission job for the application that has not finished, if any (also
    one committed by a concurrent submit that has not yet noted it on the application)."""
    return db.session.scalar(
        select(Job.id)
        .where(
            Job.user_id == application.user_id,
            Job.job_type == SUBMISSION_JOB,
            Job.status.not_in(TERMINAL_STATUSES),
            Job.payload["application_id"].as_integer() == application.id,
        )
        .limit(1)
    )


def applied_posting_ids(*, user_id: int) -> set[int]:
    """Postings the user has an application for (in any state but withdrawn)."""
    return set(
        db.session.scalars(
            select(Application.posting_id).where(
                Application.user_id == user_id,
                Application.posting_id.is_not(None),
                Application.state != S.WITHDRAWN,
            )
        )
    )


def screenshot(*, user_id: int, application_id: int, number: int) -> bytes:
    """One screenshot the browser channel took of the user's application (PNG); 404 for
    anyone else's application or a number it does not have."""
    _owned(user_id, application_id)
    row = db.session.scalar(
        select(ApplicationScreenshot).where(
            ApplicationScreenshot.application_id == application_id,
            ApplicationScreenshot.number == number,
        )
    )
    if row is None:
        raise NotFound(resource="screenshot")
    if row.png is not None:
        return row.png
    try:
        return storage.store_for(row.storage).get(row.storage_key)
    except storage.MissingObject:
        raise NotFound(resource="screenshot") from None


def new_screenshot(
    *, application: Application, number: int, kind: str, png: bytes
) -> ApplicationScreenshot:
    """A screenshot of the application, its image in the file store; kept in the row instead
    while the store cannot be reached (the browser's work is not thrown away for it)."""
    row = ApplicationScreenshot(application_id=application.id, number=number, kind=kind)
    store = storage.get_store()
    name = f"{storage.user_prefix(application.user_id)}screenshots/{application.id}/"
    name += f"{uuid.uuid4().hex}.png"
    try:
        store.put(name, png)
    except StorageUnavailable:
        row.png = png
    else:
        row.storage, row.storage_key = store.name, name
    return row


def forget_screenshots(rows: list[tuple[str | None, str | None]]) -> None:
    """Delete the stored images of screenshot rows deleted (best effort: an image left
    behind is only space, and goes with its account)."""
    for where, name in rows:
        if where and name:
            try:
                storage.store_for(where).delete(name)
            except StorageUnavailable:
                log.warning("screenshot image left in the store", extra={"name": name})
