"""The queue's Redis Lua scripts: one atomic script per state change.

Every script takes the same fixed list of keys (`KEY_NAMES`), all under one hash tag
(`jobq:{default}:`), so they live in one hash slot and every key a script touches is declared
in KEYS: safe on Redis Cluster. Per-user order needs no per-user key: the `ready` set is a
lexicographic sorted set whose members are `<user>|<score, 16 digits>|<job id>`, so a user's
best job is one `ZRANGEBYLEX` (O(log n)) on a declared key. Time comes from the Redis server
(`TIME`), never from a client clock (needs Redis 5+, where scripts replicate their effects).

Layout:
  seq      STRING  the counter behind FIFO order within a priority band for jobs PostgreSQL
                   gives no place in line (SQLite); on PostgreSQL a job's place is its row's
                   `queue_seq`, so the line survives Redis losing its data
  ready    ZSET    (lex, all scores 0) `<user>|<score>|<job>`: every job ready to run
  queue    ZSET    job -> score: global order of ready jobs (positions, sizes)
  heads    ZSET    user -> score of that user's best ready job, only for users under the cap
  jobs     HASH    job -> `<user>|<score>`: every job Redis holds, whatever its state
  delayed  ZSET    job -> run-at (ms): retries and quota waits, promoted by the claim
  running  ZSET    job -> lease expiry (ms)
  leases   HASH    job -> lease token
  active   HASH    user -> jobs running now
  cancel   HASH    job -> 1 when a cancel was asked for a running job
  state    STRING  written when the state is rebuilt from PostgreSQL; its absence means Redis
                   lost the queue's data (a flush, a restart without persistence, a failover)
  wake     LIST    wake-up calls for idle claimers (`BLPOP`): one pushed per job that became
                   claimable (enqueued ready, put back, its user's slot freed, or brought
                   forward for a concurrency slot), at most 256; emptied by a claim that leaves
                   nothing claimable, since every call in it is then stale
  waiters  ZSET    (lex, all scores 0) `<cap>|<score>|<job>`: delayed jobs that wait for a slot
                   of a concurrency cap (`rate_limiter`), in line; `PROMOTE_WAITERS` brings
                   the earliest forward when a slot frees, and their delay is only the
                   fallback
  waiting  HASH    job -> the cap it waits for: every job in `waiters`, and only while it is
                   in `delayed`
"""

KEY_NAMES = (
    "seq",
    "ready",
    "queue",
    "heads",
    "jobs",
    "delayed",
    "running",
    "leases",
    "active",
    "cancel",
    "state",
    "wake",
    "waiters",
    "waiting",
)

# 2^40: room for a trillion jobs per band; band * 2^40 + seq stays exact below 2^53.
BAND_WIDTH = 1 << 40

_PRELUDE = r"""
local K_SEQ, K_READY, K_QUEUE, K_HEADS, K_JOBS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_DELAYED, K_RUNNING, K_LEASES, K_ACTIVE, K_CANCEL = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local K_STATE, K_WAKE, K_WAITERS, K_WAITING = KEYS[11], KEYS[12], KEYS[13], KEYS[14]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Large numbers must never go through tostring (it would print 5.4975581388e+12).
local function fmt(n) return string.format('%.0f', n) end
local function member(uid, score, id)
  return uid .. '|' .. string.format('%016.0f', score) .. '|' .. id
end
local function parse_meta(meta)
  local uid, score = string.match(meta, '^([^|]+)|(%d+)$')
  return uid, tonumber(score)
end
local function best_of_user(uid)
  return redis.call('ZRANGEBYLEX', K_READY, '[' .. uid .. '|', '[' .. uid .. '|\255', 'LIMIT', 0, 1)[1]
end
local function active_of(uid)
  return tonumber(redis.call('HGET', K_ACTIVE, uid) or '0')
end
local function refresh_head(uid, cap)
  local m = nil
  if active_of(uid) < cap then m = best_of_user(uid) end
  if m then
    redis.call('ZADD', K_HEADS, string.match(m, '^[^|]+|(%d+)|'), uid)
  else
    redis.call('ZREM', K_HEADS, uid)
  end
end
local function make_ready(id, uid, score, cap)
  redis.call('ZADD', K_READY, 0, member(uid, score, id))
  redis.call('ZADD', K_QUEUE, fmt(score), id)
  if active_of(uid) < cap then
    local current = redis.call('ZSCORE', K_HEADS, uid)
    if (not current) or score < tonumber(current) then
      redis.call('ZADD', K_HEADS, fmt(score), uid)
    end
  end
end
-- Wake up to n idle claimers (each blocked on BLPOP of the wake list). At most 256 calls
-- are held: more than there are claimers to wake.
local function wake(n)
  if n <= 0 then return end
  local room = 256 - redis.call('LLEN', K_WAKE)
  for _ = 1, math.min(n, room) do redis.call('RPUSH', K_WAKE, '1') end
end
local function claimable(uid)
  return redis.call('ZSCORE', K_HEADS, uid) ~= false
end
-- A job leaving `delayed` no longer waits for a concurrency slot.
local function forget_wait(id, score)
  local cap_name = redis.call('HGET', K_WAITING, id)
  if cap_name then
    redis.call('HDEL', K_WAITING, id)
    redis.call('ZREM', K_WAITERS, member(cap_name, score, id))
  end
end
local function release(id, uid)
  redis.call('ZREM', K_RUNNING, id)
  redis.call('HDEL', K_LEASES, id)
  if redis.call('HINCRBY', K_ACTIVE, uid, -1) <= 0 then redis.call('HDEL', K_ACTIVE, uid) end
end
"""

