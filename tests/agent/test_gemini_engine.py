"""The Gemini engine through the real google-genai client against the local stand-in."""

from __future__ import annotations

import time

import pytest

from server import rate_limiter
from server.agent.engines import EngineError, get_engine
from server.agent.engines.gemini_errors import seconds_until_pacific_midnight
from server.agent.engines.local import LocalEngine
from server.jobs import job_queue
from server.workers.job_handlers import QuotaWait, RetryableJobError
from tests.gemini_stand_in import GeminiStandIn
from tests.queue_helpers import fetch_job, make_user, wait_for

JOB_DESCRIPTION = "We are hiring a Senior Backend Engineer. Requirements: Python; PostgreSQL."
REQUIREMENTS = {
    "title": "Senior Backend Engineer",
    "seniority": "senior",
    "requirements": [
        {"text": "Python", "kind": "skill", "keywords": ["Python"], "importance": "required"},
        {
            "text": "PostgreSQL",
            "kind": "skill",
            "keywords": ["PostgreSQL"],
            "importance": "required",
        },
    ],
    "keywords": ["Python", "PostgreSQL"],
}


@pytest.fixture
def stand_in():
    server = GeminiStandIn(api_key="test-key").start()
    server.answer = REQUIREMENTS
    yield server
    server.stop()


@pytest.fixture
def gemini_app(make_app, stand_in):
    """An app whose engine is Gemini, reached at the stand-in."""

    def build(**overrides):
        settings = {
            "google_api_key": "test-key",
            "gemini_model": "gemini-test",
            "gemini_base_url": stand_in.base_url,
            "gemini_timeout_seconds": 5.0,
            **overrides,
        }
        return make_app(**settings)

    return build


def test_a_structured_call_returns_the_parsed_json_and_names_the_engine(gemini_app, stand_in):
    with gemini_app().app_context():
        result = get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        used = rate_limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"]
    assert result["requirements"] == REQUIREMENTS["requirements"]
    assert (result["engine"], result["model"], result["cached"]) == ("gemini", "gemini-test", False)
    assert used == 1
    [request] = stand_in.requests
    assert request["path"] == "/v1beta/models/gemini-test:generateContent"
    assert request["headers"]["x-goog-api-key"] == "test-key"
    config = request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == [
        "title",
        "seniority",
        "requirements",
        "keywords",
    ]
    assert "Never invent" in request["body"]["systemInstruction"]["parts"][0]["text"]
    assert JOB_DESCRIPTION in request["body"]["contents"][0]["parts"][0]["text"]


def test_the_pinned_api_version_is_the_one_called(gemini_app, stand_in):
    with gemini_app(gemini_api_version="v1").app_context():
        get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
    assert stand_in.requests[0]["path"] == "/v1/models/gemini-test:generateContent"


def test_an_identical_request_is_answered_from_the_cache_without_quota(gemini_app, stand_in):
    with gemini_app().app_context():
        engine = get_engine()
        first = engine.extract_requirements(job_description=JOB_DESCRIPTION)
        second = engine.extract_requirements(job_description=JOB_DESCRIPTION)
        other = engine.extract_requirements(job_description=JOB_DESCRIPTION + " Go.")
        used = rate_limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"]
    assert second["cached"] is True and second["requirements"] == first["requirements"]
    assert other["cached"] is False
    assert len(stand_in.requests) == 2
    assert used == 2


def test_the_cache_is_checked_before_the_quota(gemini_app, stand_in):
    app = gemini_app(rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "1/60"})
    with app.app_context():
        engine = get_engine()
        engine.extract_requirements(job_description=JOB_DESCRIPTION)
        # The quota is now used up, yet the same request is still answered.
        assert engine.extract_requirements(job_description=JOB_DESCRIPTION)["cached"] is True
    assert len(stand_in.requests) == 1


def test_a_refused_reservation_makes_no_call(gemini_app, stand_in):
    app = gemini_app(rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "1/60"})
    with app.app_context():
        assert rate_limiter.reserve_gemini_call().granted  # someone else took the slot
        with pytest.raises(QuotaWait) as waited:
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
    assert 50 < waited.value.retry_after_seconds <= 60
    assert stand_in.requests == []


