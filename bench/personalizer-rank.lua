-- wrk script: POST /personalizer/v1.0/rank with a context and 10 actions of
-- a few features each (make bench, issue 14). Event ids are the client's,
-- b<thread>-<n> (n from 0 in each thread), so bench/personalizer-reward.lua
-- can reward the events this row ranked.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local actions = {}
for i = 1, 10 do
  actions[i] = string.format('{"id": "article%d", "features": [{"topic": "t%d", "words": %d}, ' ..
    '{"length": "%s", "recent": %s}]}', i, i % 4, 200 + 50 * i, (i % 2 == 0) and "long" or "short",
    (i % 3 == 0) and "true" or "false")
end
local devices = {"mobile", "desktop", "tablet"}
local count = 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
end
local n = -1
request = function()
  n = n + 1
  local body = string.format('{"contextFeatures": [{"timeOfDay": "t%d"}, {"device": {"os": "%s"}}], ' ..
    '"actions": [%s], "eventId": "b%d-%d"}', n % 4, devices[(n % 3) + 1], table.concat(actions, ", "),
    tid or 0, n)
  return wrk.format(nil, wrk.path, nil, body)
end
