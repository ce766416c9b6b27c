-- bench/wrk/post-keys.lua: bench/wrk/post.lua (same body, headers and RESULT line), but each request
-- carries the next developer key of $BENCH_KEYS (comma-separated) as x-api-key, in turn; each wrk
-- thread starts at a different key. The requests are formatted once, in init(): per request only a
-- prepared string is handed to wrk.
--   BENCH_BODY=file BENCH_KEYS=ccp_a,ccp_b wrk -t2 -c32 -d10s -s bench/wrk/post-keys.lua http://127.0.0.1:PORT
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post.lua")

local keys = {}
for k in (os.getenv("BENCH_KEYS") or error("set BENCH_KEYS to the comma-separated keys")):gmatch("[^,]+") do
  keys[#keys + 1] = k
end
assert(#keys > 0, "BENCH_KEYS holds no key")

local threads_made = 0
function setup(thread) -- runs in the main state; bench_thread becomes a global of the thread's state
  thread:set("bench_thread", threads_made)
  threads_made = threads_made + 1
end

local reqs, n, i = {}, 0, 0
function init(args)
  for j, k in ipairs(keys) do
    local h = {}
    for name, value in pairs(wrk.headers) do h[name] = value end
    h["x-api-key"] = k
    reqs[j] = wrk.format(nil, nil, h, nil)
  end
  n = #reqs
  i = ((bench_thread or 0) * 7) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
