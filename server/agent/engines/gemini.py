"""The Gemini engine: one structured call per task through google-genai, under the quota.

Order of a call: the Redis cache (a hit spends nothing), then one slot of the Gemini quota
(refused: `QuotaWait`), then the request. An upstream 429 pauses the quota for every process
and defers the job (`QuotaWait`, no attempt counted); a 5xx, a timeout or an unusable reply
is retried by the queue (`RetryableJobError`); any other refusal (a bad key, an unknown
model) is permanent (`EngineError`). The SDK's own retries stay off: the queue retries, and
the SDK would ignore Gemini's retry delay.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2
import redis
from google import genai
from google.genai import errors, types

from server import rate_limiter
from server.agent.engines.base import Engine, EngineError
from server.agent.engines.cache import cache_key, get_cached, put_cached
from server.agent.engines.gemini_errors import DEFAULT_GEMINI_PAUSE_SECONDS
from server.agent.engines.tasks import SCHEMAS, SYSTEM_INSTRUCTIONS, schema_errors, user_prompt
from server.core import metrics
from server.core.config import Settings
from server.core.errors import QuotaWait, RetryableJobError
from server.rate_limiter.quota_gate import reserve_gemini_call

log = logging.getLogger("server.agent.engines")


def build_client(settings: Settings) -> genai.Client:
    """A google-genai client with the pinned API version, the timeout and no SDK retries."""
    options = types.HttpOptions(
        api_version=settings.gemini_api_version,
        base_url=settings.gemini_base_url,
        timeout=int(settings.gemini_timeout_seconds * 1000),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=settings.google_api_key, http_options=options)


class GeminiEngine(Engine):
    """Answers each task with one `generateContent` call constrained by the task's schema."""

    name = "gemini"

    def __init__(self, *, settings: Settings, redis_conn: redis.Redis):
        self.model = settings.gemini_model
        self._client = build_client(settings)
        self._redis = redis_conn
        self._cache_ttl = settings.llm_cache_ttl_seconds

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _run(self, task: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        system, user, schema = SYSTEM_INSTRUCTIONS[task], user_prompt(task, inputs), SCHEMAS[task]
        key = cache_key(model=self.model, system=system, user=user, schema=schema)
        cached = get_cached(self._redis, key)
        if cached is not None:
            return cached, {"cached": True}
        reservation = reserve_gemini_call()  # raises QuotaWait when no slot is free
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_json_schema=schema,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=user, config=config
            )
        except errors.APIError as error:
            rate_limiter.settle_gemini_call(reservation)
            metrics.GEMINI_UPSTREAM_ERRORS.labels(str(error.code)).inc()
            raise _translate(error) from error
        except httpx2.ConnectError as error:
            metrics.GEMINI_UPSTREAM_ERRORS.labels("unreachable").inc()
            # Nothing reached Gemini, so the slot is given back.
            rate_limiter.release_gemini_call(reservation)
            raise RetryableJobError(f"Gemini could not be reached: {error}") from error
        except httpx2.TransportError as error:  # timeouts, dropped connections
            rate_limiter.settle_gemini_call(reservation)
            metrics.GEMINI_UPSTREAM_ERRORS.labels("transport").inc()
            raise RetryableJobError(f"Gemini did not answer: {type(error).__name__}") from error
        # The request reached Gemini somewhere between the reservation and now: the slot's
        # window starts now, so the call that reuses it can never land inside Gemini's own.
        rate_limiter.settle_gemini_call(reservation)
        output = _output_of(response, task)
        put_cached(self._redis, key, output, self._cache_ttl)
        usage = response.usage_metadata
        log.info(
            "Gemini call",
            extra={
                "task": task,
                "model": self.model,
                "prompt_tokens": usage.prompt_token_count if usage else None,
                "output_tokens": usage.candidates_token_count if usage else None,
            },
        )
        return output, {"cached": False}


def _translate(error: errors.APIError) -> Exception:
    """The job-level meaning of an error reply."""
    what = f"{error.code} {error.status or ''}".strip()
    if error.code == 429 or error.status == "RESOURCE_EXHAUSTED":
        pause = rate_limiter.record_gemini_error(error)
        if pause is None:
            pause = rate_limiter.pause_gemini(DEFAULT_GEMINI_PAUSE_SECONDS, f"Gemini {what}")
        return QuotaWait(pause, f"the Gemini quota (Gemini answered {what})")
    if error.code == 408 or error.code >= 500:
        return RetryableJobError(f"Gemini answered {what}: {error.message}")
    return EngineError(f"Gemini refused the request ({what}): {error.message}")


def _output_of(response: types.GenerateContentResponse, task: str) -> dict[str, Any]:
    """The reply's JSON, checked against the task's schema."""
    text = response.text
    if not text:
        reason = None
        if response.candidates:
            reason = response.candidates[0].finish_reason
        elif response.prompt_feedback:
            reason = response.prompt_feedback.block_reason
        raise EngineError(f"Gemini gave no answer (finish reason: {reason})")
    try:
        output = json.loads(text)
    except ValueError as error:
        raise RetryableJobError(f"Gemini's reply is not JSON: {error}") from error
    problems = schema_errors(task, output)
    if problems:
        raise RetryableJobError(
            f"Gemini's {task} reply does not match its schema: " + "; ".join(problems[:5])
        )
    return output
