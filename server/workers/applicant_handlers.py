"""Job handlers of the applicant's work: `project_analysis`, `job_application` and the
internal `application_submission`.

They register their types (`server.jobs.job_types`) when imported, by the worker and `create_app`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from server.agent import cover_letters, posting_page, project_analysis, rendering, tailoring
from server.agent.browser import ats
from server.agent.cover_letters import resume_facts
from server.agent.engines import get_engine
from server.agent.screening import answer_questions, engine_answers, missing_required
from server.agent.submission import (
    Candidate,
    SubmissionRefused,
    SubmissionUnavailable,
    SubmissionUncertain,
    application_mail,
    apply_email_in,
    recruitee_candidates_url,
    send_to_recruitee,
)
from server.core import mailer
from server.core.config import get_settings
from server.core.errors import Forbidden, NotFound, TooManyRequests, UserFacingError
from server.core.extensions import db
from server.core.mailer import Attachment
from server.models import (
    Application,
    ApplicationState,
    ApplicationSubmission,
    Posting,
    Resume,
    ResumeParseStatus,
    SideEffect,
    SideEffectState,
    SubmissionChannel,
    utcnow,
)
from server.schemas.jobs import JobApplicationPayload, ProjectAnalysisPayload
from server.security_manager.outbound import OutboundClient, OutboundPolicy
from server.services import applications, profiles, projects, resumes, tailored_resumes
from server.services.ownership import get_owned
from server.workers import browser_handlers
from server.workers.job_handlers import (
    MAIL_JOB_SECONDS,
    RESUME_PARSE_WAIT_SECONDS,
    EffectUncertain,
    JobCancelled,
    JobContext,
    LeaseLost,
    QuotaWait,
    RetryableJobError,
    error_for_owner,
    register_handler,
)

log = logging.getLogger("server.workers.applicant_handlers")


class PostingUnavailable(UserFacingError):  # noqa: N818 - reads as an outcome
    """The posting a job names is gone (deleted) or not the user's: the job cannot run."""


def newest_parsed_resume(user_id: int) -> tuple[str | None, dict[str, Any]]:
    """The id and structure of the user's newest parsed resume, or (None, {})."""
    row = db.session.execute(
        select(Resume.id, Resume.parsed)
        .where(Resume.user_id == user_id, Resume.parsed.is_not(None))
        .order_by(Resume.created_at.desc())
        .limit(1)
    ).first()
    return (str(row.id), row.parsed) if row else (None, {})


def posting_text(user_id: int, posting_id: int) -> tuple[str, str]:
    """The description and title of one of the user's postings (404 for anyone else's)."""
    posting = get_owned(Posting, object_id=posting_id, user_id=user_id, object_type="posting")
    return posting.description or posting.title, posting.title


def _project_dict(project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "technologies": list(project.technologies or []),
        "highlights": list(project.highlights or []),
        "url": project.url,
        "start_date": project.start_date,
        "end_date": project.end_date,
    }


@register_handler(
    "project_analysis",
    max_attempts=3,
    timeout_seconds=300.0,
    payload_schema=ProjectAnalysisPayload,
    submit_limit="project_analysis_per_user_per_day",
)
def run_project_analysis(job: JobContext) -> dict[str, Any]:
    """Rank every project of the user for the job; say which to feature or swap in."""
    payload = job.payload
    title = None
    if payload.get("posting_id") is not None:
        description, title = posting_text(job.user_id, int(payload["posting_id"]))
    else:
        description = payload["job_description"]
    items = [_project_dict(p) for p in projects.all_of(job.user_id)]
    resume_id = payload.get("resume_id")
    if resume_id is not None:
        chosen = resumes.get(user_id=job.user_id, resume_id=uuid.UUID(resume_id))
        if chosen.parse_status == ResumeParseStatus.PENDING.value:
            # Uploaded a moment ago: its parsing job runs first, then this one.
            raise QuotaWait(RESUME_PARSE_WAIT_SECONDS, "the resume's parsing")
        if not chosen.parsed:
            raise UserFacingError(
                f"resume {resume_id} could not be parsed; upload a readable version or "
                "name another resume_id"
            )
        resume = chosen.parsed
    else:
        resume_id, resume = newest_parsed_resume(job.user_id)
    names = [str(p.get("name") or "") for p in resume.get("projects") or [] if isinstance(p, dict)]
    db.session.rollback()  # no transaction stays open during the engine call
    job.check_cancelled()
    job.report_progress(20, f"ranking {len(items)} projects")
    result = project_analysis.analyse(
        job_description=description,
        projects=items,
        engine=get_engine(),
        job_title=title,
        resume_project_names=names,
    )
    result["resume_id"] = resume_id
    log.info(
        "projects ranked",
        extra={"job_id": job.job_id, "projects": len(items), "engine": result["engine"]},
    )
    return result


