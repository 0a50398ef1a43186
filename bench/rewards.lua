-- wrk script: PUT /rewards, accepted one time in four, each reward for a
-- customer that has an unrewarded episode (a reward goes to the customer's
-- latest unrewarded episode), so the rate measures rewards, not cheap 404s.
--
-- With REWARDS_FROM=PREFIX (make bench's measured row), wrk thread k rewards,
-- once each and in order, the customers that answered 200 in PREFIX.<k>: the
-- files bench/predict-ids.lua writes (PREDICT_IDS_OUT=PREFIX) with the same -t.
-- When a thread has used up its customers it starts again from the first,
-- whose episodes are then rewarded: those answers are 409 and make the bench
-- fail, which says the seeding load was too short for the reward rate.
--
-- Without REWARDS_FROM (the teaching loads, right after 2 s of
-- ../shared/peer/predict.lua, whose wrk threads each name customers c1, c2, ...):
-- thread k rewards c(1 + 5000 (k - 1)) upwards, so two threads do not reward one
-- customer at the same moment (real clients would not).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local count = 0
function setup(thread)
  count = count + 1
  thread:set("tid", count)
end

local customers = {}
local from = os.getenv("REWARDS_FROM")

function init(args)
  if from == nil or from == "" then
    return
  end
  local f = assert(io.open(from .. "." .. tostring(tid), "r"))
  for line in f:lines() do
    local status, cust = string.match(line, "^%S+ (%d+) %S+ (%S+)$")
    if status == "200" and cust ~= "?" then
      customers[#customers + 1] = cust
    end
  end
  f:close()
  assert(#customers > 0, "REWARDS_FROM: no customer answered 200 in " .. from .. "." .. tostring(tid))
end

local n = -1
request = function()
  n = n + 1
  local cust
  if #customers > 0 then
    cust = customers[n % #customers + 1]
  else
    cust = "c" .. tostring(1 + 5000 * ((tid or 1) - 1) + n)
  end
  local body = string.format('{"customer_id": "%s", "timestamp": "2022-01-%02d", ' ..
    '"accepted_one_of_the_three_offers": %s}', cust, (n % 28) + 1,
    (n % 4 == 0) and "true" or "false")
  return wrk.format(nil, wrk.path, nil, body)
end
