"""The browser channel's part of the application jobs: fill the hosted form (review), fill and
submit it (auto, or after review), hand it to the user when the page needs a person.

Called by `server.workers.applicant_handlers` for applications whose channel is `browser`. The submit
click runs under `job.once(application:<id>:browser)`: a run that finds the key recorded
never clicks again, and the application ends in `submitted_unconfirmed`.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from sqlalchemy import delete, select

from server import rate_limiter
from server.agent import rendering
from server.agent.browser import ats, runtime, session
from server.agent.browser.answers import Sources, normalise_label
from server.agent.cover_letters import letter_scope, resume_facts
from server.agent.engines import get_engine
from server.agent.screening import engine_answers
from server.core.config import get_settings
from server.core.errors import Forbidden, TooManyRequests
from server.core.extensions import db
from server.models import (
    Application,
    ApplicationScreenshot,
    ApplicationState,
    Resume,
    SavedAnswer,
    SideEffect,
    SubmissionChannel,
    utcnow,
)
from server.security_manager.outbound import OutboundPolicy
from server.services import applications, profiles, resumes, tailored_resumes
from server.workers.job_handlers import JobCancelled, JobContext

log = logging.getLogger("server.workers.browser_handlers")

S = ApplicationState
DAILY_LIMIT = "browser_applications_per_user_per_day"
CAP = "concurrent_browser_sessions"


def send_key(application_id: int) -> str:
    """The `job.once` key of the browser's Submit click for one application (the key every
    channel's send is made under: `applications.send_key`)."""
    return applications.send_key(application_id, SubmissionChannel.BROWSER.value)


def unavailable_reason() -> str | None:
    """Why this deployment cannot run the browser channel, or None."""
    return runtime.unavailable_reason(get_settings())


def _file_stem(name: str | None) -> str:
    """`<First>-<Last>` of the applicant's name, as the files they upload are named."""
    words = [w for w in re.split(r"[^\w]+", name or "") if w]
    return "-".join(w.capitalize() if w.islower() else w for w in words[:3]) or "Candidate"


def _cover_letter_file(letter: str, profile: dict[str, Any]) -> dict[str, Any] | None:
    """The application's cover letter as PDF (rendered as resumes are), named
    `<First>-<Last>-Cover-Letter.pdf`, for forms that ask for it as a file."""
    if not letter.strip():
        return None
    contact = {key: profile.get(key) for key in ("name", "email", "phone", "location")}
    return {
        "name": f"{_file_stem(profile.get('name'))}-Cover-Letter.pdf",
        "mimeType": "application/pdf",
        "buffer": rendering.render_letter_pdf(letter, contact=contact, settings=get_settings()),
    }


def _resume_file(application: Application, name: str | None) -> dict[str, Any] | None:
    """The tailored resume as PDF (else the uploaded one), named `<First>-<Last>-Resume`."""
    stem = _file_stem(name)
    tailored = (application.package or {}).get("tailored_resume")
    if tailored:
        rendered = tailored_resumes.get_download(
            user_id=application.user_id, tailored_id=uuid.UUID(tailored["id"]), fmt="pdf"
        )
        return {
            "name": f"{stem}-Resume.pdf",
            "mimeType": "application/pdf",
            "buffer": rendered.data,
        }
    if application.resume_id is None:
        return None
    download = resumes.get_download(user_id=application.user_id, resume_id=application.resume_id)
    extension = download.filename.rsplit(".", 1)[-1].lower() if "." in download.filename else "pdf"
    return {
        "name": f"{stem}-Resume.{extension}",
        "mimeType": download.content_type,
        "buffer": download.data,
    }


def _sources(application: Application, posting: dict[str, Any], parsed: Any) -> Sources:
    package = application.package or {}
    profile = profiles.get(user_id=application.user_id)
    given, prepared = {}, {}
    for answer in package.get("answers") or []:
        if answer.get("answer") is None:
            continue
        if str(answer["question_id"]).startswith("form:") and answer.get("source") == "user":
            given[answer["question_id"][5:]] = answer["answer"]
        elif not str(answer["question_id"]).startswith("form:"):
            prepared[normalise_label(answer["label"])] = answer["answer"]
    saved = {
        row.label_key: row.answer
        for row in db.session.scalars(
            select(SavedAnswer).where(SavedAnswer.user_id == application.user_id)
        )
    }
    letter = package.get("cover_letter") or ""
    return Sources(
        profile=profile,
        resume=resume_facts(parsed),
        posting=posting,
        cover_letter=letter,
        resume_file=_resume_file(application, profile.get("name")),
        cover_letter_file=_cover_letter_file(letter, profile),
        given=given,
        saved=saved,
        prepared=prepared,
    )


