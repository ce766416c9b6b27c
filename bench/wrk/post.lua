-- bench/wrk/post.lua: POST the file named by $BENCH_BODY to $BENCH_PATH (default /v1/messages) and
-- print one machine-readable line at the end:
--   RESULT requests=N rps=R p50_us=.. p90_us=.. p99_us=.. max_us=.. mean_us=.. err_connect=.. ...
-- wrk -t2 -c32 -d10s -s bench/wrk/post.lua http://127.0.0.1:PORT
local path = os.getenv("BENCH_BODY") or error("set BENCH_BODY to the request body file")
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/messages"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = "bench"
wrk.headers["Authorization"] = nil

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f " ..
    "bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, s, summary.requests / s, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
end
