"""The limiter service against the real Redis: exactness, sliding, atomicity, keys, quota, caps."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from server import rate_limiter
from server.agent.engines.gemini_errors import seconds_until_pacific_midnight
from server.core.config import ConfigError
from server.rate_limiter import (
    API_PER_USER,
    GEMINI_USER_DAY,
    LIMITS,
    ConcurrencyCap,
    GeminiCaller,
    RateLimit,
    RateLimiter,
    get_rate_limiter,
    limits_from_settings,
    rate_limit,
)
from tests.conftest import TEST_REDIS_URL

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def limiter_with(make_app):
    """A limiter on the test Redis with `RATE_LIMIT_*` overrides (name: value)."""

    def build(**limits: str):
        overrides = {f"RATE_LIMIT_{name.upper()}": value for name, value in limits.items()}
        return get_rate_limiter(make_app(rate_limit_overrides=overrides))

    return build


def run_together(count: int, action):
    """Run `action(i)` in `count` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(i):
        barrier.wait()
        results[i] = action(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# Limits as data


def test_defaults_are_the_seed_limits(settings):
    limits = limits_from_settings(settings)
    assert limits["gemini_requests_per_minute"] == RateLimit(8, 60, "global")
    assert limits["gemini_requests_per_day"] == RateLimit(1000, 86400, "global")
    assert limits["resume_tailoring_per_user_per_day"] == RateLimit(5, 86400, "user")
    assert limits["job_applications_per_user_per_day"] == RateLimit(20, 86400, "user")
    assert limits["api_requests_per_user_per_minute"] == RateLimit(30, 60, "user")
    assert limits["concurrent_tailoring_sessions"].limit == 3
    assert isinstance(limits["concurrent_tailoring_sessions"], ConcurrencyCap)
    for name in ("auth_login_per_ip_per_minute", "auth_register_per_ip_per_hour"):
        assert limits[name].scope == "ip"
    assert limits["api_requests_global_per_minute"].scope == "global"


def test_overrides_change_limits_and_define_new_ones(settings):
    limits = limits_from_settings(
        settings.replace(
            rate_limit_overrides={
                "RATE_LIMIT_RESUME_TAILORING_PER_USER_PER_DAY": "10/86400",
                "RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "50",
                "RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "5/120",
                "RATE_LIMIT_EXPORTS_PER_USER_PER_HOUR": "4/3600",
                "RATE_LIMIT_SEARCH_PER_IP_PER_MINUTE": "60/60",
                "RATE_LIMIT_REPORTS_PER_MINUTE": "2/1.5/global",
            }
        )
    )
    assert limits["resume_tailoring_per_user_per_day"] == RateLimit(10, 86400, "user")
    assert limits["api_requests_per_user_per_minute"] == RateLimit(50, 60, "user")
    assert limits["concurrent_tailoring_sessions"] == ConcurrencyCap(5, 120, "global")
    assert limits["exports_per_user_per_hour"] == RateLimit(4, 3600, "user")
    assert limits["search_per_ip_per_minute"] == RateLimit(60, 60, "ip")
    assert limits["reports_per_minute"] == RateLimit(2, 1.5, "global")


@pytest.mark.parametrize(
    "variable, value",
    [
        ("RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE", "eight"),
        ("RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE", "8/0"),
        ("RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE", "-1/60"),
        ("RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE", "8 per minute"),
        ("RATE_LIMIT_BRAND_NEW_LIMIT", "5"),
        ("RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS", "3/60/user"),
    ],
)
def test_a_bad_override_refuses_to_start(make_app, variable, value):
    with pytest.raises(ConfigError, match=variable):
        make_app(rate_limit_overrides={variable: value})


def test_rate_limit_decorator_rejects_an_unknown_limit():
    with pytest.raises(ValueError, match="no window limit"):
        rate_limit("resume_tailoring_per_usr_per_day")
    assert "resume_tailoring_per_user_per_day" in LIMITS


# Exactness, sliding, atomicity, keys


def test_concurrent_hits_admit_exactly_the_limit(limiter_with):
    limiter = limiter_with(resume_tailoring_per_user_per_day="7/60")
    decisions = run_together(
        50, lambda _i: limiter.hit(["resume_tailoring_per_user_per_day"], "42")
    )
    assert sum(d.allowed for d in decisions) == 7
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


def test_an_allowance_spent_under_a_job_id_is_given_back_alone(limiter_with, redis_conn):
    limiter = limiter_with(resume_tailoring_per_user_per_day="2/86400")
    name = ["resume_tailoring_per_user_per_day"]
    assert limiter.hit(name, "7", holder="job-a").allowed
    assert limiter.hit(name, "7", holder="job-b").allowed
    assert not limiter.hit(name, "7", holder="job-c").allowed

    assert limiter.give_back(holder="job-a", subject="7") == ["resume_tailoring_per_user_per_day"]
    assert limiter.give_back(holder="job-a", subject="7") == []  # once only
    assert limiter.give_back(holder="job-b", subject="8") == []  # another user's
    key = "rate_limit:resume_tailoring_per_user_per_day:7"
    [left] = redis_conn.zrange(key, 0, -1)
    assert left.endswith("-job-b")
    assert limiter.hit(name, "7", holder="job-d").allowed
    assert not limiter.hit(name, "7").allowed


def test_threads_that_start_together_share_one_redis_client(redis_conn):
    built = []

    def slow_factory():
        time.sleep(0.05)  # widen the window in which a second thread could build its own
        client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        built.append(client)
        return client

    limiter = RateLimiter(LIMITS, slow_factory)
    decisions = run_together(20, lambda _i: limiter.hit([API_PER_USER], "7"))
    assert len(built) == 1
    assert all(d.allowed for d in decisions)


def test_the_window_slides_as_old_admissions_age_out(limiter_with):
    # Margins are generous where a slow machine could delay a step; delays only make the
    # measured waits shorter, so the upper bounds are exact.
    limiter = limiter_with(resume_tailoring_per_user_per_day="2/4")
    name = ["resume_tailoring_per_user_per_day"]
    assert limiter.hit(name, "7").allowed
    time.sleep(1.5)
    assert limiter.hit(name, "7").allowed
    refused = limiter.hit(name, "7")
    assert not refused.allowed
    # The first admission frees its slot one window after it was made, not at a fixed edge.
    assert 0 < refused.retry_after <= 2.5
    time.sleep(max(0.0, refused.retry_after - 1.0))
    assert not limiter.hit(name, "7").allowed
    time.sleep(1.1)
    assert limiter.hit(name, "7").allowed
    # The second admission still holds its slot until a window after it was made.
    after = limiter.hit(name, "7")
    assert not after.allowed
    assert 0 < after.retry_after < 4


def test_a_request_refused_by_one_limit_consumes_none_of_the_others(limiter_with, redis_conn):
    limiter = limiter_with(
        job_applications_per_user_per_day="5/60", resume_tailoring_per_user_per_day="1/60"
    )
    both = ["job_applications_per_user_per_day", "resume_tailoring_per_user_per_day"]
    assert limiter.hit(both, "9").allowed
    refused = limiter.hit(both, "9")
    assert not refused.allowed
    assert [s.name for s in refused.refused_by] == ["resume_tailoring_per_user_per_day"]
    assert redis_conn.zcard("rate_limit:job_applications_per_user_per_day:9") == 1
    assert redis_conn.zcard("rate_limit:resume_tailoring_per_user_per_day:9") == 1


def test_an_admission_reports_what_each_limit_has_left_and_when_it_resets(limiter_with):
    limiter = limiter_with(
        job_applications_per_user_per_day="3/60", resume_tailoring_per_user_per_day="2/30"
    )
    both = ["job_applications_per_user_per_day", "resume_tailoring_per_user_per_day"]
    assert limiter.hit(both, "11").allowed
    time.sleep(0.2)
    second = limiter.hit(both, "11")
    applications, tailoring = second.states
    # With room left: the quota is whole again a full window after this admission.
    assert (applications.remaining, applications.reset_seconds) == (1, 60)
    # With none left: the next slot frees a window after the first admission.
    assert tailoring.remaining == 0
    assert 29 < tailoring.reset_seconds <= 29.8
    assert second.most_constraining == tailoring
    refused = limiter.hit(both, "11")
    assert not refused.allowed
    assert [s.name for s in refused.refused_by] == ["resume_tailoring_per_user_per_day"]
    assert refused.states[0].reset_seconds == 0  # not refusing: nothing to wait for
    assert 0 < refused.retry_after == refused.states[1].reset_seconds <= tailoring.reset_seconds


def test_keys_are_named_as_the_runbook_says_and_deleting_one_resets_the_limit(
    limiter_with, redis_conn
):
    limiter = limiter_with(resume_tailoring_per_user_per_day="1/86400")
    name = ["resume_tailoring_per_user_per_day"]
    assert limiter.hit(name, "123").allowed
    assert not limiter.hit(name, "123").allowed
    key = "rate_limit:resume_tailoring_per_user_per_day:123"
    assert 86_000_000 < redis_conn.pttl(key) <= 86_400_000
    redis_conn.delete(key)  # redis-cli DEL "rate_limit:resume_tailoring_per_user_per_day:123"
    assert limiter.hit(name, "123").allowed
    assert limiter.hit(name, "124").allowed  # other users were never affected


def test_global_limits_count_against_one_shared_subject(limiter_with, redis_conn):
    limiter = limiter_with(api_requests_global_per_minute="2/60")
    assert limiter.hit(["api_requests_global_per_minute"], "1").allowed
    assert limiter.hit(["api_requests_global_per_minute"], "2").allowed
    assert not limiter.hit(["api_requests_global_per_minute"], "3").allowed
    assert redis_conn.zcard("rate_limit:api_requests_global_per_minute:global") == 2


def test_usage_reports_each_limit_of_a_subject(limiter_with):
    limiter = limiter_with(job_applications_per_user_per_day="20/86400")
    limiter.hit(["job_applications_per_user_per_day"], "5")
    limiter.acquire("concurrent_tailoring_sessions", "job-1")
    rows = {row["limit"]: row for row in limiter.usage("5")}
    assert rows["job_applications_per_user_per_day"]["used"] == 1
    assert rows["job_applications_per_user_per_day"]["remaining"] == 19
    assert rows["resume_tailoring_per_user_per_day"]["used"] == 0
    assert rows["concurrent_tailoring_sessions"]["used"] == 1
    assert set(rows) == set(limiter.limits)


# The Gemini quota


def test_concurrent_gemini_reservations_never_exceed_the_minute_limit(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="8/60")
    reservations = run_together(50, lambda _i: limiter.reserve_gemini_call())
    granted = [r for r in reservations if r.granted]
    assert len(granted) == 8
    assert len({r.token for r in granted}) == 8
    assert all(r.retry_after > 50 for r in reservations if not r.granted)
    status = limiter.gemini_quota_status()
    assert status["gemini_requests_per_minute"]["used"] == 8
    assert status["gemini_requests_per_minute"]["remaining"] == 0
    assert status["gemini_requests_per_day"]["used"] == 8
    assert status["gemini_requests_per_day"]["remaining"] == 992


def test_gemini_reservations_stay_within_every_sliding_window(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="3/0.5")
    stop = time.monotonic() + 1.6

    def hammer(_i):
        tokens = []
        while time.monotonic() < stop:
            reservation = limiter.reserve_gemini_call()
            if reservation.granted:
                tokens.append(reservation.token)
            else:
                time.sleep(min(reservation.retry_after, 0.01))
        return tokens

    tokens = [t for batch in run_together(8, hammer) for t in batch]
    # Each token starts with the Redis server time of its admission: "<seconds>.<micros>-...".
    times = sorted(int(s) + int(us) / 1e6 for s, us in (t.split("-")[0].split(".") for t in tokens))
    assert len(times) >= 9  # the window slid at least three times
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + 0.5]
        assert len(in_window) <= 3