def _engine_writer(parsed: Any, posting: dict[str, Any], profile: dict, dropped: list):
    def write(fields: list[dict[str, Any]]) -> dict[str, str]:
        questions = [
            {
                "question_id": f["key"],
                "label": f["label"],
                "type": "textarea",
                "required": True,
                "options": [],
                "answer": None,
                "source": None,
            }
            for f in fields
        ]
        scope = letter_scope(parsed, profile=profile, answers=[])
        dropped.extend(
            engine_answers(
                questions, engine=get_engine(), parsed=parsed, posting=posting, scope=scope
            )
        )
        return {q["question_id"]: q["answer"] for q in questions if q["answer"]}

    return write


def _spend_daily(user_id: int) -> None:
    limiter = rate_limiter.get_rate_limiter()
    if not limiter.enabled:
        return
    decision = limiter.hit((DAILY_LIMIT,), str(user_id))
    if not decision.allowed:
        raise rate_limiter.refusal(decision, anonymous=False)


def run_session(
    job: JobContext,
    application_id: int,
    *,
    posting: dict[str, Any],
    submit: bool,
    auto: bool = False,
) -> dict[str, Any]:
    """Fill the application's form in a browser (and submit it when asked); record the
    outcome on the application. Returns the job's result."""
    settings = get_settings()
    application = db.session.get(Application, application_id)
    key = send_key(application_id)
    if submit and db.session.scalar(select(SideEffect.state).where(SideEffect.key == key)):
        return _record(job, application_id, _already_clicked(application), submit=True)
    reason = unavailable_reason()
    if reason:
        return _record(
            job,
            application_id,
            session.Outcome(status="needs_human", reason=f"browser channel unavailable: {reason}"),
            submit=submit,
        )
    try:
        _spend_daily(application.user_id)
    except TooManyRequests as refused:
        outcome = session.Outcome(status="needs_human", reason=refused.message)
        return _record(job, application_id, outcome, submit=submit)
    resume = db.session.get(Resume, application.resume_id) if application.resume_id else None
    parsed = resume.parsed if resume else None
    sources = _sources(application, posting, parsed)
    package = application.package or {}
    reviewed = None
    if submit and not auto:
        reviewed = {
            f["key"]: f["value"]
            for f in (package.get("browser") or {}).get("fields") or []
            if f["value"] is not None
        }
    dropped: list[dict[str, Any]] = []
    url = (package.get("browser") or {}).get("url") or package.get("apply_url")

    def hold_back(fields: list[dict[str, Any]]) -> str | None:
        written = [f["label"] for f in fields if f["source"] == "engine"]
        if written:
            return "the engine wrote answers to review first: " + "; ".join(written)
        if package.get("dropped_claims") or (package.get("tailored_resume") or {}).get(
            "dropped_claims"
        ):
            return "the engine wrote claims the resume does not support (left out); review first"
        if package.get("missing_details"):
            return "the posting's " + " and ".join(package["missing_details"]) + " are unknown"
        current = db.session.get(Application, application_id)
        try:
            applications.require_verified_sender(current.user_id)
            with job.once(f"allowance:{job.job_id}") as first:
                if first:
                    applications.spend_submission_allowance(current, job_id=job.job_id)
        except (Forbidden, TooManyRequests) as refused:
            db.session.rollback()
            return refused.message
        db.session.commit()
        return None

    def click_once(click) -> bool:
        with job.once(key) as first:
            if first:
                click()
        return first

    def should_stop() -> str | None:
        if job.cancel_requested:
            return "cancelled"
        if job.lease_lost:
            return "this worker lost the job"
        return None

    db.session.rollback()  # no transaction stays open while the browser works
    job.check_cancelled()
    job.report_progress(80, "filling the application form in a browser")
    request = session.Request(
        url=url,
        sources=sources,
        submit=submit,
        write_answers=None
        if submit and not auto
        else _engine_writer(parsed, posting, sources.profile, dropped),
        hold_back=hold_back if auto else (lambda fields: None),
        click_once=click_once,
        should_stop=should_stop,
        reviewed=reviewed,
    )
    with job.concurrency_slot(CAP):
        try:
            outcome = session.run(settings, OutboundPolicy.of(settings), request)
        except runtime.BrowserStopped as stopped:
            if str(stopped) == "cancelled":
                raise JobCancelled(f"job {job.job_id} was cancelled") from None
            outcome = session.Outcome(status="needs_human", reason=str(stopped), url=url)
        except runtime.BrowserUnavailable as unavailable:
            outcome = session.Outcome(
                status="needs_human", reason=f"browser channel unavailable: {unavailable}"
            )
    log.info(
        "browser session",
        extra={
            "job_id": job.job_id,
            "application_id": application_id,
            "ats": outcome.ats,
            "status": outcome.status,
            "seconds": outcome.seconds,
            "peak_memory_mb": outcome.peak_memory_bytes // 2**20,
        },
    )
    return _record(job, application_id, outcome, submit=submit, dropped=dropped)


