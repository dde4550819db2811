"""What a job costs the worker in round trips stays within the queue's budget (counted, not
timed: `benchmarks.bench_queue_drain.BUDGET`)."""

from benchmarks.bench_queue_drain import BUDGET, BUDGET_SLACK, count_round_trips
from benchmarks.round_trips import FIGURES
from tests.queue_helpers import make_user

JOBS = 40


def test_a_no_op_job_costs_the_worker_no_more_round_trips_than_the_budget(app, redis_conn):
    users = [make_user(admin=True) for _ in range(3)]

    per_job = count_round_trips(app, users, jobs=JOBS, threads=1)

    allowed = {name: BUDGET[name] + BUDGET_SLACK / JOBS for name in FIGURES}
    over = {name: round(per_job[name], 3) for name in FIGURES if per_job[name] > allowed[name]}
    assert not over, f"per job {per_job}; over the budget {BUDGET}: {over}"
    # Counted for real: every job was claimed, marked running, recorded and settled.
    assert all(per_job[name] >= 1.0 for name in FIGURES), per_job
