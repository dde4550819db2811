"""Mimikree client: questions the resume cannot answer, put to the user's Mimikree bot.

Wire format (Mimikree External API 1.0.0): `POST /api/external/authenticate` with
`{email, password}` answers `{success, username}`; `POST /api/external/batch-questions` with
`{username, questions}` (at most 20) answers `{success, responses: [{question, success,
answer | error}]}`. No token is issued, and authentication is limited to 5 calls per 15
minutes per IP, so the username is cached in Redis (and a refused login for 15 minutes).

Answers are cached per account and job description, so a repeated tailoring asks nothing.
Mimikree is optional material: whatever goes wrong (down, slow, 401, garbage, Redis
trouble), `ask` logs it and returns the answers it has, possibly none; it never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis as redis_lib

from server.core.config import Settings
from server.security_manager.outbound import (
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundTooLarge,
)

log = logging.getLogger("server.agent.mimikree")

MAX_QUESTIONS = 20  # Mimikree's own limit per batch
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 4000
MAX_RESPONSE_BYTES = 1024 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0
USERNAME_TTL_SECONDS = 86400
REFUSED_LOGIN_TTL_SECONDS = 15 * 60  # Mimikree's login rate-limit window
USER_AGENT = "JobApplicationAgent-Mimikree/1"
KEY_PREFIX = "mimikree:"
_REFUSED = "\x00refused"  # cached in place of a username after a 401
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class MimikreeCredentials:
    """A Mimikree account: the user's linked one (`source="user"`) or the deployment's."""

    email: str
    password: str = field(repr=False)
    source: str = "deployment"


class _Failed(Exception):
    """A call to Mimikree that gave nothing usable; the message says why (for the log)."""


def job_cache_key(job_description: str) -> str:
    """The cache key of a job description: the same text, however spaced, is the same key."""
    normal = re.sub(r"\s+", " ", job_description or "").strip().lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def _account_id(settings: Settings, credentials: MimikreeCredentials) -> str:
    """A keyed hash naming the login in Redis keys. The password is part of it, so someone
    who links another person's email with a wrong password reaches neither that person's
    cached username nor their cached answers."""
    secret = (settings.encryption_keys or ("",))[0].encode()
    material = (
        f"{settings.mimikree_base_url}\n{credentials.email.strip().lower()}\n{credentials.password}"
    )
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()[:40]


def _clean(text: Any, limit: int) -> str:
    if not isinstance(text, str):
        return ""
    return re.sub(r"[ \t]+", " ", _CONTROL.sub("", text)).strip()[:limit]


def prepare_questions(questions: list[str]) -> list[str]:
    """Non-empty, distinct, cleaned questions, the first MAX_QUESTIONS of them."""
    prepared: list[str] = []
    for question in questions or []:
        text = _clean(question, MAX_QUESTION_CHARS)
        if text and text not in prepared:
            prepared.append(text)
    if len(prepared) > MAX_QUESTIONS:
        log.info(
            "Mimikree questions capped",
            extra={"asked": len(prepared), "sent": MAX_QUESTIONS},
        )
    return prepared[:MAX_QUESTIONS]


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# Redis ----------------------------------------------------------------------------------------


def _cached_answers(conn: redis_lib.Redis, key: str, questions: list[str]) -> dict[str, str]:
    try:
        values = conn.hmget(key, questions)
    except redis_lib.RedisError as error:
        log.warning("Mimikree answer cache unavailable", extra={"error": str(error)})
        return {}
    return {q: _text(v) for q, v in zip(questions, values, strict=True) if v is not None}


def _keep_answers(conn: redis_lib.Redis, key: str, answers: dict[str, str], ttl: int) -> None:
    if not answers or ttl <= 0:
        return
    try:
        with conn.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=answers)
            pipe.expire(key, ttl)
            pipe.execute()
    except redis_lib.RedisError as error:
        log.warning("could not cache Mimikree answers", extra={"error": str(error)})


def _redis_get(conn: redis_lib.Redis, key: str) -> str | None:
    try:
        return _text(conn.get(key))
    except redis_lib.RedisError as error:
        log.warning("Mimikree username cache unavailable", extra={"error": str(error)})
        return None


def _redis_set(conn: redis_lib.Redis, key: str, value: str | None, ttl: int) -> None:
    try:
        if value is None:
            conn.delete(key)
        else:
            conn.set(key, value, ex=ttl)
    except redis_lib.RedisError as error:
        log.warning("could not update the Mimikree username cache", extra={"error": str(error)})


# HTTP -----------------------------------------------------------------------------------------


def _post(
    http: OutboundClient, settings: Settings, path: str, body: dict, deadline: float
) -> tuple[int, Any]:
    """(status, parsed JSON or None) of one POST; raises _Failed when nothing came back."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Failed("out of time")
    try:
        response = http.post(
            settings.mimikree_base_url + path,
            json=body,
            headers={"Accept": "application/json"},
            timeout_seconds=remaining,
        )
    except OutboundTooLarge:
        raise _Failed(f"{path}: reply larger than {MAX_RESPONSE_BYTES} bytes") from None
    except OutboundError as error:
        raise _Failed(f"{path}: {type(error).__name__}: {error}") from None
    if 300 <= response.status < 400:
        raise _Failed(f"{path}: answered a redirect ({response.status}); not followed")
    try:
        return response.status, response.json()
    except ValueError:
        return response.status, None


