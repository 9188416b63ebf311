-- wrk script: POST telemetry, one access token per simulated device, taken
-- round robin from the file named by TOKENS_FILE (one token per line).
local tokens = {}
local counters = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    table.insert(tokens, line)
  end
  -- Each wrk thread starts at a different device.
  index = math.random(#tokens)
  ok, refused, seq = 0, 0, 0
end

function request()
  index = index % #tokens + 1
  seq = seq + 1
  local body = '{"temperature":' .. (20 + seq % 10) .. ',"seq":' .. seq .. '}'
  return wrk.format("POST", "/api/v1/" .. tokens[index] .. "/telemetry",
    { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_refused = total_refused + thread:get("refused")
  end
  io.write(string.format("RESULT requests_per_second=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f ok=%d refused=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    total_ok, total_refused,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