def test_a_429_pauses_the_quota_for_its_retry_delay_and_defers(gemini_app, stand_in):
    stand_in.fail_next("429", retry_delay="23s")
    with gemini_app().app_context():
        with pytest.raises(QuotaWait) as waited:
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        status = rate_limiter.gemini_quota_status()
        refused = rate_limiter.reserve_gemini_call()
    assert waited.value.retry_after_seconds == pytest.approx(23, abs=0.5)
    assert status["pause_reason"] == "Gemini asked to retry in 23s"
    assert status["pause_seconds"] == pytest.approx(23, abs=0.5)
    assert not refused.granted
    assert len(stand_in.requests) == 1  # the SDK did not retry on its own


def test_a_per_day_quota_429_pauses_until_midnight_pacific(gemini_app, stand_in, redis_conn):
    stand_in.fail_next("429-daily", retry_delay="23s")
    with gemini_app().app_context():
        with pytest.raises(QuotaWait) as waited:
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        status = rate_limiter.gemini_quota_status()
    seconds, micros = redis_conn.time()
    expected = seconds_until_pacific_midnight(seconds + micros / 1e6)
    assert waited.value.retry_after_seconds == pytest.approx(expected, abs=5)
    assert status["pause_reason"].startswith("daily Gemini quota exhausted")


def test_an_upstream_500_is_retryable_and_made_once(gemini_app, stand_in):
    stand_in.fail_next("500")
    with gemini_app().app_context():
        with pytest.raises(RetryableJobError, match="500 INTERNAL"):
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        status = rate_limiter.gemini_quota_status()
    assert len(stand_in.requests) == 1
    assert status["paused_until"] is None


@pytest.mark.parametrize(
    ("key", "failure", "raised"),
    [("test-key", "500", RetryableJobError), ("wrong-key", None, EngineError)],
    ids=["server-error", "refused-key"],
)
def test_a_call_gemini_answered_with_an_error_still_counts_against_the_quota(
    gemini_app, stand_in, key, failure, raised
):
    if failure:
        stand_in.fail_next(failure)
    with gemini_app(google_api_key=key).app_context():
        with pytest.raises(raised):
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        quota = rate_limiter.gemini_quota_status()
    # The request reached Gemini, which counts it: the slot is kept, not given back.
    assert len(stand_in.requests) == 1
    assert quota["gemini_requests_per_minute"]["used"] == 1
    assert quota["gemini_requests_per_day"]["used"] == 1


def test_a_slow_answer_times_out_as_retryable(gemini_app, stand_in):
    stand_in.fail_next("slow", seconds=3)
    with gemini_app(gemini_timeout_seconds=0.5).app_context():
        engine = get_engine()
        started = time.monotonic()
        with pytest.raises(RetryableJobError, match="did not answer"):
            engine.extract_requirements(job_description=JOB_DESCRIPTION)
        waited = time.monotonic() - started
    assert waited < 2.5  # the stand-in would have answered after 3 s
    assert stand_in.requests[0]["headers"]["X-Server-Timeout"] == "1"


def test_a_bad_key_is_a_permanent_error(gemini_app, stand_in):
    with gemini_app(google_api_key="wrong-key").app_context():
        with pytest.raises(EngineError, match="API key not valid"):
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)


def test_a_reply_that_breaks_the_schema_is_retried_and_not_cached(gemini_app, stand_in):
    stand_in.answer = {"requirements": "Python"}
    with gemini_app().app_context():
        engine = get_engine()
        with pytest.raises(RetryableJobError, match="does not match its schema"):
            engine.extract_requirements(job_description=JOB_DESCRIPTION)
        stand_in.answer = REQUIREMENTS
        assert engine.extract_requirements(job_description=JOB_DESCRIPTION)["cached"] is False
    assert len(stand_in.requests) == 2


def test_without_a_key_the_local_engine_answers(make_app, stand_in):
    with make_app(google_api_key=None).app_context():
        engine = get_engine()
        result = engine.extract_requirements(job_description=JOB_DESCRIPTION)
    assert isinstance(engine, LocalEngine)
    assert result["engine"] == "local"
    assert stand_in.requests == []


