-- wrk script for the load test's raw-throughput run (python -m benchmarks.load): counts 429s
-- apart from other non-2xx answers and prints one JSON line with the percentiles wrk measured.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  throttled = 0
  other = 0
end

function response(status, headers, body)
  if status == 429 then
    throttled = throttled + 1
  elseif status >= 300 then
    other = other + 1
  end
end

function done(summary, latency, requests)
  local throttled_total, other_total = 0, 0
  for _, thread in ipairs(threads) do
    throttled_total = throttled_total + thread:get("throttled")
    other_total = other_total + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "throttled_429": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, throttled_total, other_total,
    e.connect + e.read + e.write + e.timeout))
end