def _clicked(key: str) -> bool:
    return db.session.scalar(select(SideEffect.id).where(SideEffect.key == key)) is not None


def _already_clicked(application: Application) -> session.Outcome:
    name = ((application.package or {}).get("browser") or {}).get("ats")
    label = ats.ATSES[name].label if name in ats.ATSES else "the employer"
    return session.Outcome(
        status="already_clicked",
        reason=(
            f"Submit was clicked by an earlier attempt that stopped before seeing the outcome; "
            f"check your email for {label}'s confirmation before doing anything else"
        ),
    )


def _field_view(item: dict[str, Any]) -> dict[str, Any]:
    value = item["value"]
    if item["kind"] == "file" and value is not None:
        value = value["name"]
    return {
        "key": item["key"],
        "label": item["label"],
        "kind": item["kind"],
        "required": item["required"],
        "options": item["options"][:50],
        "value": value,
        "source": item["source"],
        "page": item.get("page", 1),
    }


def _as_answers(fields: list[dict[str, Any]], earlier: list[dict[str, Any]]) -> list[dict]:
    """The form's questions as the package's answers (`form:<key>`), after the posting's own."""
    kept = [a for a in earlier if not str(a["question_id"]).startswith("form:")]
    for item in fields:
        if item["kind"] == "file":
            continue
        kept.append(
            {
                "question_id": f"form:{item['key']}"[:100],
                "label": item["label"] or item["key"],
                "type": "boolean"
                if item["kind"] in ("yesno", "checkbox")
                else ("select" if item["options"] else "text"),
                "required": item["required"],
                "options": item["options"][:50],
                "answer": item["value"],
                "source": item["source"],
            }
        )
    return kept