def test_a_429_defers_the_job_without_an_attempt_and_it_later_succeeds(
    gemini_app, stand_in, run_pool, handler
):
    app = gemini_app()
    stand_in.fail_next("429", retry_delay="1s")

    def extracts(job):
        return get_engine().extract_requirements(job_description=job.payload["text"])

    # One attempt only: a 429 that counted as an attempt would fail the job.
    handler("extracts_requirements", extracts, max_attempts=1)
    with app.app_context():
        job_id = job_queue.submit_job(
            user_id=make_user(), job_type="extracts_requirements", payload={"text": "Python"}
        )
        run_pool(app, threads=1)
        deferred = wait_for(lambda: fetch_job(job_id).status == "scheduled" and fetch_job(job_id))
        assert deferred.attempts == 0 and deferred.error is None
        assert deferred.progress_message.startswith("waiting for the Gemini quota")
        assert rate_limiter.gemini_quota_status()["paused_until"] is not None
        done = wait_for(
            lambda: fetch_job(job_id).status in ("succeeded", "failed") and fetch_job(job_id),
            timeout=20,
        )
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert done.result["engine"] == "gemini" and done.result["keywords"] == ["Python", "PostgreSQL"]
    assert len(stand_in.requests) == 2


def test_edits_that_do_not_fit_the_resume_are_rejected_with_a_reason(gemini_app, stand_in):
    resume = {"experience": [{"employer": "Acme", "bullets": ["Built APIs", "Ran Postgres"]}]}
    fits = {
        "section": "experience",
        "action": "reorder",
        "experience_index": 0,
        "order": [1, 0],
        "keywords": ["PostgreSQL"],
        "reason": "Postgres first",
    }
    no_such_bullet = {
        "section": "experience",
        "action": "rewrite",
        "experience_index": 0,
        "bullet_index": 7,
        "text": "Led a team of 40",
        "keywords": [],
        "reason": "stronger",
    }
    stand_in.answer = {"edits": [fits, no_such_bullet]}
    with gemini_app().app_context():
        result = get_engine().propose_edits(
            resume=resume, requirements=REQUIREMENTS["requirements"], evidence=[]
        )
    assert result["edits"] == [fits]
    assert result["rejected_edits"] == [
        {"edit": no_such_bullet, "reason": "no bullet 7 in experience entry 0"}
    ]


def test_rankings_keep_known_candidates_once_best_first(gemini_app, stand_in):
    def ranking(id_, score):
        return {
            "id": id_,
            "score": score,
            "matched_keywords": [],
            "missing_keywords": [],
            "reason": "",
        }

    stand_in.answer = {"rankings": [ranking("a", 10), ranking("ghost", 99), ranking("b", 80)]}
    candidates = [{"id": "a", "text": "Java"}, {"id": "b", "text": "Python"}]
    with gemini_app().app_context():
        result = get_engine().rank(query="Python", candidates=candidates)
    assert [r["id"] for r in result["rankings"]] == ["b", "a"]


def test_an_unreachable_gemini_is_retryable_and_gives_the_slot_back(gemini_app, stand_in):
    stand_in.stop()  # nothing listens on its port any more
    with gemini_app().app_context():
        with pytest.raises(RetryableJobError, match="could not be reached"):
            get_engine().extract_requirements(job_description=JOB_DESCRIPTION)
        used = rate_limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"]
    assert used == 0


def test_a_zero_cache_ttl_caches_nothing(gemini_app, stand_in):
    with gemini_app(llm_cache_ttl_seconds=0).app_context():
        engine = get_engine()
        engine.extract_requirements(job_description=JOB_DESCRIPTION)
        again = engine.extract_requirements(job_description=JOB_DESCRIPTION)
    assert again["cached"] is False and len(stand_in.requests) == 2


def test_contact_details_and_raw_text_are_not_sent(gemini_app, stand_in):
    resume = {
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "raw_text": "Ada Lovelace ada@example.com",
        "summary": "Engineer",
        "skills": ["Python"],
    }
    stand_in.answer = {"edits": []}
    with gemini_app().app_context():
        get_engine().propose_edits(resume=resume, requirements=[], evidence=[])
    sent = stand_in.requests[0]["body"]["contents"][0]["parts"][0]["text"]
    assert "ada@example.com" not in sent and "Ada" not in sent
    assert '"skills": ["Python"]' in sent
