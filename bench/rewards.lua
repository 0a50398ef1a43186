-- wrk script: PUT /rewards for the customers bench/predict traffic created
-- (c0..c99999, as ../shared/peer/predict.lua names them), accepted one time in four.
-- Thread k starts at customer 50021 k, so the threads of a 10 s run do not
-- reward one customer at the same moment (real clients would not).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local count = 0
function setup(thread)
  thread:set("first", count * 50021)
  count = count + 1
end
local n = -1
request = function()
  n = n + 1
  local c = ((first or 0) + n) % 100000
  local body = string.format('{"customer_id": "c%d", "timestamp": "2022-01-%02d", ' ..
    '"accepted_one_of_the_three_offers": %s}', c, (c % 28) + 1,
    (n % 4 == 0) and "true" or "false")
  return wrk.format(nil, wrk.path, nil, body)
end