def test_a_day_quota_limits_even_when_the_minute_has_room(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="8/60", gemini_requests_per_day="2/86400")
    assert limiter.reserve_gemini_call().granted
    assert limiter.reserve_gemini_call().granted
    refused = limiter.reserve_gemini_call()
    assert not refused.granted
    assert refused.retry_after > 86_000
    assert "gemini_requests_per_day" in refused.reason


def test_releasing_a_reservation_refunds_both_windows(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="1/60")
    reservation = limiter.reserve_gemini_call()
    assert reservation.granted
    assert not limiter.reserve_gemini_call().granted
    assert limiter.release_gemini_call(reservation)
    status = limiter.gemini_quota_status()
    assert status["gemini_requests_per_day"]["used"] == 0
    assert limiter.reserve_gemini_call().granted
    assert not limiter.release_gemini_call(limiter.reserve_gemini_call())  # refused: no refund


def test_a_settled_call_holds_its_slot_a_whole_window_from_when_it_finished(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="1/1")
    reservation = limiter.reserve_gemini_call()
    time.sleep(0.6)  # the call takes a while to reach Gemini and come back
    assert limiter.settle_gemini_call(reservation)
    time.sleep(0.6)  # a window after the reservation, but not after the call
    assert not limiter.reserve_gemini_call().granted
    time.sleep(0.5)
    assert limiter.reserve_gemini_call().granted
    assert not limiter.settle_gemini_call(limiter.reserve_gemini_call())  # refused: nothing held