def _record(
    job: JobContext,
    application_id: int,
    outcome: session.Outcome,
    *,
    submit: bool,
    dropped: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Keep the outcome on the application: state, values, screenshots, hand-off."""
    db.session.rollback()
    application = db.session.get(Application, application_id)
    package = dict(application.package or {})
    browser = dict(package.get("browser") or {})
    fields = [_field_view(f) for f in outcome.fields]
    if fields:
        browser["fields"] = fields
        browser["pages"] = outcome.pages
        package["answers"] = _as_answers(fields, package.get("answers") or [])
        package["unanswered_required"] = [
            f["label"] or f["key"] for f in fields if f["required"] and f["value"] is None
        ]
    browser.update(
        {
            "ats": outcome.ats or browser.get("ats"),
            "url": outcome.url or browser.get("url"),
            "status": outcome.status,
            "reason": outcome.reason,
            "blocked": outcome.blocked,
            "seconds": outcome.seconds,
            "peak_memory_mb": outcome.peak_memory_bytes // 2**20,
            "finished_at": utcnow().isoformat(),
        }
    )
    if dropped:
        package["dropped_claims"] = [*(package.get("dropped_claims") or []), *dropped]
    replaced: list[tuple[str | None, str | None]] = []
    if outcome.screenshots:
        replaced = [
            tuple(row)
            for row in db.session.execute(
                delete(ApplicationScreenshot)
                .where(
                    ApplicationScreenshot.application_id == application_id,
                    ApplicationScreenshot.kind == "page",
                )
                .returning(ApplicationScreenshot.storage, ApplicationScreenshot.storage_key)
            )
        ]
    number = (
        db.session.scalar(
            select(ApplicationScreenshot.number)
            .where(ApplicationScreenshot.application_id == application_id)
            .order_by(ApplicationScreenshot.number.desc())
            .limit(1)
        )
        or 0
    )
    shots = [("page", png) for png in outcome.screenshots]
    if outcome.confirmation:
        shots.append(("confirmation", outcome.confirmation))
    for kind, png in shots:
        number += 1
        db.session.add(
            applications.new_screenshot(application=application, number=number, kind=kind, png=png)
        )
    browser["screenshots"] = _screenshot_list(application_id)
    package["browser"] = browser
    status = outcome.status
    target = {
        "filled": S.READY_FOR_REVIEW,
        "needs_review": S.NEEDS_REVIEW,
        "needs_human": S.NEEDS_HUMAN,
        "submitted": S.SUBMITTED,
        "already_clicked": S.SUBMITTED_UNCONFIRMED,
    }[status]
    if status == "needs_human":
        package["handoff"] = _handoff(application, package, outcome)
    application.package = package
    if application.state != target:
        applications.move(application, target.value)
    application.error = outcome.reason if status != "submitted" else None
    if submit or status in ("submitted", "already_clicked"):
        sent = status == "submitted"
        clicked = _clicked(send_key(application_id))
        applications.record_submission(
            application,
            channel=SubmissionChannel.BROWSER.value,
            outcome="sent" if sent else ("unknown" if clicked else "failed"),
            detail={
                "ats": outcome.ats,
                "url": outcome.url,
                "reason": outcome.reason,
                "confirmation_screenshot": browser["screenshots"][-1]["number"]
                if outcome.confirmation and browser["screenshots"]
                else None,
            },
            job_id=job.job_id,
        )
    if status == "submitted":
        application.channel = SubmissionChannel.BROWSER.value
        application.submitted_at = utcnow()
    db.session.commit()
    applications.forget_screenshots(replaced)
    return {
        "application_id": application_id,
        "state": application.state,
        "sent": status == "submitted",
        "channel": SubmissionChannel.BROWSER.value,
        "reason": outcome.reason,
    }


def _screenshot_list(application_id: int) -> list[dict[str, Any]]:
    db.session.flush()
    rows = db.session.execute(
        select(ApplicationScreenshot.number, ApplicationScreenshot.kind)
        .where(ApplicationScreenshot.application_id == application_id)
        .order_by(ApplicationScreenshot.number)
    ).all()
    return [
        {"number": n, "kind": k, "url": f"/api/applications/{application_id}/screenshots/{n}"}
        for n, k in rows
    ]


def _handoff(application: Application, package: dict[str, Any], outcome: session.Outcome) -> dict:
    """What the user needs to apply by hand: why, where, the answers and the files."""
    files = []
    tailored = package.get("tailored_resume")
    if tailored:
        files.append(
            {
                "kind": "resume",
                "download": f"/api/user/tailored-resumes/{tailored['id']}?format=pdf",
            }
        )
    elif application.resume_id:
        files.append(
            {"kind": "resume", "download": f"/api/user/resumes/{application.resume_id}/download"}
        )
    answers = [
        {"label": f["label"], "value": f["value"]}
        for f in (package.get("browser") or {}).get("fields") or []
        if f["value"] is not None and f["kind"] != "file"
    ] or [
        {"label": a["label"], "value": a["answer"]}
        for a in package.get("answers") or []
        if a.get("answer") is not None
    ]
    return {
        "reason": outcome.reason,
        "url": outcome.url or package.get("apply_url"),
        "answers": answers,
        "cover_letter": package.get("cover_letter"),
        "files": files,
    }
