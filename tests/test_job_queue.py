"""The queue without workers: order, per-user cap, leases and fencing, cancel, reconciler."""

import logging
import time

import pytest

from server import rate_limiter
from server.jobs import job_queue
from server.jobs import job_queue_scripts as scripts
from server.jobs.job_queue import JobPriority, NewJob, Outcome, OutcomeKind
from server.models import JobStatus
from server.models.job import new_job_id
from tests.queue_helpers import fetch_job, make_user, wait_for

P = JobPriority


def claim_one(worker="w1"):
    claimed = job_queue.claim_jobs(worker_id=worker, limit=1)
    return claimed[0] if claimed else None


def claim_all(worker="w1"):
    out = []
    while (job := claim_one(worker)) is not None:
        out.append(job)
    return out


@pytest.fixture
def wide_app(make_app):
    """An app whose per-user cap does not get in the way of ordering tests."""
    app = make_app(job_queue_max_per_user=100_000)
    with app.app_context():
        yield app


def test_claims_follow_priority_then_submission_order_exactly(wide_app):
    user = make_user()
    other = make_user()
    mix = [P.BULK, P.NORMAL, P.CRITICAL, P.LOW, P.HIGH, P.NORMAL, P.CRITICAL, P.BULK, P.HIGH]
    submitted = []
    for index, priority in enumerate(mix * 3):
        owner = user if index % 2 else other
        job_id = job_queue.submit_job(
            user_id=owner, job_type="diagnostic", payload={}, priority=priority
        )
        submitted.append((int(priority), index, job_id))
    expected = [job_id for _p, _i, job_id in sorted(submitted)]
    assert [job.job_id for job in claim_all()] == expected


def test_user_at_cap_does_not_block_other_users(app):
    busy, other = make_user(), make_user()
    busy_jobs = job_queue.submit_jobs(jobs=[NewJob(busy, "diagnostic") for _ in range(5)])
    other_job = job_queue.submit_job(user_id=other, job_type="diagnostic", payload={})

    claimed = job_queue.claim_jobs(worker_id="w1", limit=10)
    assert [job.job_id for job in claimed] == [busy_jobs[0], busy_jobs[1], other_job]
    assert claim_one() is None  # the busy user is at the cap (2)

    assert job_queue.complete_job(job_id=busy_jobs[0], lease_token=claimed[0].lease_token)
    assert claim_one().job_id == busy_jobs[2]
    assert claim_one() is None


def test_a_thousand_waiting_jobs_of_one_user_do_not_delay_another_users_job(app):
    heavy, light = make_user(), make_user()
    job_queue.submit_jobs(jobs=[NewJob(heavy, "diagnostic") for _ in range(1000)])
    single = job_queue.submit_job(user_id=light, job_type="diagnostic", payload={})
    assert job_queue.queue_position(job_id=single) == 1001

    first_three = [claim_one().job_id for _ in range(3)]
    assert first_three[2] == single
    # The claim costs the same whether the heavy user has 1,000 jobs waiting or none.
    assert claim_one() is None


def test_position_in_line_counts_the_jobs_ahead(app):
    user = make_user()
    low = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}, priority=P.LOW)
    high = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}, priority=P.HIGH)
    assert job_queue.queue_position(job_id=high) == 1
    assert job_queue.queue_position(job_id=low) == 2


def test_claim_marks_the_job_running_with_an_attempt_and_a_worker(app):
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={"sleep_ms": 1})
    claimed = claim_one(worker="worker-a")
    assert claimed.payload == {"sleep_ms": 1} and claimed.attempt == 1
    row = fetch_job(job_id)
    assert row.status == JobStatus.RUNNING.value
    assert row.worker_id == "worker-a" and row.attempts == 1 and row.started_at is not None
    assert job_queue.queue_position(job_id=job_id) is None


def test_a_stale_workers_late_completion_is_refused(make_app):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        user = make_user()
        job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        stale = claim_one(worker="stale")
        wait_for(lambda: job_queue.reap_expired_leases()["requeued"] == 1)
        fresh = claim_one(worker="fresh")
        assert fresh.job_id == job_id and fresh.lease_token != stale.lease_token

        assert not job_queue.complete_job(
            job_id=job_id, lease_token=stale.lease_token, result={"by": "stale"}
        )
        assert not job_queue.fail_job(job_id=job_id, lease_token=stale.lease_token, error="x")
        row = fetch_job(job_id)
        assert row.status == JobStatus.RUNNING.value and row.worker_id == "fresh"

        assert job_queue.complete_job(
            job_id=job_id, lease_token=fresh.lease_token, result={"by": "fresh"}
        )
        row = fetch_job(job_id)
        assert row.status == "succeeded" and row.result == {"by": "fresh"}
        assert row.lost_leases == 1 and row.attempts == 1