def test_a_user_at_their_share_of_the_gemini_window_waits_while_another_users_job_asks(
    limiter_with,
):
    limiter = limiter_with(gemini_requests_per_minute="6/60")
    flooder, other = GeminiCaller("1", "job-a"), GeminiCaller("2", "job-b")
    # Alone, a user may use the whole window.
    assert limiter.reserve_gemini_call(flooder).granted
    assert limiter.reserve_gemini_call(flooder).granted
    # Another user's job asks: the window is shared by two, 3 calls each.
    assert limiter.reserve_gemini_call(other).granted
    assert limiter.reserve_gemini_call(flooder).granted
    refused = limiter.reserve_gemini_call(flooder)
    assert not refused.granted  # though the window has room for two more
    assert "share of gemini_requests_per_minute: 3 a window while 2 users" in refused.reason
    assert 55 < refused.retry_after <= 60
    assert limiter.reserve_gemini_call(other).granted  # the room is the other user's
    # The other user's job has finished: the flooder may use what the window has left.
    limiter.leave_gemini_share(other)
    assert limiter.reserve_gemini_call(flooder).granted
    assert limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"] == 6


def test_the_share_is_per_user_however_many_jobs_they_have_asking(limiter_with):
    limiter = limiter_with(gemini_requests_per_minute="4/60")
    for job in range(5):  # one user's five jobs count as one user
        assert limiter.reserve_gemini_call(GeminiCaller("1", f"job-{job}")).granted is (job < 4)
    limiter.release_gemini_call(limiter.reserve_gemini_call())  # a call outside any job
    status = limiter.gemini_quota_status()["gemini_requests_per_minute"]
    assert status["used"] == 4


