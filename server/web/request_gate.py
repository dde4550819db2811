"""The request gate: every check that runs before a view, decided in one Redis round trip.

The token is checked locally first (signature, expiry, type, freshness: no I/O). Then one Lua
script, on the limiter's per-thread connection, decides in order:

1. the client address's block (`ip_block:<subject>`): a blocked address spends nothing;
2. the token's revocation (`token_blocklist:<jti>`, `token_family_revoked:<family>`); where 1
   or 2 finds no key, the ready marker of the security records' copy (`security_cache`) says
   whether that means "none" or "lost";
3. the user's session state (`user_auth:<id>`: active, role, session generation);
4. every limit of the request, all or nothing. A request refused by 2 or 3 (or by the local
   token check) counts against its address's limit only, as before.

When the script cannot decide (no ready marker, or no cached session state: Redis was flushed)
it spends nothing and the request is decided as before: the address's block and the token
against PostgreSQL (which has the copy rebuilt), the user by one query (which refills the
cache), then the limits (a second round trip, on that request only). While Redis is
unreachable, blocks fail open, tokens and users are checked in PostgreSQL and limits fall back
to per-process windows.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import redis
from flask import Flask, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from server.core.config import get_settings
from server.core.errors import Forbidden, Unauthorized
from server.core.outages import outage_log
from server.core.redis_client import get_redis
from server.rate_limiter import (
    API_PER_IP,
    HIT_FUNCTION,
    Decision,
    RateLimiter,
    RedisUnavailable,
    get_rate_limiter,
    limits_of_request,
    refusal,
)
from server.security_manager import ip_blocking, security_cache, session_state, token_revocations
from server.security_manager.auth import auth_mode, decode_request_token
from server.security_manager.session_state import SessionState

# KEYS: 1 block key, 2 token key, 3 family key, 4 security cache marker, 5 session state,
# 6.. the n window keys, then the error counters deferred from earlier responses, then (with
# check q) the sorted set of the view's prefetched rank.
# ARGV: 1 checks (b: block, t: token, d: drop the marker first, u: user, a: admin role needed,
# r: already refused, q: read a rank for the view), 2 the token's session generation, 3 how
# many window keys count a refused request, 4 n, 5.. the hit script's arguments (member,
# limit and window of each window key), then each error counter's window (seconds), then
# (with q) the member to rank.
# Returns the error counters' new counts (comma-separated, '-' for none; with q followed by
# '|' and the rank, '-' for none), then: "B ttl" (blocked), "U why" (undecided, nothing
# spent), "R reason <hit reply>" (refused, counted against the address) or "A role <hit
# reply>" (authorized).
GATE_SCRIPT = (
    HIT_FUNCTION
    + """
