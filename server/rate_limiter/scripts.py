"""The limiter's Lua scripts; every limit check of a request is one call of `hit`."""

from __future__ import annotations

# KEYS[1..n]: window keys; KEYS[n+1..]: pause keys (a live one refuses everything).
# ARGV: member suffix, then limit_i and window_i (us) of each window key: separate numbers,
# so the script does no parsing. Scores are whole microseconds of the Redis clock.
# Returns one string (cheaper to build, send and parse than an array), times in us:
# "member paused count_1 time_1 ... count_n time_n", member "-" when refused. Count is after
# the admission when admitted. Time, when admitted: 0 while the limit has room left (its reset
# is then a whole window, which the caller knows), else when its next slot frees; when
# refused: until this limit can admit one more (0 if it has room).
# Effects replication (the default since Redis 5) lets writes follow `TIME`.
HIT_FUNCTION = """
local function hit(keys, argv)
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n = (#argv - 1) / 2
local paused = 0
for j = n + 1, #keys do
  local ttl = redis.call('PTTL', keys[j])
  if ttl > 0 and ttl * 1000 > paused then paused = ttl * 1000 end
end
local out = {'-', '0'}
if paused > 0 then out[2] = string.format('%d', paused) end
local allowed = paused == 0
local counts = {}
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', keys[i], '-inf', now - argv[1 + 2 * i])
  local count = redis.call('ZCARD', keys[i])
  counts[i] = count
  if count >= tonumber(argv[2 * i]) then allowed = false end
end
local member
if allowed then
  member = t[1] .. '.' .. t[2] .. '-' .. argv[1]
  out[1] = member
end
for i = 1, n do
  local key, limit, window = keys[i], tonumber(argv[2 * i]), tonumber(argv[1 + 2 * i])
  local count, wait = counts[i], '0'
  if allowed then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window / 1000))
    count = count + 1
    if count == limit then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      wait = string.format('%d', oldest[2] + window - now)
    end
  elseif count >= limit then
    -- Trimmed to the window, so the (count - limit)-th oldest is the one whose ageing out
    -- leaves room for one more.
    local retry = window
    if limit > 0 then
      local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      retry = e[2] + window - now
    end
    wait = string.format('%d', retry)
  end
  out[2 * i + 1] = count
  out[2 * i + 2] = wait
end
return table.concat(out, ' ')
end
"""
# The request gate's script (`server.web.request_gate`) calls `hit` too.
HIT_SCRIPT = HIT_FUNCTION + "return hit(KEYS, ARGV)\n"

# Read-only usage of window keys: KEYS as above; ARGV: n, then the window (us) per key.
# Returns: server time (us), pause left (us), then per key: count, reset (us).
PEEK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local paused = 0
for j = n + 1, #KEYS do
  local ttl = redis.call('PTTL', KEYS[j])
  if ttl > 0 and ttl * 1000 > paused then paused = ttl * 1000 end
end
local out = {now, paused}
for i = 1, n do
  local window = tonumber(ARGV[1 + i])
  local since = '(' .. string.format('%d', now - window)
  local count = redis.call('ZCOUNT', KEYS[i], since, '+inf')
  local reset = 0
  if count > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[i], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    reset = tonumber(oldest[2]) + window - now
  end
  out[#out + 1] = count
  out[#out + 1] = reset
end
return out
"""

# Concurrency cap. KEYS[1]: holders (score = lease expiry, us). ARGV: mode, holder, limit,
# lease (us). Modes: 'acquire' (or renew if held), 'renew' (only if held), 'count'.
# Returns: granted (0/1), holders now, retry (us until the earliest lease ends when refused).
CAP_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key, mode, holder = KEYS[1], ARGV[1], ARGV[2]
local limit, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local count = redis.call('ZCARD', key)
if mode == 'count' then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local reset = 0
  if first[2] then reset = tonumber(first[2]) - now end
  return {0, count, reset}
end
local held = redis.call('ZSCORE', key, holder)
if held or (mode == 'acquire' and count < limit) then
  redis.call('ZADD', key, now + lease, holder)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, math.ceil((tonumber(last[2]) - now) / 1000))
  return {1, redis.call('ZCARD', key), 0}
end
local retry = 0
if mode == 'acquire' then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  -- No holder at all means a cap of 0: nothing frees, so look again after one lease.
  if first[2] then retry = tonumber(first[2]) - now else retry = lease end
end
return {0, count, retry}
"""

# Move a Gemini reservation to the time its call finished: KEYS: the Gemini window keys;
# ARGV: member, then each key's window (us). Only a member still held is moved (ZADD XX), so
# a refunded or expired one stays gone. Returns how many keys held it.
SETTLE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local moved = 0
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[1 + i]) / 1000))
    moved = moved + 1
  end
