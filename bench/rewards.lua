-- wrk script: PUT /rewards for the customers bench/predict traffic created
-- (c0..c99999, as ../shared/peer/predict.lua names them), accepted one time in four.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"customer_id": "c%d", "timestamp": "2022-01-%02d", ' ..
    '"accepted_one_of_the_three_offers": %s}', n % 100000, (n % 28) + 1,
    (n % 4 == 0) and "true" or "false")
  return wrk.format(nil, wrk.path, nil, body)
end