local n = tonumber(ARGV[4])
local checks = ARGV[1]
local function wants(c) return string.find(checks, c, 1, true) ~= nil end
local ranked, rank = 0, ''
if wants('q') then
  ranked = 1
  rank = redis.call('ZRANK', KEYS[#KEYS], ARGV[#ARGV])
  if rank then rank = '|' .. rank else rank = '|-' end
end
local counts = {}
for j = 1, #KEYS - 5 - n - ranked do
  local key = KEYS[5 + n + j]
  counts[j] = redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[5 + 2 * n + j]) end
end
local head = '-'
if #counts > 0 then head = table.concat(counts, ',') end
head = head .. rank
if wants('d') then redis.call('DEL', KEYS[4]) end
local ready = nil
local function cache_ready()
  if ready == nil then ready = redis.call('EXISTS', KEYS[4]) == 1 end
  return ready
end
if wants('b') then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then return head .. ' B ' .. ttl end
  if not cache_ready() then return head .. ' U block' end
end
local refused = false
if wants('r') then refused = 'early' end
if not refused and wants('t') then
  if redis.call('EXISTS', KEYS[3]) == 1 then
    refused = 'family_revoked'
  else
    local state = redis.call('GET', KEYS[2])
    if state then
      refused = 'token:' .. state
    elseif not cache_ready() then
      return head .. ' U token'
    end
  end
end
local role = '-'
if not refused and wants('u') then
  local user = redis.call('HMGET', KEYS[5], 'active', 'role', 'sgen')
  if not user[1] or not user[2] or not user[3] then return head .. ' U user' end
  if user[1] ~= '1' then
    refused = 'disabled'
  elseif user[3] ~= ARGV[2] then
    refused = 'session'
  elseif wants('a') and user[2] ~= 'admin' then
    refused = 'admin'
  end
  if user[2] ~= '' then role = user[2] end
end
if refused then n = tonumber(ARGV[3]) end
local keys, argv = {}, {ARGV[5]}
for i = 1, n do
  keys[i] = KEYS[5 + i]
  argv[2 * i] = ARGV[4 + 2 * i]
  argv[2 * i + 1] = ARGV[5 + 2 * i]
end
if refused then return head .. ' R ' .. refused .. ' ' .. hit(keys, argv) end
return head .. ' A ' .. role .. ' ' .. hit(keys, argv)
"""
)

log = logging.getLogger(__name__)

_UNUSED_KEY = "{request_gate}:unused"
_EXTENSION_KEY = "request_gate_error_signals"
# Error counters folded into one gate call at most (the rest wait for the next request).
MAX_SIGNALS_PER_REQUEST = 32
MAX_PENDING_SIGNALS = 10_000


def init_app(app: Flask, *, exempt_endpoints: Collection[str]) -> None:
    """Install the gate; call after `auth.init_app` and `rate_limiter.init_app`.

    `exempt_endpoints`: views never IP-blocked or rate-limited (the health probes)."""
    from server.web.request_hooks import client_subject

    settings = app.config["SETTINGS"]
    app.extensions[_EXTENSION_KEY] = deque(maxlen=MAX_PENDING_SIGNALS)

    @app.before_request
    def _gate() -> None:
        if request.endpoint in exempt_endpoints:
            return
        limiter = get_rate_limiter(app)
        subject = client_subject()
        check_block = bool(subject) and not ip_blocking.is_allowlisted(
            request.remote_addr, settings
        )
        mode = auth_mode(app, request.endpoint)
        payload: dict[str, Any] | None = None
        early: Unauthorized | None = None
        if mode != "public" and request.method != "OPTIONS":
            try:
                payload = decode_request_token(app, mode)
            except Unauthorized as exc:
                early = exc
        user_id = int(payload["sub"]) if payload is not None else None
        names = limits_of_request(app, authenticated=user_id is not None)
        if not limiter.enabled:
            names = ()
        plan = limiter.plan_for(names)
        subjects = {"ip": subject, "user": str(user_id) if user_id is not None else subject}
        keys = limiter.keys_for(plan, subjects)
        refused_count = 1 if plan.limits and plan.limits[0][0] == API_PER_IP else 0
        handed = request.environ.pop(HANDED_CALL, None)
        if handed is not None:
            call = handed  # the fast path's call (`server.web.fast_path`): the same request's
        else:
            ranked = _rank_to_prefetch() if payload is not None and early is None else None
            try:
                call = call_gate(
                    limiter,
                    check_block=check_block,
                    subject=subject,
                    payload=payload,
                    mode=mode,
                    early=early,
                    plan=plan,
                    keys=keys,
                    refused=refused_count,
                    ranked=ranked,
                )
            except RedisUnavailable:
                call = UNREACHABLE
        reply = call.reply
        if call.ranked:
            g.prefetched_rank = call.rank
        if call.blocked_here:
            g.ip_blocked = True
            raise Forbidden(
                "Requests from this address are blocked for a while",
                code="ip_blocked",
                headers={"Retry-After": str(settings.ip_block_seconds)},
            )
        if reply is None or reply[0] == "U":
            # Redis unreachable, or it lost what it needed: decide as before, from PostgreSQL.
            _decide_slowly(limiter, payload, mode, early, plan, keys, refused_count, reply, subject)
            return
        outcome = reply[0]
        if outcome == "B":
            g.ip_blocked = True
            raise Forbidden(
                "Requests from this address are blocked for a while",
                code="ip_blocked",
                headers={"Retry-After": reply[1]},
            )
        if outcome == "R":
            g.rate_limit_counted = True
            refused_plan = limiter.plan_for(names[:refused_count])
            limiter.note(limiter.decision_from_reply(refused_plan, reply[2:]))
            if early is not None:
                raise early
            _refuse(payload, reply[1])
        if early is not None:
            # The fast path's call, made while the token was still good: it has expired
            # since. The request is counted already; it is refused as the token now is.
            g.rate_limit_counted = True
            raise early
        decision = limiter.decision_from_reply(plan, reply[2:])
        limiter.note(decision)
        if user_id is not None:
            _authorize(payload, SessionState(user_id, True, reply[1], payload.get("sgen", 0)))
        _apply(decision, anonymous=user_id is None)


class GateCall(NamedTuple):
    """What one gate script call said: the reply (split on spaces: the outcome first; None
    when Redis could not be reached), the rank it read (when `ranked`), and whether the error
    counters it advanced have just blocked this request's own address."""

    reply: list[str] | None
    ranked: bool = False
    rank: int | None = None
    blocked_here: bool = False


UNREACHABLE = GateCall(None)
# Where the fast path (`server.web.fast_path`) leaves the call it made for a request it then
# hands to Flask, so the gate decides from that call rather than spending the limits twice.
HANDED_CALL = "server.web.request_gate.call"


def call_gate(
    limiter: RateLimiter,
    *,
    check_block: bool,
    subject: str,
    payload: dict[str, Any] | None,
    mode: str,
    early: Unauthorized | None,
    plan,
    keys: list[str],
    refused: int,
    ranked: tuple[str, str] | None,
    meanwhile: Callable[[], None] | None = None,
) -> GateCall:
    """One round trip: the gate script for a request (RedisUnavailable when Redis is down).

    Needs an app context, not a request: the fast path calls it too. `ranked` names the
    sorted set and member whose rank the view wants (authenticated requests only);
    `meanwhile` runs while Redis runs the script (see `RateLimiter.run_script`)."""
    checks = "b" if check_block else ""
    sgen = "0"
    if early is not None:
        checks += "r"
    elif payload is not None:
        checks += "tu" + ("a" if mode == "admin" else "")
        sgen = str(payload.get("sgen", 0))
    if ("b" in checks or "t" in checks) and security_cache.behind():
        checks += "d"
    if ranked is not None:
        checks += "q"
    ranked = ranked or ()
    if "t" in checks:
        token_keys = token_revocations.cache_keys(payload)
    else:
        marker = security_cache.CACHE_READY_KEY if check_block else _UNUSED_KEY
        token_keys = (_UNUSED_KEY, _UNUSED_KEY, marker)
    user_key = session_state.key_for(int(payload["sub"])) if payload is not None else None
    script_keys = [
        ip_blocking.BLOCK_PREFIX + subject if check_block else _UNUSED_KEY,
        *token_keys,
        user_key or _UNUSED_KEY,
        *keys,
    ]
    if session_state.lost_writes_pending():
        try:
            session_state.drop_lost_writes(get_redis())
        except redis.RedisError as exc:
            outage_log("redis").failed("session state cache", exc)
    signals = _take_error_signals()
    reply = limiter.run_script(
        GATE_SCRIPT,
        [*script_keys, *(signal.key for signal in signals), *ranked[:1]],
        (
            checks,
            sgen,
            refused,
            len(plan.limits),
            limiter.new_member(),
            *plan.args,
            *(signal.window_seconds for signal in signals),
            *ranked[1:],
        ),
        meanwhile,
    ).split(" ")
    if "d" in checks:
        security_cache.marker_dropped()
    if "t" in checks:
        token_revocations.cache_reached()
    counts, _, rank = reply[0].partition("|")
    blocked_here = False
    if signals:
        blocked_here = _block_bursts(signals, [int(count) for count in counts.split(",")], subject)
    return GateCall(
        reply[1:],
        ranked=bool(rank),
        rank=None if rank in ("", "-") else int(rank),
        blocked_here=blocked_here,
    )


def prefetch_rank(locate: Callable[[dict[str, Any]], tuple[str, str]]) -> Callable:
    """Mark a view whose answer needs one member's rank in a sorted set (a job's place in
    line): `locate(view_args)` names the set's key and the member, and the gate reads the
    rank in its own round trip (authenticated requests only). The view takes it with
    `prefetched_rank()`, which says when the gate could not."""

    def mark(view: Callable) -> Callable:
        view._prefetch_rank = locate  # type: ignore[attr-defined]
        return view

    return mark


def prefetched_rank() -> tuple[int | None] | None:
    """The rank the gate read for this request's view: `(rank,)` (0 = first; `(None,)` when
    the member is not in the set), or None when it read none (Redis down, an undecided
    gate): then the view asks Redis itself."""
    if "prefetched_rank" not in g:
        return None
    return (g.prefetched_rank,)


def _rank_to_prefetch() -> tuple[str, str] | None:
    locate = getattr(current_app.view_functions.get(request.endpoint), "_prefetch_rank", None)
    return None if locate is None else locate(request.view_args or {})


def defer_error_signal(app: Flask, signal: ip_blocking.ErrorSignal) -> None:
    """Count an error response toward its address's block in the next request's gate, so
    after-response bookkeeping costs no round trip of its own."""
    app.extensions[_EXTENSION_KEY].append(signal)


def _take_error_signals() -> list[ip_blocking.ErrorSignal]:
    pending = current_app.extensions[_EXTENSION_KEY]
    signals = []
    while pending and len(signals) < MAX_SIGNALS_PER_REQUEST:
        try:
            signals.append(pending.popleft())
        except IndexError:
            break
    return signals


def _block_bursts(signals, counts, subject: str) -> bool:
    """Block the addresses whose error counters have just reached their limit; True when
    `subject` is one of them (this request is then refused too)."""
    settings = get_settings()
    blocked_here = False
    for signal, count in zip(signals, counts, strict=True):
        try:
            row = ip_blocking.block_on_burst(get_redis(), signal, count, settings=settings)
        except redis.RedisError as exc:
            outage_log("redis").failed("IP block", exc)
            continue
        except SQLAlchemyError:
            # In force (Redis has it) but not recorded: the request that carried the signal
            # is not failed for it (nor, on the fast path, checked twice).
            log.warning(
                "automatic IP block not recorded in the database",
                extra={"client_ip": signal.subject},
                exc_info=True,
            )
            blocked_here = blocked_here or signal.subject == subject
            continue
        blocked_here = blocked_here or (row is not None and signal.subject == subject)
    return blocked_here


def _decide_slowly(limiter, payload, mode, early, plan, keys, refused_count, reply, subject):
    """Decide without the gate script: Redis is down, or lost the security cache's marker or
    the user's session state."""
    if reply is None:
        outage_log("redis").failed("IP block check (failing open)", RedisUnavailable())
    elif reply[1] == "block":
        seconds = ip_blocking.block_seconds_in_database(subject)
        security_cache.rebuild_after_a_miss(get_redis())
        if seconds:
            g.ip_blocked = True
            raise Forbidden(
                "Requests from this address are blocked for a while",
                code="ip_blocked",
                headers={"Retry-After": str(seconds)},
            )
    address_plan = plan._replace(
        limits=plan.limits[:refused_count], args=plan.args[: 2 * refused_count]
    )
    try:
        if early is not None:
            raise early
        if payload is not None:
            state = _token_state(payload, redis_reachable=reply is not None)
            if state is not None:
                _refuse(payload, state)
            user_state = _session_state(int(payload["sub"]), redis_reachable=reply is not None)
            _refuse_for_session(payload, user_state, mode)
    except Exception:
        _hit(limiter, address_plan, keys[:refused_count])
        g.rate_limit_counted = True
        raise
    decision = _hit(limiter, plan, keys)
    if payload is not None:
        _authorize(payload, user_state)
    _apply(decision, anonymous=payload is None)


def _token_state(payload: dict[str, Any], *, redis_reachable: bool) -> str | None:
    if not redis_reachable:
        return _as_reason(token_revocations.state_in_database_for(payload))
    return _as_reason(token_revocations.check_token(get_redis(), payload=payload))


def _as_reason(state: str | None) -> str | None:
    if state is None:
        return None
    if state == token_revocations.FAMILY_REVOKED:
        return "family_revoked"
    return "token:" + state


def _session_state(user_id: int, *, redis_reachable: bool) -> SessionState:
    state = session_state.load(user_id)
    if redis_reachable:
        try:
            session_state.store_if_missing(get_redis(), state)
        except redis.RedisError as exc:
            outage_log("redis").failed("session state cache", exc)
    return state


def _refuse_for_session(payload: dict[str, Any], state: SessionState, mode: str) -> None:
    if not state.active:
        _refuse(payload, "disabled")
    if state.session_generation != payload.get("sgen", 0):
        _refuse(payload, "session")
    if mode == "admin" and not state.is_admin:
        _authorize(payload, state)
        _refuse(payload, "admin")


def _hit(limiter: RateLimiter, plan, keys) -> Decision:
    if not plan.limits:
        return Decision(True, ())
    try:
        decision = limiter.run_hit(plan, keys)
    except RedisUnavailable:
        decision = limiter.hit_in_memory(plan, keys)
    limiter.note(decision)
    return decision


def _refuse(payload: dict[str, Any] | None, reason: str) -> None:
    """Raise the error the current code gives for `reason`."""
    if reason.startswith("token:") or reason == "family_revoked":
        state = reason.removeprefix("token:")
        if state == token_revocations.ROTATED and (payload or {}).get("type") == "refresh":
            token_revocations.revoke_family_after_reuse(
                get_redis(), payload=payload, settings=get_settings()
            )
        raise Unauthorized("Token has been revoked")
    if reason == "disabled":
        raise Unauthorized("User not found or disabled")
    if reason == "session":
        raise Unauthorized(
            "This session has ended (password changed or sessions revoked); log in again",
            code="session_revoked",
        )
    if reason == "admin":
        from server.security_manager.events import record_event

        g.user_id = int(payload["sub"])  # type: ignore[index]
        record_event(
            action="authorization_failure",
            outcome="denied",
            object_type="endpoint",
            object_id=request.endpoint,
            details={"method": request.method, "path": request.path},
        )
        raise Forbidden("Admin role required")
    raise Unauthorized("Token has been revoked")


def _authorize(payload: dict[str, Any], state: SessionState) -> None:
    g.user_id = state.user_id
    g.jwt = payload
    g.session_state = state


def _apply(decision: Decision, *, anonymous: bool) -> None:
    g.rate_limit_decision = decision
    if not decision.allowed:
        raise refusal(decision, anonymous=anonymous)