# --- applications ----------------------------------------------------------------------------


class AlreadyApplied(UserFacingError):  # noqa: N818 - reads as an outcome
    """The user has an application for this posting from another job."""


def _application_for(job: JobContext) -> Application:
    """The application this job prepares: made by `POST /api/applications`, or now (a job
    submitted through `POST /api/jobs`)."""
    payload = job.payload
    key = applications.target_key(
        posting_id=payload.get("posting_id"), job_url=payload.get("job_url")
    )
    application = db.session.scalar(
        select(Application).where(Application.user_id == job.user_id, Application.target_key == key)
    )
    if application is None:
        posting = None
        if payload.get("posting_id") is not None:
            posting = get_owned(
                Posting, object_id=payload["posting_id"], user_id=job.user_id, object_type="posting"
            )
        resumes.get(user_id=job.user_id, resume_id=uuid.UUID(payload["resume_id"]))
        details = applications.clean_details(payload)
        application = Application(
            user_id=job.user_id,
            posting_id=posting.id if posting else None,
            job_url=payload.get("job_url"),
            target_key=key,
            resume_id=uuid.UUID(payload["resume_id"]),
            company=posting.company if posting else details.get("company"),
            title=posting.title if posting else details.get("title"),
            job_description=None if posting else details.get("job_description"),
            mode=payload.get("mode", "review"),
            state=ApplicationState.SAVED.value,
            package={},
            job_id=job.job_id,
        )
        db.session.add(application)
        db.session.commit()
    elif application.job_id not in (None, job.job_id) and application.state not in (
        ApplicationState.SAVED,
        ApplicationState.FAILED,
    ):
        raise AlreadyApplied(
            f"application {application.id} for this posting exists already "
            f"(state {application.state})"
        )
    return application


def _posting_view(application: Application) -> dict[str, Any]:
    posting = db.session.get(Posting, application.posting_id) if application.posting_id else None
    if posting is None:
        return {
            "source": None,
            "company": application.company,
            "title": application.title,
            "location": None,
            "description": application.job_description or "",
            "apply_url": application.job_url,
            "questions": [],
        }
    return {
        "source": posting.source,
        "company": posting.company,
        "title": posting.title,
        "location": posting.location,
        "description": posting.description or "",
        "apply_url": posting.apply_url,
        "questions": list(posting.questions or []),
    }


TAILORED_FORMAT = "pdf"
TAILORING_LIMIT = "resume_tailoring_per_user_per_day"


class TailoringSkipped(Exception):  # noqa: N818 - reads as an outcome
    """The application goes without a tailored resume; the message says why."""