def test_every_gemini_call_of_a_job_counts_against_its_users_daily_allowance(limiter_with):
    limiter = limiter_with(gemini_requests_per_user_per_day="2/86400")
    spender, other = GeminiCaller("7", "job-1"), GeminiCaller("8", "job-2")
    assert limiter.reserve_gemini_call(spender).granted
    assert limiter.reserve_gemini_call(GeminiCaller("7", "job-3")).granted
    refused = limiter.reserve_gemini_call(spender)
    assert not refused.granted
    assert refused.reason == "gemini_requests_per_user_per_day reached"
    assert refused.retry_after > 86_000
    assert limiter.reserve_gemini_call(other).granted  # someone else's allowance is untouched
    [row] = [r for r in limiter.usage("7", "user") if r["limit"] == GEMINI_USER_DAY]
    assert (row["used"], row["remaining"]) == (2, 0)


def test_a_refunded_call_gives_back_the_users_allowance_and_share(limiter_with):
    limiter = limiter_with(
        gemini_requests_per_minute="1/60", gemini_requests_per_user_per_day="1/86400"
    )
    caller = GeminiCaller("3", "job-1")
    reservation = limiter.reserve_gemini_call(caller)
    assert reservation.granted and not limiter.reserve_gemini_call(caller).granted
    assert limiter.release_gemini_call(reservation)
    assert limiter.reserve_gemini_call(caller).granted


