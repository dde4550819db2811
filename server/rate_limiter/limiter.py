"""The limiter: window limits, the Gemini quota and concurrency caps, on Redis."""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import redis

from server.core import metrics
from server.core.config import ConfigError, Settings
from server.core.errors import NotFound, ServiceUnavailable
from server.core.redis_client import build_redis
from server.rate_limiter.catalogue import (
    GEMINI_CONTENDERS,
    GEMINI_DAY,
    GEMINI_MINUTE,
    GEMINI_PAUSE,
    GEMINI_SHARE,
    GEMINI_USER_DAY,
    GLOBAL_SUBJECT,
    JOB_ALLOWANCES,
    KEY_PREFIX,
    ConcurrencyCap,
    RateLimit,
    key_for,
)
from server.rate_limiter.fallback import MemoryWindows, RedisHealth, RedisUnavailable, count_metric
from server.rate_limiter.gemini_errors import gemini_pause_for
from server.rate_limiter.results import Decision, GeminiCaller, Lease, LimitState, Reservation
from server.rate_limiter.scripts import (
    CAP_SCRIPT,
    GEMINI_RESERVE_SCRIPT,
    HIT_SCRIPT,
    ONCE_SCRIPT,
    PAUSE_SCRIPT,
    PEEK_SCRIPT,
    SETTLE_SCRIPT,
)

log = logging.getLogger("server.rate_limiter")


class _Plan(NamedTuple):
    """The distinct limits of one check, and what the hit script needs about them."""

    limits: tuple[tuple[str, str, RateLimit], ...]  # name, key without the subject, rule
    args: tuple[bytes, ...]  # limit and window (us) of each, encoded once for redis-py


_GEMINI_PAUSE_KEY = key_for(GEMINI_PAUSE, GLOBAL_SUBJECT)
_GEMINI_CONTENDERS_KEY = key_for(GEMINI_CONTENDERS, GLOBAL_SUBJECT)
# A job takes part in the Gemini share for this many minute windows after it last asked (its
# run ends it sooner): a job waiting for a slot asks again within a window.
_CONTENDER_LEASE_WINDOWS = 2
_GEMINI_REFUSALS = {
    "paused": "Gemini calls are paused",
    "minute": f"{GEMINI_MINUTE} reached",
    "day": f"{GEMINI_DAY} reached",
    "user_day": f"{GEMINI_USER_DAY} reached",
}
# A refused Gemini reservation while Redis is down asks to come back within this range.
_DEGRADED_GEMINI_RETRY = (1.0, 5.0)
# The limiter's own connection: short timeouts and one immediate retry, so a dead Redis costs
# a request milliseconds, never the client library's multi-second retry schedule.
LIMITER_SOCKET_TIMEOUT = 0.5


def build_limiter_redis(settings: Settings, fallback: Callable[[], redis.Redis]) -> redis.Redis:
    """A Redis client tuned for the limiter, or `fallback()` for the embedded server."""
    if not settings.redis_configured:
        return fallback()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return build_redis(
        settings,
        socket_connect_timeout=LIMITER_SOCKET_TIMEOUT,
        socket_timeout=LIMITER_SOCKET_TIMEOUT,
        health_check_interval=0,
        retry=Retry(NoBackoff(), 1),
    )