def _tailored_resume(
    job: JobContext,
    *,
    user_id: int,
    resume_id: uuid.UUID | None,
    parsed: dict[str, Any] | None,
    posting: dict[str, Any],
) -> dict[str, Any] | None:
    """The resume tailored to the posting (the tailoring pipeline, stored once per job), or
    None when there is nothing to tailor to (no parsed resume, no description).

    The tailoring counts once against the user's `resume_tailoring_per_user_per_day`, as one
    submitted on its own does; with none left it raises `TailoringSkipped`.
    """
    if not parsed or not posting["description"].strip():
        return None
    if not job.spend_daily_limit(TAILORING_LIMIT).allowed:
        raise TailoringSkipped(
            f"{TAILORING_LIMIT} reached: the resume is sent as uploaded, not tailored"
        )

    def progress(percent: int, message: str) -> None:
        job.check_cancelled()
        job.report_progress(5 + percent * 40 // 100, f"tailoring the resume: {message}")

    with job.concurrency_slot("concurrent_tailoring_sessions"):
        result = tailoring.tailor(
            get_engine(),
            resume=parsed,
            job_description=posting["description"][:50_000],
            job_title=posting["title"],
            company=posting["company"],
            progress=progress,
            pdf_fonts=rendering.pdf_fonts_for(get_settings()),
        )
    row = tailored_resumes.create(
        user_id=user_id,
        source_resume_id=resume_id,
        result=result,
        job_title=posting["title"],
        company=posting["company"],
        job_id=job.job_id,
    )
    return {
        "id": str(row.id),
        "format": TAILORED_FORMAT,
        "match_score": {k: result["match_score"][k] for k in ("before", "after")},
        "keywords": result["keywords"],
        "dropped_claims": len(result["dropped_claims"]),
    }


def complete_details(job: JobContext, application_id: int) -> list[str]:
    """Read a job URL's page for the title, company and description the user did not give;
    the details still missing (the application then waits in `needs_details`)."""
    application = db.session.get(Application, application_id)
    if application.posting_id is not None or (
        application.title and application.company and application.job_description
    ):
        return []
    settings = get_settings()
    url = application.job_url
    db.session.rollback()  # no transaction stays open during the fetch
    job.check_cancelled()
    job.report_progress(2, "reading the job's page")
    client = OutboundClient(
        policy=OutboundPolicy.of(settings),
        user_agent=f"{settings.job_search_user_agent} (+{settings.public_base_url})",
        timeout_seconds=settings.job_search_timeout_seconds,
        max_bytes=posting_page.MAX_PAGE_BYTES,
        max_redirects=posting_page.MAX_REDIRECTS,
    )
    problem = None
    try:
        with client:
            page = posting_page.read_posting(url=url, client=client)
    except posting_page.PageUnreadable as unreadable:
        page, problem = None, str(unreadable)
        log.info("job page unreadable", extra={"job_id": job.job_id, "problem": problem})
    application = db.session.get(Application, application_id)
    if page is not None:  # what the user gave wins over what the page says
        application.title = application.title or page.title
        application.company = application.company or page.company
        application.job_description = application.job_description or page.description or None
    missing = applications.missing_details(application)
    if missing:
        applications.move(application, ApplicationState.NEEDS_DETAILS.value)
        said = f"could not be read ({problem})" if problem else "does not say it"
        application.error = (
            f"The job's {' and '.join(missing)}: the page {said}; give "
            f"{' and '.join(missing)} with PATCH /api/applications/{application_id}"
        )
    db.session.commit()
    return missing


def prepare_package(job: JobContext, application: Application) -> dict[str, Any]:
    """Cover letter, screening answers, channel: the package the user reviews."""
    settings = get_settings()
    posting = _posting_view(application)
    resume = db.session.get(Resume, application.resume_id) if application.resume_id else None
    if resume is not None and resume.parse_status == ResumeParseStatus.PENDING.value:
        raise QuotaWait(RESUME_PARSE_WAIT_SECONDS, "the resume's parsing")
    parsed = resume.parsed if resume else None
    resume_filename = resume.original_filename if resume else None
    facts = resume_facts(parsed)
    profile = profiles.get(user_id=application.user_id)
    user_id, resume_id = application.user_id, application.resume_id
    db.session.rollback()  # no transaction stays open during the engine calls
    job.check_cancelled()
    tailoring_skipped = None
    try:
        tailored = _tailored_resume(
            job, user_id=user_id, resume_id=resume_id, parsed=parsed, posting=posting
        )
    except TailoringSkipped as skipped:
        tailored, tailoring_skipped = None, str(skipped)
    job.report_progress(50, "writing the cover letter")
    engine = get_engine()
    letter = cover_letters.write_letter(engine, parsed=parsed, posting=posting, profile=profile)
    job.check_cancelled()
    job.report_progress(70, "answering the screening questions")
    answers = answer_questions(
        posting["questions"],
        profile=profile,
        resume=facts,
        posting=posting,
        cover_letter=letter["cover_letter"],
    )
    scope = cover_letters.letter_scope(parsed, profile=profile, answers=[])
    dropped = letter["dropped_claims"] + engine_answers(
        answers, engine=engine, parsed=parsed, posting=posting, scope=scope
    )
    recruitee_url = None
    if posting["source"] == "recruitee":
        recruitee_url = recruitee_candidates_url(settings.recruitee_base_url, posting["apply_url"])
    apply_email = apply_email_in(posting["apply_url"], posting["description"])
    form = ats.from_url(posting["apply_url"])
    browser_missing = browser_handlers.unavailable_reason() if form else None
    if recruitee_url:
        channel = SubmissionChannel.RECRUITEE.value
    elif form and not browser_missing:  # the hosted form, filled in a browser
        channel = SubmissionChannel.BROWSER.value
    elif apply_email and tailored:  # a mail carries only the resume the service made
        channel = SubmissionChannel.EMAIL.value
    else:
        channel = SubmissionChannel.MANUAL.value
    browser = None
    if form:
        browser = {"ats": form, "url": posting["apply_url"], "status": "pending"}
        if browser_missing:
            browser.update(
                status="unavailable", reason=f"browser channel unavailable: {browser_missing}"
            )
    return {
        "browser": browser,
        "cover_letter": letter["cover_letter"],
        "cover_letter_keywords": letter["keywords"],
        "unsupported_terms": list(
            dict.fromkeys(d["claim"] for d in dropped if d["kind"] == "skill")
        ),
        "dropped_claims": dropped,
        "missing_details": letter["missing_details"],
        "engine": letter["engine"],
        "model": letter["model"],
        "answers": answers,
        "unanswered_required": missing_required(answers),
        "tailored_resume": tailored,
        "tailoring_skipped": tailoring_skipped,
        "resume": {
            "id": str(resume_id) if resume_id else None,
            "filename": resume_filename,
        },
        "channel": channel,
        "recruitee_url": recruitee_url,
        "apply_email": apply_email,
        "apply_url": posting["apply_url"],
    }


def _fail(application_id: int, error: str) -> None:
    db.session.rollback()
    application = db.session.get(Application, application_id)
    if application is not None and application.state in (
        ApplicationState.SAVED,
        ApplicationState.PREPARING,
    ):
        application.state = ApplicationState.FAILED.value
        application.error = error[:2000]
        db.session.commit()


@register_handler(
    "job_application",
    max_attempts=3,
    timeout_seconds=600.0,
    payload_schema=JobApplicationPayload,
    submit_limit="application_preparations_per_user_per_day",
)
def run_job_application(job: JobContext) -> dict[str, Any]:
    """Prepare the application package; in `auto` mode send it when nothing is missing."""
    application = _application_for(job)
    application_id = application.id
    if application.state in (ApplicationState.SAVED, ApplicationState.FAILED):
        missing = complete_details(job, application_id)
        if missing:
            return {
                "application_id": application_id,
                "state": ApplicationState.NEEDS_DETAILS.value,
                "missing_details": missing,
            }
        application = db.session.get(Application, application_id)
        applications.move(application, ApplicationState.PREPARING.value)
        application.job_id = job.job_id
        application.error = None
        db.session.commit()
    if _browser_pending(application):
        return _fill_in_browser(job, application_id)
    if application.state == ApplicationState.PREPARING:
        try:
            package = prepare_package(job, application)
        except (RetryableJobError, QuotaWait, LeaseLost):
            if job.attempt >= MAX_PREPARE_ATTEMPTS:
                _fail(application_id, "preparing the application failed repeatedly")
            raise
        except JobCancelled:
            _fail(application_id, "cancelled")
            raise
        except Exception as error:
            _fail(application_id, error_for_owner(error, job_id=job.job_id))
            raise
        application = db.session.get(Application, application_id)
        if package["channel"] == SubmissionChannel.BROWSER:
            # Kept while the browser works: a run that stops here fills again, never prepares
            # again.
            application.package = package
            db.session.commit()
            return _fill_in_browser(job, application_id)
        if application.mode == "auto":
            package["auto_submit"] = _auto_decision(job, application, package)
            if package["auto_submit"]["send"]:
                application.channel = package["channel"]
        application.package = package
        application.apply_email = package["apply_email"]
        # The package and the auto decision land together: a re-run neither decides nor
        # spends the daily allowance again.
        applications.move(application, ApplicationState.READY_FOR_REVIEW.value)
        db.session.commit()
    result: dict[str, Any] = {"application_id": application_id, "state": application.state}
    if application.mode != "auto" or application.state not in _SENDING_STATES:
        return result
    decision = (application.package or {}).get("auto_submit") or {}
    if not decision.get("send"):
        return {**result, "sent": False, "reason": decision.get("reason")}
    return {**result, **deliver(job, application_id)}


def _browser_pending(application: Application) -> bool:
    browser = (application.package or {}).get("browser") or {}
    return application.state == ApplicationState.PREPARING and browser.get("status") == "pending"


def _fill_in_browser(job: JobContext, application_id: int) -> dict[str, Any]:
    """Fill the hosted form (review mode), or fill and submit it (auto mode)."""
    application = db.session.get(Application, application_id)
    auto = application.mode == "auto"
    try:
        return browser_handlers.run_session(
            job, application_id, posting=_posting_view(application), submit=auto, auto=auto
        )
    except JobCancelled:
        _fail(application_id, "cancelled")
        raise
    except (RetryableJobError, QuotaWait, LeaseLost):
        raise
    except Exception as error:
        _fail(application_id, error_for_owner(error, job_id=job.job_id))
        raise


# States in which an `auto` job's send is still to make, under way, or made by an earlier run
# of the job (which `deliver` then reports).
_SENDING_STATES = (
    ApplicationState.READY_FOR_REVIEW,
    ApplicationState.SUBMITTED_UNCONFIRMED,
    ApplicationState.SUBMITTED,
)


def _auto_decision(
    job: JobContext, application: Application, package: dict[str, Any]
) -> dict[str, Any]:
    """Whether `auto` mode sends now (the allowance then spent), or why it waits for review.

    The allowance is spent at most once per job: a run cut short before its package landed
    (which records the decision) decides again without spending again.
    """
    reason = None
    tailored = package.get("tailored_resume") or {}
    written = [a["label"] for a in package.get("answers") or [] if a.get("source") == "engine"]
    if package.get("missing_details"):
        reason = "the posting's " + " and ".join(package["missing_details"]) + " are unknown"
    elif package.get("unanswered_required"):
        reason = "required questions have no answer: " + "; ".join(package["unanswered_required"])
    elif package.get("channel") == SubmissionChannel.MANUAL:
        reason = "the posting gives no channel to send through; apply on its page"
    elif package.get("dropped_claims") or tailored.get("dropped_claims"):
        # Nobody reads an auto-sent package first: when the engine wrote anything the
        # person's material does not support, even though it was left out, the user looks
        # before anything is sent.
        kinds = sorted({d["kind"] for d in package.get("dropped_claims") or []})
        terms = package.get("unsupported_terms") or []
        reason = (
            "the engine wrote claims the resume does not support (left out"
            + (f": {', '.join(terms)}" if terms else (f": {', '.join(kinds)}" if kinds else ""))
            + "); review before sending"
        )
    elif written:
        reason = "the engine wrote answers to review first: " + "; ".join(written)
    else:
        try:
            applications.require_verified_sender(application.user_id)
            recipient = package["apply_email"] if package["channel"] == "email" else None
            with job.once(f"allowance:{job.job_id}") as first:
                if first:
                    applications.spend_submission_allowance(
                        application, job_id=job.job_id, recipient=recipient
                    )
        except (Forbidden, TooManyRequests) as refused:  # nothing was spent: the key goes
            reason = refused.message
    return {"send": reason is None, "reason": reason}


MAX_PREPARE_ATTEMPTS = 3


def _candidate(application: Application) -> Candidate:
    if application.resume_id is None and not (application.package or {}).get("tailored_resume"):
        raise NotFound(resource="resume")
    profile = profiles.get(user_id=application.user_id)
    package = application.package or {}
    tailored = package.get("tailored_resume")
    if tailored:  # the resume tailored to this posting, rendered
        rendered = tailored_resumes.get_download(
            user_id=application.user_id,
            tailored_id=uuid.UUID(tailored["id"]),
            fmt=tailored.get("format") or TAILORED_FORMAT,
        )
        cv = Attachment(rendered.filename, rendered.data, rendered.content_type)
    else:
        download = resumes.get_download(
            user_id=application.user_id, resume_id=application.resume_id
        )
        cv = Attachment(download.filename, download.data, download.content_type)
    known = [a for a in package.get("answers") or [] if a["answer"] is not None]
    return Candidate(
        name=profile["name"],
        email=profile["email"],
        phone=profile["phone"],
        cover_letter=package.get("cover_letter") or "",
        cv=cv,
        answers=known,
    )


def deliver(job: JobContext, application_id: int) -> dict[str, Any]:
    """Send a reviewed application through its channel, at most once, and record how it went.

    At most once per application and channel (`applications.send_key`), whatever job sends
    it. The application becomes `submitted_unconfirmed` before the send begins, so one whose
    send may have happened is never offered for sending again: it stays so when the outcome
    is unknown (this worker died while sending, the channel never answered) until the user
    says whether it arrived. A run that finds the send made (or begun) by an earlier one
    reports that send instead of making another.
    """
    application = db.session.get(Application, application_id)
    if application is None:
        return {"sent": False, "reason": "the application is deleted"}
    channel = application.channel
    if channel == SubmissionChannel.BROWSER and application.state in (
        ApplicationState.READY_FOR_REVIEW,
        ApplicationState.SUBMITTED_UNCONFIRMED,
    ):
        # The browser's Submit click keeps its own once-only record under the same key.
        return browser_handlers.run_session(
            job, application_id, posting=_posting_view(application), submit=True
        )
    key = applications.send_key(application_id, channel)
    if application.state != ApplicationState.READY_FOR_REVIEW:
        earlier = _earlier_send(job, application, key)
        if earlier is not None:
            return earlier
    try:
        candidate = _candidate(application)
        applications.require_verified_sender(application.user_id)  # it may have changed since
    except NotFound:
        problem = ("the resume to send was deleted", "apply again with another resume")
    except Forbidden:
        problem = ("the account's email address is not verified", "verify it and apply again")
    else:
        problem = None
        if channel == SubmissionChannel.EMAIL and not (application.package or {}).get(
            "tailored_resume"
        ):
            problem = ("there is no tailored resume to mail", "apply on the job's page")
    if problem is not None:
        applications.record_submission(
            application,
            channel=channel,
            outcome="failed",
            detail={"error": problem[0]},
            job_id=job.job_id,
        )
        application.state = ApplicationState.FAILED.value
        application.error = "; ".join(problem)
        db.session.commit()
        return {"sent": False, "reason": application.error}
    if application.state == ApplicationState.READY_FOR_REVIEW:
        applications.move(application, ApplicationState.SUBMITTED_UNCONFIRMED.value)
    db.session.commit()  # before the key and the send: a send that may happen shows
    outcome = _send_once(job, key, application, candidate)
    application = db.session.get(Application, application_id)
    status, detail = outcome
    applications.record_submission(
        application, channel=channel, outcome=status, detail=detail, job_id=job.job_id
    )
    if status == "sent":
        applications.move(application, ApplicationState.SUBMITTED.value)
        application.submitted_at = utcnow()
    elif status == "failed":
        applications.move(application, ApplicationState.FAILED.value)
        application.error = str(detail.get("error"))[:2000]
    else:  # "unknown": stays submitted_unconfirmed until the user says
        application.error = str(detail.get("note"))[:2000]
    db.session.commit()
    log.info(
        "application submission",
        extra={"job_id": job.job_id, "application_id": application_id, "outcome": status},
    )
    return {"sent": status == "sent", "channel": channel, "outcome": status}


def _send_once(
    job: JobContext, key: str, application: Application, candidate: Candidate
) -> tuple[str, dict[str, Any]]:
    """Make the send under its key; (outcome, detail). A send that surely did not happen
    gives the key back: refused, the application fails (it may be prepared and sent again);
    unavailable, it goes back to `ready_for_review` and the job is retried."""
    settings = get_settings()
    application_id, channel, address = application.id, application.channel, application.apply_email
    title, company = application.title, application.company
    recruitee_url = (application.package or {}).get("recruitee_url")
    # The user's own answers go only to the address the posting gives, never to one they typed.
    user_answers = not applications.recipient_typed(application, address)
    db.session.rollback()
    try:
        with job.once(key) as first:
            if not first:  # an earlier run made (or began) it: only the key knows which
                state = db.session.scalar(select(SideEffect.state).where(SideEffect.key == key))
                db.session.rollback()
                if state == SideEffectState.DONE:
                    return "sent", {"note": "sent by an earlier run"}
                return "unknown", {"note": _UNKNOWN_NOTE}
            if channel == SubmissionChannel.RECRUITEE:
                try:
                    return "sent", send_to_recruitee(
                        url=recruitee_url,
                        candidate=candidate,
                        timeout_seconds=settings.application_submit_timeout_seconds,
                        user_agent=settings.job_search_user_agent,
                        policy=OutboundPolicy.of(settings),
                    )
                except SubmissionUncertain as uncertain:
                    raise EffectUncertain(str(uncertain)) from uncertain
            mail = application_mail(
                candidate=candidate, title=title, company=company, user_answers=user_answers
            )
            try:
                taken = mailer.send_mail(
                    settings=settings, to=address, keep_waiting=job.keeps_lease, **mail
                )
            except mailer.MailOutcomeUnknown as unknown:
                raise EffectUncertain(str(unknown)) from unknown
            if not taken:
                raise SubmissionUnavailable("the mail server did not take the message")
            return "sent", {"to": address, "attachments": len(mail["attachments"])}
    except EffectUncertain as uncertain:
        to = {"to": address} if channel == SubmissionChannel.EMAIL else {}
        return "unknown", {"note": f"{uncertain}; it may have been received: {_ASK}", **to}
    except SubmissionRefused as refused:  # nothing was made: the key is given back
        return "failed", {**refused.detail, "error": str(refused)}
    except SubmissionUnavailable as error:
        application = _back_to_review(application_id)
        applications.record_submission(
            application,
            channel=channel,
            outcome="retrying",
            detail={"error": str(error)},
            job_id=job.job_id,
        )
        db.session.commit()
        raise RetryableJobError(str(error)) from error
    except Exception:
        _back_to_review(application_id)
        db.session.commit()
        raise


_ASK = "ask the company, then say whether it arrived"
_UNKNOWN_NOTE = f"an earlier run stopped while sending; it may have been received: {_ASK}"


def _back_to_review(application_id: int) -> Application:
    """Nothing was sent after all: the application may be sent again (the caller commits)."""
    db.session.rollback()
    application = db.session.get(Application, application_id)
    if application.state == ApplicationState.SUBMITTED_UNCONFIRMED:
        applications.move(application, ApplicationState.READY_FOR_REVIEW.value)
    return application


def _earlier_send(job: JobContext, application: Application, key: str) -> dict[str, Any] | None:
    """What an earlier run of this send did, for a run that finds the application past
    `ready_for_review`; None when this run must still send it (the earlier one stopped
    before its key was recorded, so nothing went out)."""
    channel = application.channel
    if application.state == ApplicationState.SUBMITTED_UNCONFIRMED:
        state = db.session.scalar(select(SideEffect.state).where(SideEffect.key == key))
        if state is None:
            return (
                None
                if job.job_id in (application.submission_job_id, application.job_id)
                else {
                    "sent": False,
                    "reason": "another job sends this application",
                }
            )
        if state == SideEffectState.DONE:  # sent; that run stopped before recording it
            applications.record_submission(
                application,
                channel=channel,
                outcome="sent",
                detail={"note": "sent by an earlier run"},
                job_id=job.job_id,
            )
            applications.move(application, ApplicationState.SUBMITTED.value)
            application.submitted_at = utcnow()
            db.session.commit()
            return {"sent": True, "channel": channel, "outcome": "sent"}
        recorded = db.session.scalar(
            select(ApplicationSubmission.id).where(
                ApplicationSubmission.application_id == application.id,
                ApplicationSubmission.job_id == job.job_id,
                ApplicationSubmission.outcome == "unknown",
            )
        )
        if recorded is None:
            applications.record_submission(
                application,
                channel=channel,
                outcome="unknown",
                detail={"note": _UNKNOWN_NOTE},
                job_id=job.job_id,
            )
            application.error = _UNKNOWN_NOTE
            db.session.commit()
        return {"sent": False, "channel": channel, "outcome": "unknown"}
    if application.state == ApplicationState.SUBMITTED and application.channel in (
        applications.SENDING_CHANNELS
    ):
        return {"sent": True, "channel": channel, "outcome": "sent"}
    return {"sent": False, "reason": f"the application is {application.state}"}


# Sending by email may wait for the mail server's final reply (see `MAIL_JOB_SECONDS`).
@register_handler(
    "application_submission", max_attempts=5, timeout_seconds=MAIL_JOB_SECONDS, internal=True
)
def run_application_submission(job: JobContext) -> dict[str, Any]:
    """Send one application the user submitted after review."""
    return deliver(job, int(job.payload["application_id"]))