def test_a_stale_workers_batch_of_successes_is_refused(make_app):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        user = make_user()
        ids = [
            job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(2)
        ]
        stale = claim_all(worker="stale")
        reaped = 0

        def both_reaped():
            nonlocal reaped
            reaped += job_queue.reap_expired_leases()["requeued"]
            return reaped == 2

        wait_for(both_reaped)
        fresh = claim_all(worker="fresh")
        assert sorted(job.job_id for job in fresh) == sorted(ids)

        # Two successes in one call take the single-statement path for batches.
        late = [
            Outcome(job.job_id, job.lease_token, OutcomeKind.SUCCEEDED, result={"by": "stale"})
            for job in stale
        ]
        assert job_queue.record_outcomes(late) == []
        for job_id in ids:
            row = fetch_job(job_id)
            assert row.status == JobStatus.RUNNING.value and row.worker_id == "fresh"
            assert row.result is None
        assert job_queue.renew_leases([(job.job_id, job.lease_token) for job in fresh]) == [1, 1]


def test_the_redis_settle_script_refuses_a_stale_lease_token(make_app, redis_conn):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        stale = claim_one(worker="stale")
        wait_for(lambda: job_queue.reap_expired_leases()["requeued"] == 1)
        fresh = claim_one(worker="fresh")

        settle = redis_conn.register_script(scripts.SETTLE)
        cap = app.config["SETTINGS"].job_queue_max_per_user
        for op in ("ack", "retry"):
            args = [cap, job_id, stale.lease_token, op, 0]
            assert settle(keys=job_queue.QUEUE_KEYS, args=args) == [0]
        # The fresh worker still holds the job, and nobody else can claim it.
        assert job_queue.renew_leases([(job_id, fresh.lease_token)]) == [1]
        assert claim_one(worker="third") is None


def test_an_expired_lease_goes_back_to_its_original_place_in_line(make_app):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        user, other = make_user(), make_user()
        first = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        later = [
            job_queue.submit_job(user_id=other, job_type="diagnostic", payload={}) for _ in range(2)
        ]
        assert claim_one().job_id == first
        wait_for(lambda: job_queue.reap_expired_leases()["requeued"] == 1)
        assert fetch_job(first).status == JobStatus.QUEUED.value
        assert job_queue.queue_position(job_id=first) == 1
        assert [claim_one().job_id for _ in range(3)] == [first, *later]


def test_renewed_leases_are_not_reaped(make_app, redis_conn):
    # A 3 s lease renewed every second: a 2 s stall of a loaded machine is still tolerated.
    app = make_app(job_queue_lease_seconds=3.0)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        claimed = claim_one()
        first_expiry = redis_conn.zscore(job_queue.KEY_PREFIX + "running", job_id)
        began = time.monotonic()
        while time.monotonic() - began < 3.5:  # past the first lease's end
            time.sleep(1.0)
            assert job_queue.renew_leases([(job_id, claimed.lease_token)]) == [1]
            assert job_queue.reap_expired_leases()["requeued"] == 0
        assert redis_conn.zscore(job_queue.KEY_PREFIX + "running", job_id) > first_expiry + 3000
        assert fetch_job(job_id).status == JobStatus.RUNNING.value


def test_a_job_fails_clearly_after_too_many_lost_leases(make_app):
    app = make_app(job_queue_lease_seconds=1.0, job_queue_max_lost_leases=2)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        for reaped in ("requeued", "failed"):
            assert claim_one().job_id == job_id
            wait_for(lambda reaped=reaped: job_queue.reap_expired_leases()[reaped] == 1)
        row = fetch_job(job_id)
        assert row.status == JobStatus.FAILED.value
        assert "lost its worker lease 2 times" in row.error
        assert claim_one() is None


