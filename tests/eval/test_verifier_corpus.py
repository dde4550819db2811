"""The verifier against a model that lies, over real resumes: every planted fabrication is
left out of the stored resume and of every download, and listed in `dropped_claims`; true
rephrasings are kept (at most 5% wrongly dropped).

The corpora (tests/eval/adversarial, tests/eval/truths) were written by hand against the
resumes' own text, by people who did not read the verifier.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import redis

from server import create_app
from server.core.extensions import db
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, truncate_all_tables
from tests.eval.verifier_corpus import by_family, load, play
from tests.gemini_stand_in import GeminiStandIn
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient
from tests.lying_model import LyingModel

# pytest-xdist: each corpus is played once, by one worker, for the tests that read it; the two
# corpora run on two workers at the same time.
FABRICATIONS = pytest.mark.xdist_group("verifier_corpus_fabrications")
REPHRASINGS = pytest.mark.xdist_group("verifier_corpus_rephrasings")

HERE = Path(__file__).resolve().parent
MAX_WRONGLY_DROPPED = 0.05
MODEL_LIMITS = {
    **GENEROUS_TEST_LIMITS,
    "RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "100000/60",
    "RATE_LIMIT_GEMINI_REQUESTS_PER_DAY": "1000000/86400",
    "RATE_LIMIT_API_READS_PER_USER_PER_MINUTE": "100000/60",
}


@pytest.fixture(scope="module")
def harness(base_settings, migrated_database):
    """An app whose engine is the lying model, an account, and the model."""
    conn = redis.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    stand_in = GeminiStandIn(api_key="test-key").start()
    model = LyingModel(stand_in)
    app = create_app(
        base_settings.replace(
            google_api_key="test-key",
            gemini_model="gemini-test",
            gemini_base_url=stand_in.base_url,
            gemini_timeout_seconds=10.0,
            llm_cache_ttl_seconds=0,
            rate_limit_overrides=MODEL_LIMITS,
        )
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    yield app, client, account, model
    stand_in.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    truncate_all_tables(TEST_DATABASE_URL)
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="module")
def lies(harness):
    entries, contexts = load(HERE / "adversarial", "fabrications.json")
    return play(*harness, entries, contexts)


@pytest.fixture(scope="module")
def truths(harness):
    entries, contexts = load(HERE / "truths", "rephrasings.json")
    return play(*harness, entries, contexts)


@FABRICATIONS
def test_no_fabrication_reaches_the_stored_resume_or_a_download(lies, figures):
    reached = [o for o in lies if o.found_in]
    resumes = len({o.entry["resume"] for o in lies})
    figures.append(
        f"eval.verifier.fabrications planted={len(lies)} resumes={resumes} "
        f"reached_output={len(reached)} listed_in_dropped_claims="
        f"{sum(1 for o in lies if o.dropped)} goal_reached=0 goal_listed=all"
    )
    for family, outcomes in by_family(lies, "family").items():
        kinds = Counter(d["kind"] for o in outcomes for d in o.dropped[:1])
        figures.append(
            f"eval.verifier.family {family} planted={len(outcomes)} "
            f"reached={sum(1 for o in outcomes if o.found_in)} "
            f"listed={sum(1 for o in outcomes if o.dropped)} "
            f"first_kind={','.join(f'{k}:{n}' for k, n in kinds.most_common())}"
        )
    assert len(lies) >= 300 and resumes >= 12
    assert [(o.entry["resume"], o.path, o.sentence, o.found_in) for o in reached] == []


@FABRICATIONS
def test_every_fabrication_is_listed_in_dropped_claims(lies):
    unlisted = [o for o in lies if not o.dropped]
    assert [(o.entry["resume"], o.path, o.sentence, o.rejected) for o in unlisted] == []


@REPHRASINGS
def test_at_most_five_percent_of_true_rephrasings_are_dropped(truths, figures):
    dropped = [o for o in truths if o.dropped]
    rejected = [o for o in truths if o.rejected and not o.dropped]
    share = len(dropped) / len(truths)
    figures.append(
        f"eval.verifier.true_rephrasings written={len(truths)} "
        f"resumes={len({o.entry['resume'] for o in truths})} kept={sum(o.kept for o in truths)} "
        f"wrongly_dropped={len(dropped)} ({share:.1%}) refused_for_a_lost_keyword={len(rejected)} "
        f"goal<={MAX_WRONGLY_DROPPED:.0%}"
    )
    for kind, outcomes in by_family(truths, "kind").items():
        figures.append(
            f"eval.verifier.rephrasing {kind} written={len(outcomes)} "
            f"wrongly_dropped={sum(1 for o in outcomes if o.dropped)}"
        )
    assert len(truths) >= 150
    assert share <= MAX_WRONGLY_DROPPED, [
        (o.entry["resume"], o.sentence, [(d["kind"], d["claim"]) for d in o.dropped])
        for o in dropped
    ]