class RateLimiter:
    """Checks limits, reserves the Gemini quota and hands out concurrency slots."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit | ConcurrencyCap],
        redis_factory: Callable[[], redis.Redis],
        *,
        enabled: bool = True,
        health: RedisHealth | None = None,
    ) -> None:
        self.limits = dict(limits)
        self.enabled = enabled
        self.health = health or RedisHealth()
        self.memory = MemoryWindows()
        self._redis_factory = redis_factory
        self._client: redis.Redis | None = None
        self._client_lock = threading.Lock()
        self._pid: int | None = None
        self._shas: dict[str, str] = {}
        self._local = threading.local()
        self._member_prefix = f"{os.getpid()}.{random.getrandbits(32):08x}"  # noqa: S311
        self._members = itertools.count()
        self._plans: dict[tuple[str, ...], _Plan] = {}
        for name in (GEMINI_MINUTE, GEMINI_DAY):
            if not isinstance(self.limits.get(name), RateLimit):
                raise ConfigError(f"{name} must be a window limit")
        if not isinstance(self.limits.get(GEMINI_USER_DAY, RateLimit(1, 1)), RateLimit):
            raise ConfigError(f"{GEMINI_USER_DAY} must be a window limit")

    # Redis plumbing

    @property
    def redis(self) -> redis.Redis:
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            # One client per process: threads that arrive together must not each build one,
            # or the replaced clients close, on collection, connections still in use.
            with self._client_lock:
                if self._client is None or self._pid != pid:
                    self._client = self._redis_factory()
                    self._shas = {}
                    self._member_prefix = f"{pid}.{random.getrandbits(32):08x}"  # noqa: S311
                    self._pid = pid
        return self._client

    def _connection(self) -> Any:
        """This thread's own connection for the limiter's scripts.

        In redis-py, checking a connection out of the pool and back costs about as much as
        the script itself; the limiter runs on every request, so each thread keeps one.
        """
        pool = self.redis.connection_pool  # a new process gets a new client, hence a new pool
        local = self._local
        if getattr(local, "pool", None) is not pool:
            # Checked out for good; the pool still knows it, so closing the pool closes it.
            local.conn = pool.get_connection()
            local.pool = pool
        return local.conn

    def give_back_thread_connection(self) -> None:
        """Return this thread's connection to the pool: a thread about to wait for minutes
        (an event stream) must not hold one of the pool's connections meanwhile."""
        local = self._local
        conn, pool = getattr(local, "conn", None), getattr(local, "pool", None)
        local.conn = local.pool = None
        if conn is not None and pool is not None:
            pool.release(conn)

    def _call(self, *command: Any, meanwhile: Callable[[], None] | None = None) -> Any:
        """Send one command on this thread's connection; reconnect once if it went stale.

        `meanwhile` (which must not raise) runs once, between sending the command and reading
        its reply: work of the caller's that overlaps Redis's."""
        conn = self._connection()
        packed = [pack_command(conn.encoder.encode, command)]
        for attempt in (1, 2):
            try:
                conn.send_packed_command(packed)
                if meanwhile is not None:
                    overlapping, meanwhile = meanwhile, None
                    overlapping()
                return conn.read_response()
            except redis.ConnectionError:
                conn.disconnect()
                if attempt == 2:
                    raise
            except redis.TimeoutError:
                conn.disconnect()  # a slow Redis is not retried: the request must not wait twice
                raise
        raise AssertionError("unreachable")

    def _eval(
        self,
        script: str,
        keys: Sequence[str],
        args: Sequence[Any],
        meanwhile: Callable[[], None] | None = None,
    ) -> Any:
        """EVALSHA, loading the script once per process (and again after a flush)."""
        sha = self._shas.get(script)
        if sha is not None:
            try:
                return self._call("EVALSHA", sha, len(keys), *keys, *args, meanwhile=meanwhile)
            except redis.exceptions.NoScriptError:
                meanwhile = None  # it ran
        self._shas[script] = sha = self._call("SCRIPT", "LOAD", script, meanwhile=meanwhile)
        return self._call("EVALSHA", sha, len(keys), *keys, *args)

    def _with_redis(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run `action(*args)` against Redis, or raise `RedisUnavailable` (recording the failure)."""
        if not self.health.should_try():
            raise RedisUnavailable
        try:
            result = action(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Only an unreachable Redis is an outage; a script error is a bug and stays loud.
            self.health.failed(exc)
            raise RedisUnavailable from exc
        self.health.succeeded()
        return result

    def run_script(
        self,
        script: str,
        keys: Sequence[str],
        args: Sequence[Any],
        meanwhile: Callable[[], None] | None = None,
    ) -> Any:
        """Run a Lua script on this thread's limiter connection (RedisUnavailable if down).

        `meanwhile`, a callable that must not raise, runs at most once while Redis runs the
        script (not at all when Redis is skipped as down)."""
        return self._with_redis(self._eval, script, keys, args, meanwhile)

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and limits are per process."""
        return self.health.degraded

    # Window limits

    def rule(self, name: str) -> RateLimit:
        """The window limit called `name` (KeyError when there is none)."""
        rule = self.limits.get(name)
        if not isinstance(rule, RateLimit):
            raise KeyError(name)
        return rule

    def subject_for(self, rule: RateLimit | ConcurrencyCap, subject: str | Mapping[str, str]):
        """The subject a limit of this scope is counted against."""
        if rule.scope == "global":
            return GLOBAL_SUBJECT
        if isinstance(subject, str):
            return subject
        return subject.get(rule.scope) or subject["ip"]

    def hit(
        self,
        names: Iterable[str],
        subject: str | Mapping[str, str],
        *,
        holder: str | None = None,
    ) -> Decision:
        """Admit one request against every named limit, all or nothing.

        `subject` is a user id or IP (a mapping of scope to subject when they differ); global
        limits always count against `global`. `holder` (a job id) names the admission, so
        `give_back` can take it back.
        """
        plan = self.plan_for(names)
        if not plan.limits:
            return Decision(True, ())
        keys = self.keys_for(plan, subject)
        try:
            decision = self._with_redis(self._hit_redis, plan, keys, holder)
        except RedisUnavailable:
            decision = self.hit_in_memory(plan, keys)
        self.note(decision)
        return decision

    def spend_once(self, name: str, subject: str, token: str) -> Decision:
        """Admit `token` against one window limit of `subject`, counting it only the first
        time: a job that runs again is admitted without spending again."""
        rule = self.rule(name)
        key = key_for(name, self.subject_for(rule, subject))
        try:
            reply = self._with_redis(
                self._eval, ONCE_SCRIPT, [key], [token, rule.limit, rule.window_us]
            ).split(" ")
        except RedisUnavailable:
            decision = self.hit_in_memory(self.plan_for((name,)), [key])
        else:
            admitted, count, retry = reply[0] == "1", int(reply[1]), int(reply[2]) / 1e6
            state = LimitState(
                name,
                rule.limit,
                rule.window_seconds,
                rule.scope,
                max(0, rule.limit - count),
                retry or rule.window_seconds,
                retry,
            )
            decision = Decision(admitted, (state,))
        self.note(decision)
        return decision

    def hit_in_memory(self, plan: _Plan, keys: Sequence[str]) -> Decision:
        """The per-process fallback's decision, while Redis is unreachable."""
        count_metric("rate_limiter_fallback_checks_total")
        limits = zip(plan.limits, keys, strict=True)
        return self.memory.hit([(name, key, rule) for (name, _prefix, rule), key in limits])

    @staticmethod
    def note(decision: Decision) -> None:
        """Count a refusal in the limiter's metrics, and the decision by limit."""
        if not decision.allowed:
            count_metric("rate_limiter_rejections_total")
        metrics.count_decision(decision)

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        """The distinct limits of a check and the script's arguments for them."""
        limits, args = [], []
        for name in dict.fromkeys(names):
            rule = self.rule(name)
            limits.append((name, f"{KEY_PREFIX}:{name}:", rule))
            args += (b"%d" % rule.limit, b"%d" % rule.window_us)
        return _Plan(tuple(limits), tuple(args))

    def run_hit(self, plan: _Plan, keys: Sequence[str]) -> Decision:
        """The hit script's decision (RedisUnavailable while Redis is down)."""
        return self._with_redis(self._hit_redis, plan, keys)

    def _hit_redis(self, plan: _Plan, keys: Sequence[str], holder: str | None = None) -> Decision:
        """Run the hit script: `keys` are the plan's window keys, then any pause keys."""
        suffix = holder or self.new_member()
        reply = self._eval(HIT_SCRIPT, keys, (suffix, *plan.args)).split(" ")
        return self.decision_from_reply(plan, reply)

    def give_back(
        self, *, holder: str, subject: str, names: Iterable[str] = JOB_ALLOWANCES
    ) -> list[str]:
        """Take back the admissions `hit(..., holder=holder)` recorded for `subject` in these
        limits, as if they had not been made; returns the limits that held one.

        A member is `<time>-<holder>` (see the hit script), so it is found by its suffix in a
        set no larger than its limit."""
        keys = {
            name: key_for(name, self.subject_for(rule, subject))
            for name in names
            if isinstance(rule := self.limits.get(name), RateLimit)
        }

        def remove() -> list[str]:
            given = []
            for name, key in keys.items():
                held = [member for member, _ in self.redis.zscan_iter(key, match=f"*-{holder}")]
                if held and self.redis.zrem(key, *held):
                    given.append(name)
            return given

        try:
            given = self._with_redis(remove)
        except RedisUnavailable:
            log.warning(
                "could not give an allowance back: Redis unavailable", extra={"holder": holder}
            )
            return []
        if given:
            log.info("allowance given back", extra={"holder": holder, "limits": given})
        return given

    def new_member(self) -> str:
        """A member suffix for the hit script, unique to this admission."""
        return f"{self._member_prefix}.{next(self._members)}"

    def plan_for(self, names: Iterable[str]) -> _Plan:
        """The (cached) plan of a check of these limits."""
        names = tuple(names)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = self._plan(names)
        return plan

    def keys_for(self, plan: _Plan, subject: str | Mapping[str, str]) -> list[str]:
        """The window keys of a plan for this subject."""
        return [prefix + self.subject_for(rule, subject) for _name, prefix, rule in plan.limits]

    def decision_from_reply(self, plan: _Plan, reply: Sequence[str]) -> Decision:
        """The decision the hit script's reply (split on spaces) says."""
        allowed = reply[0] != "-"
        states = []
        for i, (name, _prefix, rule) in enumerate(plan.limits):
            count, wait = int(reply[2 + 2 * i]), int(reply[3 + 2 * i]) / 1e6
            if allowed:  # wait is 0 while there is room: the quota is whole a window from now
                reset, retry = wait or rule.window_seconds, 0.0
            else:
                reset = retry = wait
            remaining = rule.limit - count if count < rule.limit else 0
            states.append(
                LimitState(
                    name, rule.limit, rule.window_seconds, rule.scope, remaining, reset, retry
                )
            )
        token = reply[0] if allowed else None
        return Decision(allowed, tuple(states), int(reply[1]) / 1e6, token)

    def usage(self, subject: str, scope: str | None = None) -> list[dict[str, Any]]:
        """How much `subject` has used of every limit and cap (of one scope when given).

        Global limits count `global` whatever the subject.
        """
        chosen = [(n, r) for n, r in self.limits.items() if scope is None or r.scope == scope]
        windows = [(n, r) for n, r in chosen if isinstance(r, RateLimit)]
        caps = [(n, c) for n, c in chosen if isinstance(c, ConcurrencyCap)]
        keys = [key_for(n, self.subject_for(r, subject)) for n, r in windows]

        def read():
            reply = self._eval(PEEK_SCRIPT, keys, [len(keys), *(r.window_us for _, r in windows)])
            cap_replies = [
                self._eval(
                    CAP_SCRIPT, [key_for(n, self.subject_for(c, subject))], ["count", "", 0, 0]
                )
                for n, c in caps
            ]
            return reply, cap_replies

        try:
            reply, cap_replies = self._with_redis(read)
        except RedisUnavailable:
            raise ServiceUnavailable("The rate-limit store (Redis) is unavailable") from None
        rows: list[dict[str, Any]] = []
        for i, (name, rule) in enumerate(windows):
            count, reset = int(reply[2 + 2 * i]), reply[3 + 2 * i] / 1e6
            rows.append(
                _usage_row(name, "window", rule, keys[i], count, reset, rule.window_seconds)
            )
        for (name, cap), (_granted, holders, reset) in zip(caps, cap_replies, strict=True):
            key = key_for(name, self.subject_for(cap, subject))
            rows.append(_usage_row(name, "concurrency", cap, key, int(holders), reset / 1e6, None))
        return rows

    def reset(self, name: str, subject: str) -> dict[str, Any]:
        """Forget every admission (or holder) of one limit for one subject."""
        rule = self.limits.get(name)
        if rule is None:
            raise NotFound(
                f"No limit called {name!r}",
                resource="rate_limit",
                details={"known_limits": sorted(self.limits)},
            )
        key = key_for(name, self.subject_for(rule, subject))
        self.memory.reset(key)
        try:
            deleted = self._with_redis(lambda: self.redis.delete(key))
        except RedisUnavailable:
            raise ServiceUnavailable("The rate-limit store (Redis) is unavailable") from None
        log.info("rate limit reset", extra={"limit": name, "key": key})
        return {"limit": name, "subject": subject, "key": key, "deleted": bool(deleted)}

    # Gemini quota

    def reserve_gemini_call(self, caller: GeminiCaller | None = None) -> Reservation:
        """Take one slot of both Gemini windows atomically, or say how long until one frees.

        With a `caller` (the user and job the call is for), the slot also counts against the
        user's `gemini_requests_per_user_per_day`, and against their share of the minute
        window: the minute limit divided among the users whose jobs are asking (until each
        job's run ends, `leave_gemini_share`), so one user's backlog cannot keep another's
        calls waiting for more than a window. Fails closed: while Redis is unreachable, or a
        pause is set, nothing is granted.
        """
        minute, day = self.rule(GEMINI_MINUTE), self.rule(GEMINI_DAY)
        keys = [key_for(GEMINI_MINUTE, GLOBAL_SUBJECT), key_for(GEMINI_DAY, GLOBAL_SUBJECT)]
        keys.append(_GEMINI_PAUSE_KEY)
        args: list[Any] = [
            self.new_member(),
            minute.limit,
            minute.window_us,
            day.limit,
            day.window_us,
        ]
        if caller is not None:
            allowance = self.limits.get(GEMINI_USER_DAY)
            if not isinstance(allowance, RateLimit):
                allowance = RateLimit(day.limit, day.window_seconds, "user")
            keys += [
                key_for(GEMINI_USER_DAY, caller.user_id),
                key_for(GEMINI_SHARE, caller.user_id),
                _GEMINI_CONTENDERS_KEY,
            ]
            args += [
                allowance.limit,
                allowance.window_us,
                f"{caller.user_id}:{caller.job_id}",
                minute.window_us * _CONTENDER_LEASE_WINDOWS,
            ]
        try:
            reply = self._with_redis(self._eval, GEMINI_RESERVE_SCRIPT, keys, args)
        except RedisUnavailable:
            count_metric("gemini_reservations_refused_total")
            low, high = _DEGRADED_GEMINI_RETRY
            retry = min(high, max(low, self.health.seconds_to_probe()))
            return Reservation(False, retry, None, "rate-limit store unavailable")
        member, retry_us, contenders, share, *refusals = reply.split(" ")
        user_id = caller.user_id if caller is not None else None
        if member != "-":
            count_metric("gemini_reservations_granted_total")
            return Reservation(True, 0.0, member, user_id=user_id)
        count_metric("gemini_reservations_refused_total")
        refused_by = tuple(refusals[0].split(",")) if refusals else ()
        if "paused" in refused_by:
            reason = _GEMINI_REFUSALS["paused"]
        else:
            reason = ", ".join(
                _GEMINI_REFUSALS.get(
                    refusal,
                    f"this user's share of {GEMINI_MINUTE}: {share} a window while "
                    f"{contenders} users' jobs ask",
                )
                for refusal in refused_by
            )
        return Reservation(
            False, int(retry_us) / 1e6, None, reason, user_id=user_id, refused_by=refused_by
        )

    def leave_gemini_share(self, caller: GeminiCaller) -> None:
        """The caller's job has stopped asking for Gemini (its run ended): it no longer
        takes part in the share of the minute window. Never raises."""
        try:
            self._with_redis(
                lambda: self.redis.zrem(_GEMINI_CONTENDERS_KEY, f"{caller.user_id}:{caller.job_id}")
            )
        except RedisUnavailable:
            pass  # the job's part lapses on its own

    def _gemini_keys(self, reservation: Reservation) -> list[tuple[str, RateLimit]]:
        """The window keys a granted reservation was counted in, with their rules."""
        keyed = [
            (key_for(GEMINI_MINUTE, GLOBAL_SUBJECT), self.rule(GEMINI_MINUTE)),
            (key_for(GEMINI_DAY, GLOBAL_SUBJECT), self.rule(GEMINI_DAY)),
        ]
        if reservation.user_id is not None:
            allowance = self.limits.get(GEMINI_USER_DAY)
            if isinstance(allowance, RateLimit):
                keyed.append((key_for(GEMINI_USER_DAY, reservation.user_id), allowance))
            keyed.append((key_for(GEMINI_SHARE, reservation.user_id), self.rule(GEMINI_MINUTE)))
        return keyed

    def release_gemini_call(self, reservation: Reservation) -> bool:
        """Refund a granted reservation whose call was never made."""
        if not reservation.granted or not reservation.token:
            return False

        def refund():
            pipe = self.redis.pipeline(transaction=True)
            for key, _rule in self._gemini_keys(reservation):
                pipe.zrem(key, reservation.token)
            return pipe.execute()

        try:
            removed = self._with_redis(refund)
        except RedisUnavailable:
            log.warning("could not refund a Gemini reservation: Redis unavailable")
            return False
        return any(removed)

    def settle_gemini_call(self, reservation: Reservation) -> bool:
        """Count a made call's slot from when the call finished rather than when it was
        reserved, so the next call to reuse the slot leaves a whole window after this one
        reached Gemini, however long this one took to get there."""
        if not reservation.granted or not reservation.token:
            return False
        keyed = self._gemini_keys(reservation)
        keys = [key for key, _rule in keyed]
        windows = [rule.window_us for _key, rule in keyed]
        try:
            moved = self._with_redis(
                lambda: self._eval(SETTLE_SCRIPT, keys, [reservation.token, *windows])
            )
        except RedisUnavailable:
            log.warning("could not settle a Gemini reservation: Redis unavailable")
            return False
        return bool(moved)

    def pause_gemini(self, seconds: float, reason: str) -> float:
        """Hold every Gemini call, in every process, for `seconds` (never shortens a pause)."""
        ms = max(1, math.ceil(seconds * 1000))
        try:
            left = self._with_redis(
                lambda: self._eval(PAUSE_SCRIPT, [_GEMINI_PAUSE_KEY], [ms, reason])
            )
        except RedisUnavailable:
            # Gemini is held anyway while Redis is down.
            log.warning("could not record a Gemini pause: Redis unavailable")
            return seconds
        log.warning("Gemini calls paused", extra={"seconds": round(seconds, 3), "reason": reason})
        return int(left) / 1000

    def record_gemini_error(self, error: Any) -> float | None:
        """Pause Gemini after a quota error (429); returns the pause in seconds, or None."""
        try:
            now = self._with_redis(lambda: self.redis.time())
            now_epoch = now[0] + now[1] / 1e6
        except RedisUnavailable:
            now_epoch = time.time()
        pause = gemini_pause_for(error, now_epoch=now_epoch)
        if pause is None:
            return None
        return self.pause_gemini(*pause)

    def gemini_quota_status(self) -> dict[str, Any]:
        """Used, limit and remaining of both Gemini windows, and any pause, for system status."""
        names = (GEMINI_MINUTE, GEMINI_DAY)
        rules = [self.rule(n) for n in names]
        keys = [key_for(n, GLOBAL_SUBJECT) for n in names]

        def read():
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(_GEMINI_PAUSE_KEY)
            reason = pipe.execute()[0]
            reply = self._eval(
                PEEK_SCRIPT, [*keys, _GEMINI_PAUSE_KEY], [2, *(r.window_us for r in rules)]
            )
            return reply, reason

        status: dict[str, Any] = {"degraded": False, "paused_until": None, "pause_reason": None}
        try:
            reply, reason = self._with_redis(read)
        except RedisUnavailable:
            status["degraded"] = True
            for name, rule in zip(names, rules, strict=True):
                status[name] = {
                    "used": None,
                    "limit": rule.limit,
                    "remaining": 0,
                    "window_seconds": rule.window_seconds,
                }
            return status
        now_us, paused_us = int(reply[0]), int(reply[1])
        for i, (name, rule) in enumerate(zip(names, rules, strict=True)):
            used = int(reply[2 + 2 * i])
            status[name] = {
                "used": used,
                "limit": rule.limit,
                "remaining": max(0, rule.limit - used),
                "window_seconds": rule.window_seconds,
                "reset_seconds": round(reply[3 + 2 * i] / 1e6, 3),
            }
        if paused_us > 0:
            until = datetime.fromtimestamp((now_us + paused_us) / 1e6, UTC)
            status["paused_until"] = until.isoformat().replace("+00:00", "Z")
            status["pause_seconds"] = round(paused_us / 1e6, 3)
            status["pause_reason"] = reason
        return status

    # Concurrency caps

    def cap(self, name: str) -> ConcurrencyCap:
        """The concurrency cap called `name` (KeyError when there is none)."""
        cap = self.limits.get(name)
        if not isinstance(cap, ConcurrencyCap):
            raise KeyError(name)
        return cap

    def acquire(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
        """Take (or keep) a slot of a cap for `holder_id`, leased for the cap's lease time."""
        return self._lease(cap_name, holder_id, subject, "acquire")

    def renew(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
        """Extend a held slot's lease; not acquired when the lease was already lost."""
        return self._lease(cap_name, holder_id, subject, "renew")

    def release(self, cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> None:
        """Give a slot back."""
        cap = self.cap(cap_name)
        key = key_for(cap_name, self.subject_for(cap, subject))
        self.memory.release(key, holder_id)
        try:
            self._with_redis(lambda: self.redis.zrem(key, holder_id))
        except RedisUnavailable:
            pass  # the lease expires on its own

    def free_slots(self, cap_name: str, subject: str = GLOBAL_SUBJECT) -> int:
        """How many slots of a cap have no holder now (0 while Redis is unreachable)."""
        cap = self.cap(cap_name)
        key = key_for(cap_name, self.subject_for(cap, subject))
        try:
            _granted, holders, _reset = self._with_redis(
                lambda: self._eval(CAP_SCRIPT, [key], ["count", "", 0, 0])
            )
        except RedisUnavailable:
            return 0
        return max(0, cap.limit - int(holders))

    def _lease(self, cap_name: str, holder_id: str, subject: str, mode: str) -> Lease:
        cap = self.cap(cap_name)
        key = key_for(cap_name, self.subject_for(cap, subject))
        lease_us = int(cap.lease_seconds * 1_000_000)
        try:
            granted, holders, retry = self._with_redis(
                lambda: self._eval(CAP_SCRIPT, [key], [mode, holder_id, cap.limit, lease_us])
            )
        except RedisUnavailable:
            return self.memory.acquire(key, holder_id, cap, renew_only=(mode == "renew"))
        return Lease(bool(granted), int(holders), retry / 1e6)


def pack_command(encode: Callable[[Any], bytes], command: Sequence[Any]) -> bytes:
    """One command in the Redis protocol, as redis-py's packer would send it (each argument
    encoded by `encode` unless it is already bytes), in one piece: the gate's script call has
    some 25 arguments, and redis-py's general packer costs more per argument."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        kind = type(arg)
        if kind is bytes:
            data = arg
        elif kind is str:
            data = arg.encode()  # what redis-py's encoder does with its default utf-8
        else:
            data = encode(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _usage_row(name, kind, rule, key, used, reset, window) -> dict[str, Any]:
    return {
        "limit": name,
        "kind": kind,
        "scope": rule.scope,
        "key": key,
        "limit_value": rule.limit,
        "window_seconds": window,
        "used": used,
        "remaining": max(0, rule.limit - used),
        "reset_seconds": round(max(reset, 0.0), 3),
    }