def test_a_token_spent_once_is_admitted_again_without_spending_again(limiter_with):
    limiter = limiter_with(resume_tailoring_per_user_per_day="2/86400")
    name = "resume_tailoring_per_user_per_day"
    assert limiter.spend_once(name, "5", "job:a").allowed
    assert limiter.spend_once(name, "5", "job:a").allowed  # the same job, run again
    assert limiter.spend_once(name, "5", "job:b").allowed
    refused = limiter.spend_once(name, "5", "job:c")
    assert not refused.allowed and refused.retry_after > 86_000
    assert limiter.spend_once(name, "5", "job:a").allowed
    [row] = [r for r in limiter.usage("5", "user") if r["limit"] == name]
    assert row["used"] == 2


def test_an_upstream_429_pauses_every_reservation_for_its_retry_delay(limiter_with):
    limiter = limiter_with()
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota. Please retry in 1.2s.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
            ],
        }
    }
    assert limiter.record_gemini_error(body) == pytest.approx(3.0, abs=0.01)
    refused = limiter.reserve_gemini_call()
    assert not refused.granted
    assert 2.0 < refused.retry_after <= 3.0
    assert limiter.gemini_quota_status()["pause_reason"] == "Gemini asked to retry in 3s"
    time.sleep(1.5)
    assert not limiter.reserve_gemini_call().granted
    time.sleep(1.6)
    assert limiter.reserve_gemini_call().granted
    # The refused reservations took nothing from the quota.
    assert limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"] == 1


def test_a_per_day_quota_error_pauses_until_midnight_pacific(limiter_with, redis_conn):
    limiter = limiter_with()
    body = {
        "error": {
            "code": 429,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"},
            ],
        }
    }
    seconds, micros = redis_conn.time()
    expected = seconds_until_pacific_midnight(seconds + micros / 1e6)
    paused = limiter.record_gemini_error(body)
    assert paused == pytest.approx(expected, abs=2)
    status = limiter.gemini_quota_status()
    until = datetime.fromisoformat(status["paused_until"].replace("Z", "+00:00"))
    assert until.astimezone(LOS_ANGELES).time().replace(microsecond=0).isoformat() in {
        "00:00:00",
        "23:59:59",
    }
    assert not limiter.reserve_gemini_call().granted


def test_errors_that_are_not_quota_errors_do_not_pause(limiter_with):
    limiter = limiter_with()
    overloaded = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}
    assert limiter.record_gemini_error(overloaded) is None
    assert limiter.reserve_gemini_call().granted


def test_a_pause_is_never_shortened(limiter_with):
    limiter = limiter_with()
    limiter.pause_gemini(30, "long")
    assert limiter.pause_gemini(1, "short") > 29
    assert limiter.gemini_quota_status()["pause_reason"] == "long"


def test_midnight_pacific_follows_daylight_saving_time():
    # 2026-03-08 00:30 PST: the next midnight is 23 h 30 min away in local time but the
    # clocks spring forward at 02:00, so only 22.5 h pass.
    start = datetime(2026, 3, 8, 8, 30, tzinfo=UTC).timestamp()
    assert seconds_until_pacific_midnight(start) == 22.5 * 3600
    # 2026-11-29 23:59:00 PST: one minute.
    assert (
        seconds_until_pacific_midnight(datetime(2026, 11, 30, 7, 59, tzinfo=UTC).timestamp()) == 60
    )


