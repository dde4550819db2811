"""Applications: start one (queues `job_application`), track it, submit it.

States and who moves them:

| from | the service (jobs, submit) | the user (`PATCH`) |
|---|---|---|
| saved | preparing | withdrawn |
| preparing | ready_for_review, submitted (auto), failed | withdrawn |
| ready_for_review | submitted_unconfirmed (a send begins), submitted, failed, preparing (prepared again) | withdrawn |
| submitted_unconfirmed | submitted, failed, ready_for_review (nothing went out) | submitted (it arrived), ready_for_review (it did not: send it again), responded, interview, offer, rejected, withdrawn |
| submitted | | responded, interview, offer, rejected, withdrawn |
| responded | | interview, offer, rejected, withdrawn |
| interview | | offer, rejected, withdrawn |
| offer | | rejected, withdrawn |
| failed | preparing | withdrawn |
| rejected, withdrawn | | |

A submission through a channel that sends (Recruitee, email) spends one
`job_applications_per_user_per_day` and counts against the per-company cap
(`APPLICATION_COMPANY_CAP` submissions to one company in `APPLICATION_COMPANY_WINDOW_DAYS`);
marking one as sent elsewhere (`manual`) spends neither.

Sending is at most once per application and channel (`send_key`), whatever job makes it: the
state becomes `submitted_unconfirmed` before the send begins, and stays so when its outcome is
unknown (a worker that died while sending, a server that never answered), until the user
says whether it arrived.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server import job_queue, rate_limiter
from server.config import get_settings
from server.errors import Conflict, TooManyRequests, ValidationFailed
from server.extensions import db
from server.job_queue import JobPriority
from server.models import (
    Application,
    ApplicationState,
    ApplicationSubmission,
    Job,
    Posting,
    SideEffect,
    SideEffectState,
    SubmissionChannel,
    User,
    utcnow,
)
from server.models.job import TERMINAL_STATUSES
from server.pagination import paginate
from server.security_manager.sanitising import sanitise_text
from server.services import jobs, resumes
from server.services.ownership import get_owned

S = ApplicationState
DAILY_LIMIT = "job_applications_per_user_per_day"
SUBMISSION_JOB = "application_submission"
SENDING_CHANNELS = (SubmissionChannel.RECRUITEE.value, SubmissionChannel.EMAIL.value)

SYSTEM_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SAVED: frozenset({S.PREPARING}),
    S.PREPARING: frozenset({S.READY_FOR_REVIEW, S.SUBMITTED, S.FAILED}),
    S.READY_FOR_REVIEW: frozenset({S.SUBMITTED_UNCONFIRMED, S.SUBMITTED, S.FAILED, S.PREPARING}),
    S.SUBMITTED_UNCONFIRMED: frozenset({S.SUBMITTED, S.FAILED, S.READY_FOR_REVIEW}),
    S.FAILED: frozenset({S.PREPARING}),
}
# Moves from `submitted_unconfirmed` that say the application arrived (a reply proves it).
ARRIVED = frozenset({S.SUBMITTED, S.RESPONDED, S.INTERVIEW, S.OFFER, S.REJECTED})
USER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SAVED: frozenset({S.WITHDRAWN}),
    S.PREPARING: frozenset({S.WITHDRAWN}),
    S.READY_FOR_REVIEW: frozenset({S.WITHDRAWN}),
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
    if existing is not None and existing.state != S.FAILED:
        raise _duplicate(existing.id)
    if existing is not None:  # a failed application is prepared again by a new job
        return _prepare_again(user, existing, payload)
    application = Application(
        user_id=user.id,
        posting_id=posting.id if posting else None,
        job_url=payload.get("job_url"),
        target_key=key,
        resume_id=uuid.UUID(payload["resume_id"]),
        company=posting.company if posting else None,
        title=posting.title if posting else None,
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
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "submitted_at": application.submitted_at,
    }
    if full:
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
    for question_id, value in given.items():
        entry = by_id[question_id]
        entry["answer"] = sanitise_text(value) if isinstance(value, str) else value
        entry["source"] = "user" if value is not None else None
    package["answers"] = answers
    package["unanswered_required"] = [
        a["label"] for a in answers if a["required"] and a["answer"] is None
    ]
    application.package = package


def update(*, user_id: int, application_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Track the application (`state`), keep notes, answer questions, set the apply address.

    A state the user may not move it to is a 409 naming the allowed ones. The row is locked:
    changes at the same moment apply one after the other (none overwrites another's answers).
    """
    application = _owned(user_id, application_id, lock=True)
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
    if editing_package and application.state != S.READY_FOR_REVIEW:
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


def _company_submissions(user_id: int, company: str | None, since) -> int:
    if not company:
        return 0
    # Applications, not attempts: one sent after the user said an unconfirmed send never
    # arrived counts once; one that may have been sent counts.
    return db.session.scalar(
        select(func.count(func.distinct(ApplicationSubmission.application_id))).where(
            ApplicationSubmission.user_id == user_id,
            func.lower(ApplicationSubmission.company) == company.lower(),
            ApplicationSubmission.outcome.in_(("sent", "unknown")),
            ApplicationSubmission.created_at >= since,
        )
    )


def spend_submission_allowance(application: Application) -> None:
    """Check the per-company cap, then spend one daily application; 429 when either is used
    up (nothing is spent then)."""
    settings = get_settings()
    window = timedelta(days=settings.application_company_window_days)
    sent = _company_submissions(application.user_id, application.company, utcnow() - window)
    if sent >= settings.application_company_cap:
        raise TooManyRequests(
            f"At most {settings.application_company_cap} applications to {application.company} "
            f"in {settings.application_company_window_days} days",
            code="company_cap_reached",
            details={
                "company": application.company,
                "limit_value": settings.application_company_cap,
                "window_days": settings.application_company_window_days,
            },
        )
    limiter = rate_limiter.get_rate_limiter()
    if not limiter.enabled:
        return
    decision = limiter.hit((DAILY_LIMIT,), str(application.user_id))
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
    spend_submission_allowance(application)
    application.channel = chosen
    application.apply_email = address
    application_id = application.id
    submitted = job_queue.submit(
        user_id=user_id,
        job_type=SUBMISSION_JOB,
        payload={"application_id": application_id},
        priority=JobPriority.NORMAL,
    )
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