def _username(
    http: OutboundClient,
    settings: Settings,
    credentials: MimikreeCredentials,
    conn: redis_lib.Redis,
    key: str,
    cached: str | None,
    deadline: float,
) -> str:
    if cached == _REFUSED:
        raise _Failed("login refused recently; not retried until the refusal expires")
    if cached:
        return cached
    status, body = _post(
        http,
        settings,
        "/api/external/authenticate",
        {"email": credentials.email, "password": credentials.password},
        deadline,
    )
    if status == 401:
        _redis_set(conn, key, _REFUSED, REFUSED_LOGIN_TTL_SECONDS)
        raise _Failed("login refused (401): check the Mimikree email and password")
    username = body.get("username") if isinstance(body, dict) else None
    if status != 200 or not (isinstance(body, dict) and body.get("success") is True):
        raise _Failed(f"authenticate answered {status} without success")
    if not isinstance(username, str) or not username.strip():
        raise _Failed("authenticate answered without a username")
    _redis_set(conn, key, username.strip(), USERNAME_TTL_SECONDS)
    return username.strip()


def _answers_from(body: Any, asked: list[str]) -> dict[str, str]:
    """The successful answers of a batch reply, by question; shapes that do not fit are
    skipped. A reply that does not repeat the question is matched by position when the
    counts agree."""
    responses = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(responses, list):
        raise _Failed("batch reply without a responses list")
    by_position = len(responses) == len(asked)
    answers: dict[str, str] = {}
    for index, item in enumerate(responses):
        if not isinstance(item, dict) or item.get("success") is not True:
            continue
        answer = _clean(item.get("answer"), MAX_ANSWER_CHARS)
        question = _clean(item.get("question"), MAX_QUESTION_CHARS)
        if question not in asked:
            question = asked[index] if by_position else ""
        if answer and question:
            answers[question] = answer
    return answers


def _fetch(
    settings: Settings,
    credentials: MimikreeCredentials,
    questions: list[str],
    conn: redis_lib.Redis,
    login_key: str,
) -> dict[str, str]:
    cached_username = _redis_get(conn, login_key)
    deadline = time.monotonic() + settings.mimikree_timeout_seconds  # Mimikree's time only
    http = OutboundClient(
        policy=OutboundPolicy.of(settings),
        user_agent=USER_AGENT,
        timeout_seconds=settings.mimikree_timeout_seconds,
        connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        max_bytes=MAX_RESPONSE_BYTES,
        connections_per_host=1,
    )
    try:
        username = _username(
            http, settings, credentials, conn, login_key, cached_username, deadline
        )
        status, body = _post(
            http,
            settings,
            "/api/external/batch-questions",
            {"username": username, "questions": questions},
            deadline,
        )
        if status == 404:
            _redis_set(conn, login_key, None, 0)  # the account changed: log in again next time
        if status != 200 or not (isinstance(body, dict) and body.get("success") is True):
            message = body.get("message") if isinstance(body, dict) else None
            raise _Failed(f"batch-questions answered {status}: {str(message)[:200]}")
        return _answers_from(body, questions)
    finally:
        http.close()


def _base_url_allowed(settings: Settings) -> bool:
    scheme = urlsplit(settings.mimikree_base_url).scheme
    return scheme == "https" or (scheme == "http" and not settings.is_production)


def ask(
    settings: Settings,
    credentials: MimikreeCredentials | None,
    questions: list[str],
    cache_key: str,
    redis: redis_lib.Redis,
) -> list[dict[str, str]]:
    """Answers `[{question, answer}]` from Mimikree, cached under `cache_key` (see
    `job_cache_key`) per account; at most MAX_QUESTIONS; never raises."""
    try:
        prepared = prepare_questions(questions)
        if not prepared or credentials is None:
            return []
        account = _account_id(settings, credentials)
        answers_key = f"{KEY_PREFIX}answers:{account}:{cache_key}"
        answers = _cached_answers(redis, answers_key, prepared)
        missing = [q for q in prepared if q not in answers]
        if missing and not _base_url_allowed(settings):
            log.warning("Mimikree base URL must be https in production; not asking")
        elif missing:
            login_key = f"{KEY_PREFIX}username:{account}"
            try:
                fresh = _fetch(settings, credentials, missing, redis, login_key)
            except _Failed as failure:
                log.warning(
                    "Mimikree gave no answers",
                    extra={"reason": str(failure), "questions": len(missing)},
                )
                fresh = {}
            _keep_answers(redis, answers_key, fresh, settings.mimikree_cache_ttl_seconds)
            answers.update(fresh)
        return [{"question": q, "answer": answers[q]} for q in prepared if q in answers]
    except Exception:  # optional material must never fail a tailoring; the log has the trace
        log.exception("Mimikree client failed unexpectedly")
        return []