end
return moved
"""

# Pause every Gemini call: KEYS[1] pause key; ARGV: milliseconds, reason. Never shortens.
PAUSE_SCRIPT = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
  return ms
end
return redis.call('PTTL', KEYS[1])
"""

# Reserve one Gemini call. KEYS: 1 the minute window, 2 the day window (both global), 3 the
# pause key; for a user's job also 4 the user's day allowance, 5 the user's calls in the minute
# window (their share's log), 6 the contenders (member "<user>:<job>", score = lease expiry).
# ARGV: 1 member suffix, 2-3 minute limit and window (us), 4-5 day limit and window; for a user
# also 6-7 the user's day limit and window, 8 the contender member, 9 its lease (us).
# A user's job takes part in the share while it asks: the share of each window is the minute
# limit divided among the users with a job asking (rounded up), and a user at their share
# waits even when the window has room, so that another user's next call finds room in it.
# Returns "member|- retry_us contenders share reason,...": retry is until every refusing
# window can admit one more.
GEMINI_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local retry, reasons = 0, {}
local function refuse(wait, reason)
  if wait > retry then retry = wait end
  reasons[#reasons + 1] = reason
end
local function check(key, limit, window, reason)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local wait = window
    if limit > 0 then
      local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      wait = e[2] + window - now
    end
    refuse(wait, reason)
    return false
  end
  return true
end
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then refuse(paused * 1000, 'paused') end
local minute_limit, minute_window = tonumber(ARGV[2]), tonumber(ARGV[3])
check(KEYS[1], minute_limit, minute_window, 'minute')
check(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), 'day')
local contenders, share = 0, 0
if #KEYS > 3 then
  -- A user whose own allowance is spent cannot use a share: they take no part in it.
  if check(KEYS[4], tonumber(ARGV[6]), tonumber(ARGV[7]), 'user_day') then
    local lease = tonumber(ARGV[9])
    redis.call('ZADD', KEYS[6], now + lease, ARGV[8])
    redis.call('PEXPIRE', KEYS[6], math.ceil(lease / 1000))
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
    local seen = {}
    for _, m in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
      local user = string.match(m, '^([^:]*):')
      if user and not seen[user] then
        seen[user] = true
        contenders = contenders + 1
      end
    end
    share = math.max(1, math.ceil(minute_limit / math.max(contenders, 1)))
    check(KEYS[5], share, minute_window, 'share')
  end
end
local member = '-'
if #reasons == 0 then
  member = t[1] .. '.' .. t[2] .. '-' .. ARGV[1]
  local windows = {minute_window, tonumber(ARGV[5]), 0, tonumber(ARGV[7]), minute_window}
  for i = 1, #KEYS - 1 do
    if i ~= 3 then
      redis.call('ZADD', KEYS[i], now, member)
      redis.call('PEXPIRE', KEYS[i], math.ceil(windows[i] / 1000))
    end
  end
end
return member .. ' ' .. string.format('%d', retry) .. ' ' .. contenders .. ' ' .. share ..
  ' ' .. table.concat(reasons, ',')
"""

# Count one token once in a window limit: KEYS[1] the window key; ARGV: token, limit, window
# (us). A token counted already is admitted again without counting (a job that runs again).
# Returns "admitted count retry_us".
ONCE_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local key, token = KEYS[1], ARGV[1]
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if redis.call('ZSCORE', key, token) then
  return '1 ' .. count .. ' 0'
end
if count >= limit then
  local retry = window
  if limit > 0 then
    local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    retry = e[2] + window - now
  end
  return '0 ' .. count .. ' ' .. string.format('%d', retry)
end
redis.call('ZADD', key, now, token)
redis.call('PEXPIRE', key, math.ceil(window / 1000))
return '1 ' .. (count + 1) .. ' 0'
"""
