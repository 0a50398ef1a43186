-- wrk script: POST /personalizer/v1.0/events/{eventId}/reward for the events
-- bench/personalizer-rank.lua ranked just before (b<thread>-<n>), value 1 one
-- time in four else 0. PZ_BENCH_EVENTS (env) is how many events each rank
-- thread surely made; past it the ids wrap, and a second reward of an event is
-- accepted and ignored (rewardAggregation earliest), as Personalizer does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local per_thread = tonumber(os.getenv("PZ_BENCH_EVENTS") or "1000")
if per_thread < 1 then per_thread = 1 end
local count = 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
end
local n = -1
request = function()
  n = n + 1
  local path = string.format("/personalizer/v1.0/events/b%d-%d/reward", tid or 0, n % per_thread)
  local body = (n % 4 == 0) and '{"value": 1}' or '{"value": 0}'
  return wrk.format(nil, path, nil, body)
end