# ARGV: cap, rebuilding ('1' only for the rebuild itself), then (job id, user id, band,
# delay ms, place) per job; place is the job's `queue_seq` (0: none, the `seq` counter gives
# one). Idempotent: a job Redis already holds is left alone, so the reconciler and a late
# submit can both enqueue safely. Returns how many were added, or 'lost' (adding nothing) when
# the state marker is gone: a job enqueued before the rebuild would take a place in a line
# that is about to be rebuilt around it.
ENQUEUE = (
    _PRELUDE
    + r"""
if ARGV[2] ~= '1' and redis.call('EXISTS', K_STATE) == 0 then return 'lost' end
local cap = tonumber(ARGV[1])
local now = nil
local added, ready = 0, 0
for i = 3, #ARGV, 5 do
  local id, uid, band, delay = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  if redis.call('HEXISTS', K_JOBS, id) == 0 then
    local place = tonumber(ARGV[i + 4])
    if place <= 0 then place = redis.call('INCR', K_SEQ) end
    local score = band * 1099511627776 + place
    redis.call('HSET', K_JOBS, id, uid .. '|' .. fmt(score))
    if delay > 0 then
      now = now or now_ms()
      redis.call('ZADD', K_DELAYED, fmt(now + delay), id)
    else
      make_ready(id, uid, score, cap)
      if claimable(uid) then ready = ready + 1 end
    end
    added = added + 1
  end
end
wake(ready)
return added
"""
)

# ARGV: cap, max jobs, lease ms, token. Promotes due delayed jobs (bounded batch) to their
# original score, then takes the best jobs of users under the cap. Returns {job, user, ...},
# or 'lost' (claiming nothing) when the state marker is gone: the state must be rebuilt first,
# or the per-user counts and the line would be wrong.
CLAIM = (
    _PRELUDE
    + r"""
if redis.call('EXISTS', K_STATE) == 0 then return 'lost' end
local cap, max_n, lease_ms, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', K_DELAYED, id)
  local meta = redis.call('HGET', K_JOBS, id)
  if meta then
    local uid, score = parse_meta(meta)
    make_ready(id, uid, score, cap)
    forget_wait(id, score)
  end
end
local out = {}
local taken, misses = 0, 0
while taken < max_n and misses < 100 do
  local uid = redis.call('ZRANGE', K_HEADS, 0, 0)[1]
  if not uid then break end
  local m = nil
  if active_of(uid) < cap then m = best_of_user(uid) end
  if not m then
    redis.call('ZREM', K_HEADS, uid)
    misses = misses + 1
  else
    local id = string.match(m, '^[^|]+|%d+|(.+)$')
    redis.call('ZREM', K_READY, m)
    redis.call('ZREM', K_QUEUE, id)
    redis.call('HINCRBY', K_ACTIVE, uid, 1)
    refresh_head(uid, cap)
    redis.call('ZADD', K_RUNNING, fmt(now + lease_ms), id)
    redis.call('HSET', K_LEASES, id, token)
    out[#out + 1] = id
    out[#out + 1] = uid
    taken = taken + 1
  end
end
if redis.call('ZCARD', K_HEADS) == 0 then redis.call('DEL', K_WAKE) end
return out
"""
)

# ARGV: lease ms, then (job, token) pairs. Per job: 0 lease lost, 1 held,
# 2 held and a cancel was asked for. 'lost' when the state marker is gone (see CLAIM).
RENEW = (
    _PRELUDE
    + r"""
if redis.call('EXISTS', K_STATE) == 0 then return 'lost' end
local lease_ms = tonumber(ARGV[1])
local now = nil
local out = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', K_LEASES, id) == token then
    now = now or now_ms()
    redis.call('ZADD', K_RUNNING, fmt(now + lease_ms), id)
    if redis.call('HEXISTS', K_CANCEL, id) == 1 then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
"""
)

