-- wrk script: POST /predict, a distinct customer per request, and a record of
-- every answer, so that a test can check what the server acknowledged.
--
--   PREDICT_IDS_OUT=/tmp/run/ids wrk -t4 -c32 -d10s -s bench/predict-ids.lua URL/predict
--
-- Each wrk thread appends to PREFIX.<thread>, one line per complete answer:
--   <unix time, seconds with µs> <status> <episode_id> <customer_id>
-- (for a 200; "?" when the answer lacks one). Other answers have
-- "retry-after=<value>" or "-" in place of the episode_id, and "-".
-- Lines are written as they arrive (line-buffered), so the files hold every
-- answer received even when the server is killed mid-run. Without
-- PREDICT_IDS_OUT nothing is written (plain load).
-- PREDICT_API_KEY, when set, is sent as "Authorization: Bearer KEY".
-- At the end one line goes to stdout for scripts to parse:
--   PREDICT_IDS {"requests":N,"non2xx":N,"connect":N,"read":N,"write":N,
--                "timeout":N,"latency_max_ms":X,"latency_p99_ms":X}
-- (wrk counts only complete answers in its latency figures; a request that
-- never got one shows up under "timeout" after wrk's --timeout.)

local ffi_ok, ffi = pcall(require, "ffi")
local now
if ffi_ok then
  pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_nsec; } predict_ids_timespec;
    int clock_gettime(int clk_id, predict_ids_timespec *tp);
  ]])
  local ts = ffi.new("predict_ids_timespec")
  now = function()
    ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable with `date +%s.%N`
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
  end
else
  now = function() return os.time() end
end

-- Main state: number the threads.
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- Thread states from here on.
local out
local n = 0
local prefix = os.getenv("PREDICT_IDS_OUT")
-- Customer ids are w<run>-<thread>-<n>: distinct within a run, and across
-- runs against one database when PREDICT_IDS_RUN differs (default: the time).
local run = os.getenv("PREDICT_IDS_RUN") or tostring(os.time())

function init(args)
  if prefix ~= nil and prefix ~= "" then
    out = assert(io.open(prefix .. "." .. tostring(tid), "a"))
    out:setvbuf("line")
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local key = os.getenv("PREDICT_API_KEY")
  if key ~= nil and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
end

local genders = { "M", "F", "Male", "female" }
local regions = { "Europa", "Americas", "Asia", "Mars" }

function request()
  n = n + 1
  local body = string.format(
    '{"customer_id": "w%s-%d-%d", "timestamp": "2022-01-%02d", ' ..
    '"states": {"age": %d, "gender": "%s", "client-since": "2020-01-01", ' ..
    '"region": "%s", "last_offer": "OFFER_%d"}, ' ..
    '"offers": {"OFFER_1": "True", "OFFER_2": "False", "OFFER_3": "True", ' ..
    '"OFFER_4": "True", "OFFER_5": "True", "OFFER_8": "True"}}',
    run, tid, n, (n % 28) + 1, 18 + n % 60, genders[n % 4 + 1], regions[n % 4 + 1],
    n % 8 + 1)
  return wrk.format(nil, wrk.path, nil, body)
end

function response(status, headers, body)
  if out == nil then
    return
  end
  local id, cust = "-", "-"
  if status == 200 then
    id = string.match(body or "", '"episode_id":%s*(%d+)') or "?"
    cust = string.match(body or "", '"customer_id":%s*"([^"]*)"') or "?"
  else
    local ra = headers["Retry-After"] or headers["retry-after"]
    if ra ~= nil then
      id = "retry-after=" .. ra
    end
  end
  out:write(string.format("%.6f %d %s %s\n", now(), status, id, cust))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PREDICT_IDS {"requests":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"latency_max_ms":%.3f,"latency_p99_ms":%.3f}\n',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    latency.max / 1000, latency:percentile(99) / 1000))
end
