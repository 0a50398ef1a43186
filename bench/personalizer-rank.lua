-- wrk script: POST /personalizer/v1.0/rank with a context and 10 actions of
-- a few features each (make bench, issue 14); offerd generates the event ids.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local actions = {}
for i = 1, 10 do
  actions[i] = string.format('{"id": "article%d", "features": [{"topic": "t%d", "words": %d}, ' ..
    '{"length": "%s", "recent": %s}]}', i, i % 4, 200 + 50 * i, (i % 2 == 0) and "long" or "short",
    (i % 3 == 0) and "true" or "false")
end
local devices = {"mobile", "desktop", "tablet"}
local n = -1
request = function()
  n = n + 1
  local body = string.format('{"contextFeatures": [{"timeOfDay": "t%d"}, {"device": {"os": "%s"}}], ' ..
    '"actions": [%s]}', n % 4, devices[(n % 3) + 1], table.concat(actions, ", "))
  return wrk.format(nil, wrk.path, nil, body)
end