# ARGV: cap, then (job, token, op, delay ms) per job; op 'ack' removes the job, 'retry' puts it
# back (after the delay) with its original score, 'wait:<cap name>' too, and the job waits in
# `waiters` for a slot of that concurrency cap (the delay is the fallback). Fenced: a wrong
# token changes nothing. Per job: 1 settled, 0 refused.
SETTLE = (
    _PRELUDE
    + r"""
local cap = tonumber(ARGV[1])
local now = nil
local out = {}
local freed = 0
for i = 2, #ARGV, 4 do
  local id, token, op, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local meta = redis.call('HGET', K_JOBS, id)
  if meta and redis.call('HGET', K_LEASES, id) == token then
    local uid, score = parse_meta(meta)
    release(id, uid)
    if op == 'ack' then
      redis.call('HDEL', K_JOBS, id)
      redis.call('HDEL', K_CANCEL, id)
    elseif delay > 0 then
      now = now or now_ms()
      redis.call('ZADD', K_DELAYED, fmt(now + delay), id)
      local cap_name = string.match(op, '^wait:(.+)$')
      if cap_name then
        redis.call('HSET', K_WAITING, id, cap_name)
        redis.call('ZADD', K_WAITERS, 0, member(cap_name, score, id))
      end
    else
      make_ready(id, uid, score, cap)
    end
    refresh_head(uid, cap)
    if claimable(uid) then freed = freed + 1 end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
wake(freed)
return out
"""
)

# ARGV: limit. Leases whose expiry has passed: {job, token, ...}. Changes nothing.
EXPIRED = (
    _PRELUDE
    + r"""
local ids = redis.call('ZRANGEBYSCORE', K_RUNNING, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', K_LEASES, id) or ''
end
return out
"""
)

# ARGV: job, cap. 'removed' (was waiting), 'running' (cancel flag set) or 'absent'.
CANCEL = (
    _PRELUDE
    + r"""
local id, cap = ARGV[1], tonumber(ARGV[2])
local meta = redis.call('HGET', K_JOBS, id)
if not meta then return 'absent' end
if redis.call('HEXISTS', K_LEASES, id) == 1 then
  redis.call('HSET', K_CANCEL, id, '1')
  return 'running'
end
local uid, score = parse_meta(meta)
redis.call('ZREM', K_DELAYED, id)
forget_wait(id, score)
redis.call('ZREM', K_READY, member(uid, score, id))
redis.call('ZREM', K_QUEUE, id)
redis.call('HDEL', K_JOBS, id)
refresh_head(uid, cap)
return 'removed'
"""
)

# ARGV: cap, cap name, n. A slot of the concurrency cap `cap name` freed: make ready the n
# earliest jobs that wait for one (`waiters`), passing over those whose user is at the per-user
# cap (they could not start now and keep their place in `waiters`) unless no other waits, and
# wake claimers for them. Returns how many were made ready. The claim still takes the slot
# itself (`rate_limiter.acquire`), so a job brought forward never runs beyond the cap: one
# that finds the slot taken waits again.
PROMOTE_WAITERS = (
    _PRELUDE
    + r"""
if redis.call('EXISTS', K_STATE) == 0 then return 0 end
local cap, cap_name, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local line = redis.call(
  'ZRANGEBYLEX', K_WAITERS, '[' .. cap_name .. '|', '[' .. cap_name .. '|\255', 'LIMIT', 0, 20)
local chosen, at_cap = {}, {}
for _, m in ipairs(line) do
  if #chosen >= n then break end
  local id = string.match(m, '^[^|]+|%d+|(.+)$')
  local meta = redis.call('HGET', K_JOBS, id)
  if meta and redis.call('ZSCORE', K_DELAYED, id) then
    local uid, score = parse_meta(meta)
    if active_of(uid) < cap then
      chosen[#chosen + 1] = {id, uid, score}
    else
      at_cap[#at_cap + 1] = {id, uid, score}
    end
  else  -- not delayed any more: it does not wait
    redis.call('ZREM', K_WAITERS, m)
    redis.call('HDEL', K_WAITING, id)
  end
end
if #chosen == 0 and at_cap[1] then chosen[1] = at_cap[1] end
local woken = 0
for _, job in ipairs(chosen) do
  local id, uid, score = job[1], job[2], job[3]
  redis.call('ZREM', K_DELAYED, id)
  forget_wait(id, score)
  make_ready(id, uid, score, cap)
  if claimable(uid) then woken = woken + 1 end
end
wake(woken)
return #chosen
"""
)

# KEYS[1]: the lock. ARGV: owner. Delete the lock only if this owner holds it.
RELEASE_LOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1]: the rebuild lock, KEYS[2]: the state marker, KEYS[3]: the wake-up list. ARGV: owner.
# Ends a rebuild: writes the marker only if this owner still holds the lock, so a flush during
# the rebuild (which takes the lock with it) leaves the marker absent and the loss is seen
# again; then wakes a claimer, since claims were refused until now.
FINISH_REBUILD = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
if redis.call('LLEN', KEYS[3]) < 256 then redis.call('RPUSH', KEYS[3], '1') end
return 1
"""