# Concurrency caps


def test_a_holder_that_never_releases_frees_its_slot_when_the_lease_expires(limiter_with):
    limiter = limiter_with(concurrent_tailoring_sessions="2/3")
    cap = "concurrent_tailoring_sessions"
    assert limiter.acquire(cap, "crashed").acquired
    time.sleep(1.0)
    assert limiter.acquire(cap, "alive").acquired
    refused = limiter.acquire(cap, "waiting")
    assert not refused.acquired
    assert refused.holders == 2
    assert 0 < refused.retry_after <= 2.0  # when the crashed holder's lease runs out
    time.sleep(0.5)
    assert limiter.renew(cap, "alive").acquired  # the live holder keeps its slot
    time.sleep(max(0.0, refused.retry_after - 0.5) + 0.2)
    assert limiter.acquire(cap, "waiting").acquired  # the crashed holder's lease ran out
    assert not limiter.renew(cap, "crashed").acquired  # ...and it cannot renew a lost lease
    assert not limiter.acquire(cap, "another").acquired


def test_concurrent_acquires_never_exceed_the_cap_and_release_frees_a_slot(limiter_with):
    limiter = limiter_with(concurrent_tailoring_sessions="3/60")
    cap = "concurrent_tailoring_sessions"
    leases = run_together(20, lambda i: limiter.acquire(cap, f"job-{i}"))
    holders = [f"job-{i}" for i, lease in enumerate(leases) if lease.acquired]
    assert len(holders) == 3
    assert not limiter.acquire(cap, "late").acquired
    limiter.release(cap, holders[0])
    assert limiter.acquire(cap, "late").acquired
    assert limiter.acquire(cap, holders[1]).acquired  # acquiring again keeps the same slot


def test_a_cap_of_zero_refuses_without_taking_the_limiter_offline(make_app):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "0/30"})
    with app.app_context():
        lease = rate_limiter.acquire("concurrent_tailoring_sessions", "job-1")
        assert not lease.acquired and lease.retry_after > 0
        assert not rate_limiter.degraded()
        assert rate_limiter.reserve_gemini_call().granted


def test_the_limiters_commands_reach_redis_as_redis_py_would_send_them(redis_conn):
    from redis.connection import PythonRespSerializer

    from server.rate_limiter.limiter import pack_command

    encode = redis.connection.Encoder("utf-8", "strict", False).encode
    command = ("EVALSHA", "ab12", 2, "k:ü", b"raw\r\nbytes", 3.5, 0, "")
    wire = b"".join(PythonRespSerializer(6000, encode).pack(*command))
    assert pack_command(encode, command) == wire
    # and Redis reads it: a script echoing its arguments gets them back unchanged
    conn = redis_conn.connection_pool.get_connection()
    try:
        script = "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]}"
        conn.send_packed_command([pack_command(encode, ("EVAL", script, *command[2:]))])
        assert conn.read_response() == ["k:ü", "raw\r\nbytes", "3.5", "0", ""]
    finally:
        redis_conn.connection_pool.release(conn)


def test_work_overlapping_a_script_runs_once_even_when_the_script_must_be_loaded_again(
    limiter_with, redis_conn
):
    limiter = limiter_with()
    script = "return redis.call('INCR', KEYS[1])"
    ran: list[int] = []
    replies = [limiter.run_script(script, ["overlap:count"], [], lambda: ran.append(1))]
    redis_conn.script_flush()  # the next EVALSHA answers NOSCRIPT: loaded and run again
    replies.append(limiter.run_script(script, ["overlap:count"], [], lambda: ran.append(2)))
    replies.append(limiter.run_script(script, ["overlap:count"], []))
    assert replies == [1, 2, 3]  # each call ran the script exactly once
    assert ran == [1, 2]