def test_a_run_lost_with_its_worker_does_not_use_up_one_of_the_jobs_attempts(make_app):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        assert claim_one().attempt == 1
        wait_for(lambda: job_queue.reap_expired_leases()["requeued"] == 1)
        again = claim_one()
        assert again.attempt == 1 and fetch_job(again.job_id).lost_leases == 1


def test_cancel_removes_a_waiting_job_at_once_and_keeps_the_users_other_jobs(app):
    user = make_user()
    first, second = (
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(2)
    )
    job = job_queue.cancel_job(job_id=first, user_id=user)
    assert job.status == JobStatus.CANCELLED.value and job.finished_at is not None
    assert job_queue.queue_position(job_id=first) is None
    assert claim_one().job_id == second
    assert claim_one() is None


def test_cancel_of_a_running_job_sets_the_flag_and_no_result_can_overwrite_it(app):
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    claimed = claim_one()
    job = job_queue.cancel_job(job_id=job_id, user_id=user)
    assert job.status == JobStatus.RUNNING.value and job.cancel_requested
    # What the worker's heartbeat sees: the lease still held, a cancel asked for.
    assert job_queue.renew_leases([(job_id, claimed.lease_token)]) == [2]

    assert job_queue.complete_job(job_id=job_id, lease_token=claimed.lease_token, result=42)
    row = fetch_job(job_id)
    assert row.status == JobStatus.CANCELLED.value and row.result is None


def test_retry_and_quota_wait_keep_the_place_in_line(app):
    user, other = make_user(), make_user()
    first = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    behind = job_queue.submit_job(user_id=other, job_type="diagnostic", payload={})
    claimed = claim_one()
    assert job_queue.retry_job(
        job_id=first, lease_token=claimed.lease_token, error="flaky", delay_seconds=0.3
    )
    row = fetch_job(first)
    assert row.status == JobStatus.SCHEDULED.value and row.error == "flaky"
    assert row.run_after is not None
    time.sleep(0.35)
    assert claim_one().job_id == first  # promoted ahead of the job submitted after it
    assert claim_one().job_id == behind


CAP = "concurrent_tailoring_sessions"


def wait_for_a_slot(job, delay_seconds=60.0):
    """Record that the claimed job waits for a slot of `CAP` (at most `delay_seconds`)."""
    outcome = Outcome(
        job.job_id, job.lease_token, OutcomeKind.DEFER, delay_seconds=delay_seconds, waits_for=CAP
    )
    assert job_queue.record_outcomes([outcome]) == [job.job_id]


def test_a_freed_slot_brings_the_earliest_job_waiting_for_it_forward(app, redis_conn):
    first, second = (
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        for _ in range(2)
    )
    for job in job_queue.claim_jobs(worker_id="w1", limit=2):
        wait_for_a_slot(job)
    assert claim_one() is None and fetch_job(first).status == JobStatus.SCHEDULED.value
    assert job_queue.promote_cap_waiters(cap_name="another_cap") == 0

    assert job_queue.promote_cap_waiters(cap_name=CAP) == 1
    assert redis_conn.llen(job_queue.WAKE_KEY) == 1  # an idle claimer is woken for it
    assert claim_one().job_id == first  # the earliest in line, long before its delay
    assert claim_one() is None  # one slot freed, one job brought forward
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 1
    assert claim_one().job_id == second
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 0  # nobody waits any more


def test_a_waiting_job_whose_user_is_at_the_cap_lets_another_users_job_go_first(app):
    busy, other = make_user(), make_user()
    waiting = job_queue.submit_job(user_id=busy, job_type="diagnostic", payload={})
    behind = job_queue.submit_job(user_id=other, job_type="diagnostic", payload={})
    for job in job_queue.claim_jobs(worker_id="w1", limit=2):
        wait_for_a_slot(job)
    job_queue.submit_jobs(jobs=[NewJob(busy, "diagnostic") for _ in range(2)])
    assert len(job_queue.claim_jobs(worker_id="w1", limit=2)) == 2  # `busy` is at the cap
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 1
    assert claim_one().job_id == behind
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 1  # none other: it is made ready
    assert claim_one() is None  # and starts once its user has a slot free
    assert fetch_job(waiting).status == JobStatus.SCHEDULED.value


