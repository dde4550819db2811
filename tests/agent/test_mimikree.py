"""The Mimikree client against a local stand-in speaking the real wire format: answers come
back and are cached per job description; a service that is down, slow, refusing or talking
nonsense costs the caller nothing but the answers."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.agent.mimikree import (
    MAX_ANSWER_CHARS,
    MAX_QUESTIONS,
    MimikreeCredentials,
    ask,
    job_cache_key,
    prepare_questions,
)
from tests.conftest import TEST_REDIS_URL
from tests.mimikree_stand_in import AUTHENTICATE, BATCH, MimikreeStandIn

JANE = MimikreeCredentials(email="jane@example.com", password="correct horse", source="user")
JD_KEY = job_cache_key("Senior backend engineer: Kafka, Go, Kubernetes")
QUESTIONS = ["Have you used Kafka?", "Have you run Kubernetes in production?"]
ANSWERS = {
    "Have you used Kafka?": "Yes: I ran a 12-broker Kafka cluster at Acme.",
    "Have you run Kubernetes in production?": "Yes, on EKS since 2021.",
}


@pytest.fixture
def mimikree():
    stand_in = MimikreeStandIn().start()
    stand_in.answers = dict(ANSWERS)
    yield stand_in
    stand_in.stop()


@pytest.fixture
def mimikree_settings(settings, mimikree):
    return settings.replace(
        mimikree_base_url=mimikree.base_url,
        mimikree_timeout_seconds=5.0,
        outbound_allow_loopback_ports=(mimikree.port,),
    )


def test_answers_come_back_with_their_questions(mimikree_settings, mimikree, redis_conn):
    answers = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    assert answers == [{"question": q, "answer": ANSWERS[q]} for q in QUESTIONS]
    assert mimikree.paths() == [AUTHENTICATE, BATCH]
    login, batch = (request["body"] for request in mimikree.requests)
    assert login == {"email": "jane@example.com", "password": "correct horse"}
    assert batch == {"username": "janedoe", "questions": QUESTIONS}


def test_a_repeated_job_description_is_answered_from_the_cache_without_a_request(
    mimikree_settings, mimikree, redis_conn
):
    first = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    requests_before = len(mimikree.requests)
    second = ask(mimikree_settings, JANE, list(reversed(QUESTIONS)), JD_KEY, redis_conn)
    assert len(mimikree.requests) == requests_before
    assert {a["question"]: a["answer"] for a in second} == {
        a["question"]: a["answer"] for a in first
    }
    assert [a["question"] for a in second] == list(reversed(QUESTIONS))


def test_cached_answers_expire_after_the_configured_ttl(mimikree_settings, mimikree, redis_conn):
    ask(
        mimikree_settings.replace(mimikree_cache_ttl_seconds=60),
        JANE,
        QUESTIONS,
        JD_KEY,
        redis_conn,
    )
    ttls = [redis_conn.ttl(key) for key in redis_conn.scan_iter("mimikree:answers:*")]
    assert len(ttls) == 1 and 0 < ttls[0] <= 60


def test_only_new_questions_are_sent_and_the_login_is_not_repeated(
    mimikree_settings, mimikree, redis_conn
):
    ask(mimikree_settings, JANE, QUESTIONS[:1], JD_KEY, redis_conn)
    answers = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    assert [a["question"] for a in answers] == QUESTIONS
    assert mimikree.paths() == [AUTHENTICATE, BATCH, BATCH]
    assert mimikree.requests[-1]["body"]["questions"] == QUESTIONS[1:]


def test_another_job_description_asks_again(mimikree_settings, mimikree, redis_conn):
    ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    ask(mimikree_settings, JANE, QUESTIONS, job_cache_key("Frontend role: React"), redis_conn)
    assert mimikree.paths() == [AUTHENTICATE, BATCH, BATCH]


def test_another_account_never_sees_cached_answers_of_the_first(
    mimikree_settings, mimikree, redis_conn
):
    mimikree.accounts["sam@example.com"] = ("sam pass", "sam", "Sam")
    ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    mimikree.answers = {QUESTIONS[0]: "Sam's own answer"}
    sam = MimikreeCredentials(email="sam@example.com", password="sam pass")
    answers = ask(mimikree_settings, sam, QUESTIONS, JD_KEY, redis_conn)
    assert answers == [{"question": QUESTIONS[0], "answer": "Sam's own answer"}]


def test_the_same_email_with_a_wrong_password_gets_no_cached_answers(
    mimikree_settings, mimikree, redis_conn
):
    assert ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    impostor = MimikreeCredentials(email="jane@example.com", password="a guess")
    assert ask(mimikree_settings, impostor, QUESTIONS, JD_KEY, redis_conn) == []
    assert mimikree.paths() == [AUTHENTICATE, BATCH, AUTHENTICATE]


def test_a_redis_client_returning_bytes_works_the_same(mimikree_settings, mimikree):
    conn = redis.Redis.from_url(TEST_REDIS_URL)  # decode_responses=False
    try:
        first = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, conn)
        second = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, conn)
    finally:
        conn.close()
    assert first == second == [{"question": q, "answer": ANSWERS[q]} for q in QUESTIONS]
    assert mimikree.paths() == [AUTHENTICATE, BATCH]


def test_more_than_twenty_questions_are_capped_to_the_first_twenty(
    mimikree_settings, mimikree, redis_conn
):
    mimikree.answers = lambda question: f"answer to {question}"
    questions = [f"Question {i}?" for i in range(35)]
    answers = ask(mimikree_settings, JANE, questions, JD_KEY, redis_conn)
    assert [a["question"] for a in answers] == questions[:MAX_QUESTIONS]
    assert mimikree.requests[-1]["body"]["questions"] == questions[:MAX_QUESTIONS]


def test_blank_and_repeated_questions_are_not_sent():
    assert prepare_questions(["  ", "Kafka?", "Kafka?", "\x00Go?\u202e", None]) == [
        "Kafka?",
        "Go?",
    ]


def test_a_question_mimikree_could_not_answer_is_left_out(mimikree_settings, mimikree, redis_conn):
    mimikree.answers = {QUESTIONS[0]: ANSWERS[QUESTIONS[0]]}  # the second fails upstream
    answers = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    assert answers == [{"question": QUESTIONS[0], "answer": ANSWERS[QUESTIONS[0]]}]


@pytest.mark.parametrize("mode", ["down", "401", "garbage", "garbage_json"])
def test_a_failing_mimikree_gives_an_empty_list_and_a_log_line_not_an_error(
    mimikree_settings, mimikree, redis_conn, caplog, mode
):
    mimikree.mode = mode
    with caplog.at_level(logging.WARNING, logger="server.agent.mimikree"):
        assert ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn) == []
    assert any("Mimikree gave no answers" in r.getMessage() for r in caplog.records)
    assert "correct horse" not in caplog.text


def test_a_slow_mimikree_is_abandoned_at_the_timeout(mimikree_settings, mimikree, redis_conn):
    mimikree.mode, mimikree.delay = "slow", 10.0
    started = time.monotonic()
    answers = ask(
        mimikree_settings.replace(mimikree_timeout_seconds=1.0), JANE, QUESTIONS, JD_KEY, redis_conn
    )
    assert answers == []
    assert time.monotonic() - started < 5


def test_nothing_listening_gives_an_empty_list(settings, redis_conn):
    closed = settings.replace(
        mimikree_base_url="http://127.0.0.1:9",
        mimikree_timeout_seconds=2.0,
        outbound_allow_loopback_ports=(9,),
    )
    assert ask(closed, JANE, QUESTIONS, JD_KEY, redis_conn) == []


def test_cached_answers_are_still_returned_when_mimikree_goes_down(
    mimikree_settings, mimikree, redis_conn
):
    ask(mimikree_settings, JANE, QUESTIONS[:1], JD_KEY, redis_conn)
    mimikree.mode = "down"
    answers = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)
    assert answers == [{"question": QUESTIONS[0], "answer": ANSWERS[QUESTIONS[0]]}]


def test_a_refused_login_is_not_retried_until_the_refusal_expires(
    mimikree_settings, mimikree, redis_conn
):
    wrong = MimikreeCredentials(email="jane@example.com", password="wrong")
    assert ask(mimikree_settings, wrong, QUESTIONS, JD_KEY, redis_conn) == []
    assert ask(mimikree_settings, wrong, QUESTIONS, JD_KEY, redis_conn) == []
    assert mimikree.paths() == [AUTHENTICATE]
    # The right password is a different login and is tried at once.
    assert ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn)


def test_a_redirect_is_not_followed(mimikree_settings, redis_conn):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = mimikree_settings.replace(
            mimikree_base_url=f"http://127.0.0.1:{server.server_address[1]}",
            outbound_allow_loopback_ports=(server.server_address[1],),
        )
        assert ask(settings, JANE, QUESTIONS, JD_KEY, redis_conn) == []
        assert hits == [AUTHENTICATE]
    finally:
        server.shutdown()
        server.server_close()


def test_mimikree_configured_on_an_internal_address_is_not_asked(settings, mimikree, redis_conn):
    internal = settings.replace(mimikree_base_url=mimikree.base_url)  # its port not allowed
    assert ask(internal, JANE, QUESTIONS, JD_KEY, redis_conn) == []
    assert mimikree.requests == []


def test_no_credentials_or_no_questions_ask_nothing(mimikree_settings, mimikree, redis_conn):
    assert ask(mimikree_settings, None, QUESTIONS, JD_KEY, redis_conn) == []
    assert ask(mimikree_settings, JANE, [], JD_KEY, redis_conn) == []
    assert mimikree.requests == []


def test_redis_down_still_asks_mimikree(mimikree_settings, mimikree):
    dead = redis.Redis(
        host="127.0.0.1", port=9, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    answers = ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, dead)
    assert [a["question"] for a in answers] == QUESTIONS


def test_plain_http_is_refused_in_production(settings, redis_conn, mimikree):
    production = settings.model_copy(update={"env": "production"})
    production = production.model_copy(update={"mimikree_base_url": mimikree.base_url})
    assert ask(production, JANE, QUESTIONS, JD_KEY, redis_conn) == []
    assert mimikree.requests == []


def test_the_job_description_key_ignores_spacing_and_case():
    assert job_cache_key("Go  and\nKafka") == job_cache_key("go and kafka")
    assert job_cache_key("Go and Kafka") != job_cache_key("Go and Rust")


def test_the_password_never_appears_in_the_credentials_repr():
    assert "correct horse" not in repr(JANE)


def test_an_oversized_reply_is_dropped(mimikree_settings, mimikree, redis_conn):
    mimikree.answers = lambda question: "x" * (1024 * 1024 + 10)
    assert ask(mimikree_settings, JANE, QUESTIONS, JD_KEY, redis_conn) == []


def test_long_answers_are_cut_and_control_characters_removed(
    mimikree_settings, mimikree, redis_conn
):
    mimikree.answers = lambda question: "\x1b[31mYes\u202e " + "a" * 10_000
    answers = ask(mimikree_settings, JANE, QUESTIONS[:1], JD_KEY, redis_conn)
    assert answers[0]["answer"].startswith("[31mYes a")
    assert len(answers[0]["answer"]) == MAX_ANSWER_CHARS