def test_a_job_that_stopped_waiting_for_a_slot_is_not_brought_forward(app):
    job_id = job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    wait_for_a_slot(claim_one(), delay_seconds=0.05)
    time.sleep(0.1)
    claimed = claim_one()  # its delay ran out first
    assert claimed.job_id == job_id
    assert job_queue.retry_job(
        job_id=job_id, lease_token=claimed.lease_token, error="flaky", delay_seconds=60
    )
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 0  # its backoff is kept
    assert claim_one() is None

    job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    cancelled = claim_one()
    wait_for_a_slot(cancelled)
    job_queue.cancel_job(job_id=cancelled.job_id, user_id=fetch_job(cancelled.job_id).user_id)
    assert job_queue.promote_cap_waiters(cap_name=CAP) == 0


def test_after_a_redis_wipe_the_reconciler_restores_every_waiting_job_once_in_order(
    wide_app, redis_conn
):
    users = [make_user() for _ in range(3)]
    priorities = [P.LOW, P.HIGH, P.NORMAL, P.BULK, P.CRITICAL]
    expected = []
    for index in range(40):
        priority = priorities[index % len(priorities)]
        job_id = job_queue.submit_job(
            user_id=users[index % 3], job_type="diagnostic", payload={}, priority=priority
        )
        expected.append((int(priority), index, job_id))
    running = claim_one()

    redis_conn.flushdb()  # what FLUSHALL does to this database
    counts = job_queue.reconcile()
    assert counts == {"enqueued": 40, "requeued_running": 1}
    assert job_queue.reconcile() == {"enqueued": 0, "requeued_running": 0}

    # The job that was running when Redis was wiped runs again, at its old place; its old
    # worker is fenced out.
    assert not job_queue.complete_job(job_id=running.job_id, lease_token=running.lease_token)
    claimed = [job.job_id for job in claim_all()]
    assert claimed == [job_id for _p, _i, job_id in sorted(expected)]


def test_jobs_submitted_after_redis_lost_its_data_queue_behind_the_older_ones(wide_app, redis_conn):
    user = make_user()
    older = [
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(5)
    ]
    redis_conn.flushdb()  # what FLUSHALL does to this database
    newer = [
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(5)
    ]
    # Claims wait while the line is being rebuilt (by the submits' late enqueues).
    assert [job.job_id for job in wait_for(claim_all)] == older + newer


def test_enqueue_adds_nothing_while_another_process_rebuilds_the_line(app, redis_conn):
    user = make_user()
    older = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    redis_conn.flushdb()
    redis_conn.set(job_queue.REBUILD_LOCK_KEY, "another-process", px=60_000)
    newer = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    time.sleep(0.3)  # the late enqueue tries again meanwhile, and is refused again
    assert redis_conn.hlen(job_queue.QUEUE_KEYS[4]) == 0
    redis_conn.delete(job_queue.REBUILD_LOCK_KEY)  # that process died: its lock is gone
    wait_for(lambda: redis_conn.hexists(job_queue.QUEUE_KEYS[4], newer), timeout=5)
    assert [job.job_id for job in wait_for(claim_all)] == [older, newer]


def test_a_job_enqueued_again_by_the_reconciler_takes_its_old_place(wide_app, redis_conn):
    user = make_user()
    first, lost, last = (
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(3)
    )
    jobs_hash, queue = job_queue.QUEUE_KEYS[4], job_queue.queue_key()
    member = next(m for m in redis_conn.zrange(job_queue.QUEUE_KEYS[1], 0, -1) if lost in m)
    redis_conn.zrem(job_queue.QUEUE_KEYS[1], member)  # Redis lost this one job (a failover)
    redis_conn.zrem(queue, lost)
    redis_conn.hdel(jobs_hash, lost)
    assert job_queue.reconcile()["enqueued"] == 1
    assert [job.job_id for job in claim_all()] == [first, lost, last]


def test_a_job_whose_workers_kept_dying_gives_its_allowance_back(make_app):
    app = make_app(job_queue_lease_seconds=1.0, job_queue_max_lost_leases=1)
    limit = "job_search_per_user_per_day"
    with app.app_context():
        user, job_id = make_user(), new_job_id()
        limiter = rate_limiter.get_rate_limiter()
        assert limiter.hit([limit], str(user), holder=job_id).allowed
        job_queue.submit(user_id=user, job_type="diagnostic", payload={}, job_id=job_id)
        assert claim_one(worker="dies").job_id == job_id
        wait_for(lambda: job_queue.reap_expired_leases()["failed"] == 1)
        assert fetch_job(job_id).status == JobStatus.FAILED.value
        used = {row["limit"]: row["used"] for row in rate_limiter.usage(str(user), "user")}
        assert used[limit] == 0


def test_a_fresh_install_sets_up_the_queue_without_a_warning(app, redis_conn, caplog):
    redis_conn.flushdb()  # a fresh install: nothing in Redis yet
    with caplog.at_level(logging.INFO, "server.jobs.job_queue"):
        assert claim_one() is None  # the first claim finds no queue state and sets it up
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert caplog.records[0].getMessage() == (
        "the queue's Redis state was set up; no job was waiting to rebuild"
    )


def test_a_wipe_that_lost_waiting_jobs_is_a_warning(app, redis_conn, caplog):
    job_id = job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    redis_conn.flushdb()
    with caplog.at_level(logging.INFO, "server.jobs.job_queue"):
        assert claim_one().job_id == job_id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "rebuilt it from PostgreSQL" in warnings[-1]
    assert caplog.records[-1].enqueued == 1


def test_a_job_whose_enqueue_was_lost_is_found_by_the_reconciler(app, redis_conn):
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    # Redis loses the job but not its state marker: only the reconciler can find it.
    redis_conn.delete(*(key for key in job_queue.QUEUE_KEYS if key != job_queue.STATE_KEY))
    assert claim_one() is None
    assert job_queue.reconcile()["enqueued"] == 1
    assert claim_one().job_id == job_id


def test_a_claimed_job_that_postgres_says_is_finished_is_dropped_not_run(app):
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    job_queue.cancel_job(job_id=job_id, user_id=user)
    job_queue.enqueue([(job_id, user, 3, 0.0)])  # e.g. a reconciler that read a stale row
    assert claim_one() is None
    assert fetch_job(job_id).status == JobStatus.CANCELLED.value


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    delays = [job_queue.retry_delay_seconds(n, base=2, maximum=30) for n in range(1, 7)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(30, 2 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_retries_of_the_same_attempt_spread_over_the_jitter_range():
    # Workers that failed together must not all come back at the same instant.
    delays = [job_queue.retry_delay_seconds(3, base=2, maximum=30) for _ in range(200)]
    assert len(set(delays)) > 150
    assert min(delays) < 8 * 0.6 and max(delays) > 8 * 0.9  # the range is [4, 8]


def test_a_cancelled_job_whose_worker_died_ends_cancelled_when_its_lease_is_reaped(make_app):
    app = make_app(job_queue_lease_seconds=1.0)
    with app.app_context():
        user = make_user()
        job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        assert claim_one().job_id == job_id
        job_queue.cancel_job(job_id=job_id, user_id=user)
        # Whoever reaps the lease (this call, or a scheduler's reaper sharing the queue), the
        # job ends cancelled.
        wait_for(
            lambda: (
                job_queue.reap_expired_leases()["dropped"]
                or fetch_job(job_id).status == JobStatus.CANCELLED.value
            ),
            timeout=10,
        )
        row = fetch_job(job_id)
        assert row.status == JobStatus.CANCELLED.value and row.error == "cancelled by request"
        assert row.lease_token is None and claim_one() is None


def test_priority_names_read_as_words_and_unknown_values_as_numbers():
    assert job_queue.priority_name(2) == "HIGH"
    assert job_queue.priority_name(9) == "9"


def test_jobs_becoming_claimable_leave_wake_up_calls_bounded_and_cleared_when_none_is_left(
    app, redis_conn
):
    wake = job_queue.WAKE_KEY
    user = make_user()
    job_queue.submit_jobs(jobs=[NewJob(make_user(), "diagnostic") for _ in range(300)])
    assert redis_conn.llen(wake) == 256  # one per job, bounded
    claim_all()
    assert not redis_conn.exists(wake)  # nothing is claimable: every call was stale

    first, second = (
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(2)
    )
    running = [claim_one(), claim_one()]  # the cap (2) is reached, and nothing else waits
    third = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
    assert claim_one() is None and not redis_conn.exists(wake)  # at the cap: no call
    assert job_queue.complete_job(job_id=first, lease_token=running[0].lease_token)
    assert redis_conn.llen(wake) == 1  # the slot freed: the user's next job is claimable
    assert claim_one().job_id == third
    assert second == running[1].job_id
