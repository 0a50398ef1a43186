#!/usr/bin/env bash
# tests/personalizer.test.sh — the official Azure Personalizer client
# (tests/personalizer/client.mjs) against a live offerd, on SQLite and on
# PostgreSQL, plus what the client cannot show: tenant isolation (an event
# ranked with company A's key is unknown (404) to company B's key), events
# stored as episodes, a deferred event's reward counted only once it is
# activated, Apprentice and LoggingOnly serving the baseline, and
# Personalizer's error body on unknown and unserved paths.
#
# Knobs: OFFERD_TEST_BACKENDS ("sqlite", "pg", default "sqlite pg"); the
# harness's own (PERSONALIZER_LOOP_EVENTS...) pass through.
source "$(dirname "$0")/lib.sh"
lib_deadline 900

scripts/deps-node.sh || die "node and npm are needed (scripts/deps-node.sh)"
if [[ ! -f node_modules/@azure/cognitiveservices-personalizer/package.json ||
      package-lock.json -nt node_modules/.package-lock.json ]]; then
  note "installing the pinned dev tools (npm ci)"
  SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund >/dev/null || die "npm ci failed"
fi

# pz_eval_wait ID [KEY]: polls GET evaluations/ID until it is no longer pending (30 s).
pz_eval_wait() {
  local i
  for ((i = 0; i < 300; i++)); do
    pz GET "evaluations/$1" "" "${2:-}"
    [[ $HTTP_STATUS == 200 && $(jq -r .status <<<"$HTTP_BODY") != pending ]] && return 0
    sleep 0.1
  done
}

run_backend() {
  local backend=$1 db key_a key_b url ev
  backend_db "$backend" pz db
  key_a=$(key_create "$db" A)
  key_b=$(key_create "$db" B)
  offerd_start "$backend" "$db" --refresh 0.2
  url=${OFFERD_URL[$backend]}

  # 200 measured ranks, not 100: at 5% exploration over 5 actions the
  # rewarded one is chosen 96% of the time, and 100 draws fall under 90%
  # about once in a hundred runs by chance alone.
  if PERSONALIZER_ENDPOINT=$url PERSONALIZER_KEY=$key_a PERSONALIZER_LOOP_EVENTS=${PERSONALIZER_LOOP_EVENTS:-500} \
      PERSONALIZER_LOOP_TAIL=${PERSONALIZER_LOOP_TAIL:-200} node tests/personalizer/client.mjs \
      >"$LIB_TMP/client-$backend.log" 2>&1; then
    ok "[$backend] the official client's steps pass: $(tail -n 1 "$LIB_TMP/client-$backend.log")"
    note "    $(grep '^PASS learning-loop' "$LIB_TMP/client-$backend.log")"
  else
    sed 's/^/    /' "$LIB_TMP/client-$backend.log"
    fail "[$backend] the official client's steps failed (above)"
  fi

  # Tenants: A's event does not exist for B.
  ev="tenant-$RANDOM$RANDOM"
  http POST "$url/personalizer/v1.0/rank" -H "Ocp-Apim-Subscription-Key: $key_a" \
    -H 'Content-Type: application/json' \
    --data "{\"actions\": [{\"id\": \"a\", \"features\": [{\"f\": 1}]}], \"eventId\": \"$ev\"}"
  expect_status 201 "[$backend] company A ranks event $ev"
  http POST "$url/personalizer/v1.0/events/$ev/reward" -H "Ocp-Apim-Subscription-Key: $key_b" \
    -H 'Content-Type: application/json' --data '{"value": 1}'
  expect_status 404 "[$backend] company B cannot reward A's event"
  expect_jq '.error.code == "ResourceNotFound"' "[$backend] with Personalizer's code"
  http POST "$url/personalizer/v1.0/events/$ev/reward" -H "Ocp-Apim-Subscription-Key: $key_a" \
    -H 'Content-Type: application/json' --data '{"value": 1}'
  expect_status 204 "[$backend] company A rewards its event"

  pz() {  # pz METHOD PATH [BODY] [KEY]: one call with company A's (or KEY's) key
    local body=${3-} k=${4:-$key_a}
    http "$1" "$url/personalizer/v1.0/$2" -H "Ocp-Apim-Subscription-Key: $k" \
      -H 'Content-Type: application/json' ${body:+--data "$body"}
  }
  local acts='[{"id": "first", "features": [{"f": 1}]}, {"id": "second", "features": [{"f": 2}]}, {"id": "third", "features": [{"f": 3}]}]'

  # Events are episodes in offerd's own tables, with the event id.
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'A' AND customer_id LIKE 'pz:%'") -ge 500 ]] &&
    ok "[$backend] the client's events are episodes of company A" ||
    fail "[$backend] the client's events are not in tb_episodes"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE customer_id = 'pz:$ev' AND company = 'A'") == 1 ]] &&
    ok "[$backend] event $ev is the episode of customer_id pz:$ev" ||
    fail "[$backend] event $ev has no episode"

  # Evaluations: offerd's estimators over the company's episodes.
  pz POST evaluations '{"name": "after the loop", "startTime": "2020-01-01T00:00:00Z", "endTime": "2099-01-01T00:00:00Z", "policies": [{"name": "greedy", "arguments": "--cb_explore_adf --epsilon 0"}]}'
  expect_status 201 "[$backend] an evaluation"
  local eval_id
  eval_id=$(jq -r .id <<<"$HTTP_BODY")
  expect_jq '.status == "pending" or .status == "completed"' "[$backend] ... queued as a job (pending)"
  pz_eval_wait "$eval_id"
  expect_jq '.status == "completed" and ([.policyResults[].policySource] == ["Online","Random","Custom"])
      and (.policyResults[0].summary[0].ipsEstimatorDenominator >= 500)
      and ((.policyResults[0].summary[0] | .ipsEstimatorNumerator / .ipsEstimatorDenominator)
           > (.policyResults[1].summary[0] | .ipsEstimatorNumerator / .ipsEstimatorDenominator))' \
    "[$backend] ... of the online, random and custom policies, the learned one ahead of random"
  note "    $(jq -r '[.policyResults[] | "\(.name): IPS \(.summary[0] | .ipsEstimatorNumerator / .ipsEstimatorDenominator * 1000 | round / 1000) over \(.summary[0].ipsEstimatorDenominator)"] | join("; ")' <<<"$HTTP_BODY")"
  pz GET "evaluations/$eval_id"
  expect_status 200 "[$backend] GET the evaluation"
  pz GET evaluations "" "$key_b"
  expect_jq 'length == 0' "[$backend] company B does not see A's evaluations"
  pz POST evaluations '{"name": "nothing yet", "startTime": "2020-01-01T00:00:00Z", "endTime": "2099-01-01T00:00:00Z", "policies": []}' "$key_b"
  expect_status 201 "[$backend] an evaluation of a company without episodes"
  pz_eval_wait "$(jq -r .id <<<"$HTTP_BODY")" "$key_b"
  expect_jq '.status == "completed" and .policyResults[0].summary[0].ipsEstimatorDenominator == 0' \
    "[$backend] ... is completed over no episode (not a 5xx)"
  pz POST evaluations '{"name": "backwards", "startTime": "2030-01-01T00:00:00Z", "endTime": "2020-01-01T00:00:00Z", "policies": []}'
  expect_status 400 "[$backend] an evaluation ending before it starts"
  expect_jq '.error.innerError.code == "InvalidEvaluationContract"' "[$backend] ... InvalidEvaluationContract"
  pz DELETE "evaluations/$eval_id"
  expect_status 204 "[$backend] DELETE the evaluation"
  pz GET "evaluations/$eval_id"
  expect_status 404 "[$backend] ... then it is gone"
  expect_jq '.error.innerError.code == "EvaluationNotFound"' "[$backend] ... EvaluationNotFound"

  # Deferred activation: the reward is held until the event is activated.
  ev="deferred-$RANDOM$RANDOM"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$ev\", \"deferActivation\": true}"
  expect_status 201 "[$backend] a deferred rank"
  pz POST "events/$ev/reward" '{"value": 1}'
  expect_status 204 "[$backend] the deferred event takes a reward"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$ev'") == 0 ]] &&
    ok "[$backend] ... which is not stored before the activation" ||
    fail "[$backend] a deferred event's reward was stored before its activation"
  pz POST "events/$ev/activate" "" "$key_b"
  expect_status 404 "[$backend] company B cannot activate A's event"
  pz POST "events/$ev/activate"
  expect_status 204 "[$backend] activate"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$ev' AND accepted_offer") == 1 ]] &&
    ok "[$backend] the held reward is stored, as an acceptance, once activated" ||
    fail "[$backend] the held reward was not stored at activation"
  pz POST "events/$ev/reward" '{"value": 0}'
  expect_status 204 "[$backend] a second reward is accepted (rewardAggregation earliest)..."
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$ev'") == 1 ]] &&
    ok "[$backend] ... and ignored" || fail "[$backend] a second reward was stored"

  # Apprentice and LoggingOnly serve the baseline, the first allowed action.
  pz GET configurations/service
  local cfg=$HTTP_BODY mode
  for mode in Apprentice LoggingOnly; do
    pz PUT configurations/service "$(jq -c --arg m "$mode" '.learningMode = $m | del(.offerdApprentice)' <<<"$cfg")"
    expect_status 200 "[$backend] learningMode $mode"
    local served=
    for _ in 1 2 3 4 5 6; do
      pz POST rank "{\"actions\": $acts, \"excludedActions\": [\"first\"]}"
      served+="$(jq -r '.rewardActionId + "@" + (.ranking[0].probability | tostring)' <<<"$HTTP_BODY") "
    done
    [[ $served == "second@1 second@1 second@1 second@1 second@1 second@1 " ]] &&
      ok "[$backend] $mode serves the first allowed action with probability 1" ||
      fail "[$backend] $mode served: $served"
  done
  pz GET configurations/service
  expect_jq '.offerdApprentice.events == 6 and (.offerdApprentice.agreement | type == "number")' \
    "[$backend] Apprentice mode reports how often the policy agreed"
  pz PUT configurations/service "$(jq -c '.learningMode = "Online" | del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] back to Online"

  # rewardWaitTime and defaultReward: an event without a reward gets the
  # default once the wait is over; a reward after the wait is discarded.
  pz PUT configurations/service "$(jq -c '.rewardWaitTime = "00:00:05" | .defaultReward = 1 | del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] rewardWaitTime 5 s, defaultReward 1"
  local d1="default-$RANDOM$RANDOM" d2="rewarded-$RANDOM$RANDOM" n
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$d1\"}"
  expect_status 201 "[$backend] an event left without a reward"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$d2\"}"
  pz POST "events/$d2/reward" '{"value": 0}'
  expect_status 204 "[$backend] an event rewarded within the wait"
  sleep 5.5
  for _ in $(seq 50); do
    pz POST rank "{\"actions\": $acts}"  # the refresher sweeps; ranks keep the loop busy
    n=$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$d1'")
    [[ $n == 1 ]] && break
    sleep 0.2
  done
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$d1' AND source = 'default' AND accepted_offer") == 1 ]] &&
    ok "[$backend] after the wait the event gets defaultReward (source default)" ||
    fail "[$backend] no default reward for $d1: $(sql "$db" "SELECT source, accepted_offer FROM tb_rewards WHERE customer_id = 'pz:$d1'")"
  [[ $(sql "$db" "SELECT source FROM tb_rewards WHERE customer_id = 'pz:$d2'") == client ]] &&
    ok "[$backend] the rewarded event gets no default" || fail "[$backend] $d2 got a default reward"
  pz POST "events/$d2/reward" '{"value": 1}'
  expect_status 204 "[$backend] a reward after the wait is accepted..."
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$d2' AND NOT accepted_offer") == 1 ]] &&
    ok "[$backend] ... and discarded" || fail "[$backend] a late reward changed $d2's reward"
  pz PUT configurations/service "$(jq -c 'del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] the configuration restored"

  # Multi-slot: one episode per slot, no action repeated, one reward per slot.
  local macts='[{"id": "a1", "features": [{"f": 1}]}, {"id": "a2", "features": [{"f": 2}]}, {"id": "a3", "features": [{"f": 3}]}, {"id": "a4", "features": [{"f": 4}]}]'
  local slots='[{"id": "top", "features": [{"size": "big"}], "baselineAction": "a1"}, {"id": "side", "features": [{"size": "small"}], "excludedActions": ["a1"], "baselineAction": "a2"}, {"id": "foot", "features": [{"size": "small"}], "baselineAction": "a3"}]'
  ev="multi-$RANDOM$RANDOM"
  pz POST multislot/rank "{\"contextFeatures\": [{\"t\": \"x\"}], \"actions\": $macts, \"slots\": $slots, \"eventId\": \"$ev\"}"
  expect_status 201 "[$backend] multi-slot rank"
  expect_jq '.eventId == $ev and ([.slots[].id] == ["top","side","foot"])
      and ([.slots[].rewardActionId] | unique | length == 3) and (.slots[1].rewardActionId != "a1")' \
    "[$backend] ... one distinct action per slot, side's exclusion kept" --arg ev "$ev"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE customer_id LIKE 'pz:$ev#%'") == 3 ]] &&
    ok "[$backend] ... stored as one episode per slot" || fail "[$backend] multi-slot episodes missing"
  pz POST "multislot/events/$ev/reward" '{"reward": [{"slotId": "top", "value": 1}, {"slotId": "foot", "value": 0}]}'
  expect_status 204 "[$backend] multi-slot reward of two slots"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id LIKE 'pz:$ev#%'") == 2 ]] &&
    ok "[$backend] ... one reward per slot" || fail "[$backend] multi-slot rewards: $(sql "$db" "SELECT customer_id FROM tb_rewards WHERE customer_id LIKE 'pz:$ev#%'")"
  pz POST "multislot/events/$ev/reward" '{"reward": [{"slotId": "nope", "value": 1}]}'
  expect_status 400 "[$backend] a reward for a slot the event does not have"
  pz POST "multislot/events/$ev/reward" '{"reward": [{"slotId": "top", "value": 1}]}' "$key_b"
  expect_status 404 "[$backend] company B cannot reward A's multi-slot event"
  pz POST multislot/rank "{\"actions\": $macts, \"slots\": $(jq -c '. + [{"id": "extra", "features": [{"f": 1}], "baselineAction": "a4"}]' <<<"$slots")}"
  expect_status 400 "[$backend] more than 3 slots"
  ev="multi-deferred-$RANDOM"
  pz POST multislot/rank "{\"actions\": $macts, \"slots\": $slots, \"eventId\": \"$ev\", \"deferActivation\": true}"
  expect_status 201 "[$backend] a deferred multi-slot rank"
  pz POST "multislot/events/$ev/reward" '{"reward": [{"slotId": "side", "value": 1}]}'
  expect_status 204 "[$backend] ... takes a reward"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id LIKE 'pz:$ev#%'") == 0 ]] &&
    ok "[$backend] ... held before the activation" || fail "[$backend] a deferred multi-slot reward was stored early"
  pz POST "multislot/events/$ev/activate"
  expect_status 204 "[$backend] multi-slot activate"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$ev#1'") == 1 ]] &&
    ok "[$backend] ... stores the held reward of its slot" || fail "[$backend] the held multi-slot reward was not stored"

  # Model: export, reset, import of the learned state of A's agent version.
  pz GET model
  expect_status 200 "[$backend] GET model exports the learned state"
  expect_jq '.format == "offerd-personalizer-model" and .formatVersion == 1 and .company == "A"
      and ([.values[] | select(.n > 0)] | length > 0)' "[$backend] ... with the values the loop learned"
  local exported=$HTTP_BODY
  local learned
  learned=$(jq -c '[.values[] | {stateKey, offer, n, rewardSum, successes, failures}]' <<<"$exported")
  pz GET model "" "$key_b"
  expect_jq '(.values | length) == 0 and .company == "B"' "[$backend] company B's export holds none of A's values"
  pz DELETE model
  expect_status 204 "[$backend] DELETE model resets it"
  pz GET model
  expect_jq '(.values | length > 0) and all(.values[]; .n == 0 and .successes == 0 and .rewardSum == 0)' \
    "[$backend] ... every value is back to nothing learned"
  pz PUT model "$exported"
  expect_status 204 "[$backend] PUT model imports the export"
  pz GET model
  [[ $(jq -c '[.values[] | {stateKey, offer, n, rewardSum, successes, failures}]' <<<"$HTTP_BODY") == "$learned" ]] &&
    ok "[$backend] ... and the values are the exported ones again" ||
    fail "[$backend] the imported values differ from the export"
  pz PUT model '{"format": "something else", "formatVersion": 1, "values": [], "contextual": []}'
  expect_status 400 "[$backend] an import of another format"
  expect_jq '.error.innerError.code == "InvalidModelImportFormat" and .error.target == "format"' "[$backend] ... InvalidModelImportFormat naming format"
  pz PUT model "$(jq -c '.values[0].n = -1' <<<"$exported")"
  expect_status 400 "[$backend] an import with a negative count"
  expect_jq '.error.target == "values[0].n"' "[$backend] ... names the field"
  pz PUT model '{"format": "offerd-personalizer-model", "formatVersion": 1, "values": [], "contextual": [{"offer": "x", "n": 1, "tick": 0, "stats": {"b": [1, 2], "S": [1]}}]}'
  expect_status 400 "[$backend] an import whose contextual statistics have the wrong shape"
  expect_jq '.error.target == "contextual[0].stats.S"' "[$backend] ... names the field"
  pz PUT model 'not json'
  expect_status 400 "[$backend] an import that is not JSON"
  pz GET model
  [[ $(jq -c '[.values[] | {stateKey, offer, n, rewardSum, successes, failures}]' <<<"$HTTP_BODY") == "$learned" ]] &&
    ok "[$backend] ... and a refused import changes nothing" || fail "[$backend] a refused import changed the values"

  # model/properties: the times of the company's learned rows.
  pz GET model/properties
  expect_status 200 "[$backend] model/properties"
  expect_jq '(.creationTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))
      and (.lastModifiedTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))
      and .creationTime <= .lastModifiedTime
      and (.lastModifiedTime | fromdateiso8601) > now - 3600' \
    "[$backend] ... gives creationTime <= lastModifiedTime, the latter within the hour (the import above)"

  # Personalizer's error body on paths offerd does not serve.
  pz GET no-such-path
  expect_status 404 "[$backend] an unknown Personalizer path"
  expect_jq '.error.code == "ResourceNotFound"' "[$backend] ... in Personalizer's shape"
  pz GET rank
  expect_status 405 "[$backend] GET rank"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$(printf 'e%.0s' {1..130})\"}"
  expect_status 400 "[$backend] an event id longer than offerd stores"
  http POST "$url/personalizer/v1.0/rank" -H "Ocp-Apim-Subscription-Key: $key_a" -H "X-API-Key: $key_b" \
    -H 'Content-Type: application/json' --data "{\"actions\": $acts}"
  expect_status 400 "[$backend] two different keys in one request"
  expect_jq '.error.code == "BadRequest"' "[$backend] ... in Personalizer's shape"
  # A rank of 50 actions with long features: over --body-max (64 KiB), under Personalizer's 512 KiB.
  local big
  big=$(jq -nc '{actions: [range(50) | {id: "big\(.)", features: [{text: ("x" * 1000)}, {more: ("y" * 1000)}]}]}')
  pz POST rank "$big"
  expect_status 201 "[$backend] a ${#big}-byte rank (50 actions with long features)"

  # Logs: the first and last event times; DELETE logs forgets the company's events only.
  pz GET logs/properties
  expect_status 200 "[$backend] GET logs/properties"
  expect_jq '(.dateRange.from | test("^20[0-9][0-9]-")) and .dateRange.from <= .dateRange.to' \
    "[$backend] ... the first and last event times"
  pz DELETE logs "" "$key_b"
  expect_status 204 "[$backend] company B deletes its logs"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'A' AND customer_id LIKE 'pz:%'") -ge 500 ]] &&
    ok "[$backend] ... and company A's events stay" || fail "[$backend] B's DELETE logs deleted A's events"
  pz DELETE logs
  expect_status 204 "[$backend] company A deletes its logs"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'A' AND customer_id LIKE 'pz:%'") == 0 &&
     $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE company = 'A' AND customer_id LIKE 'pz:%'") == 0 ]] &&
    ok "[$backend] ... its events and their rewards are gone" || fail "[$backend] DELETE logs left events"
  pz POST "events/$d2/reward" '{"value": 1}'
  expect_status 404 "[$backend] a deleted event is unknown"
  pz POST rank "{\"actions\": $acts}" "not-a-key"
  expect_status 401 "[$backend] a wrong key"
  expect_jq '.error.code == "401"' "[$backend] ... in Personalizer's shape"

  # The configuration lives in the database (tb_pz_config): a second offerd
  # on the same database and a restarted one see it.
  pz PUT configurations/service "$(jq -c '.rewardWaitTime = "00:07:00" | .defaultReward = 0.25 | .learningMode = "LoggingOnly" | del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] a service configuration put on process 1"
  pz PUT configurations/policy '{"name": "durable policy", "arguments": "--cb_explore_adf --epsilon 0.3"}'
  expect_status 200 "[$backend] a policy put on process 1"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_pz_config WHERE company = 'A' AND service LIKE '%LoggingOnly%' AND policy LIKE '%durable policy%'") == 1 ]] &&
    ok "[$backend] ... both stored in tb_pz_config" || fail "[$backend] tb_pz_config: $(sql "$db" "SELECT * FROM tb_pz_config")"
  local url1=$url
  offerd_start "$backend-2" "$db" --refresh 0.2
  url=${OFFERD_URL[$backend-2]}
  pz GET configurations/service
  expect_jq '.rewardWaitTime == "00:07:00" and .defaultReward == 0.25 and .learningMode == "LoggingOnly"
      and (.lastConfigurationEditDate | length > 0)' "[$backend] process 2 on the same database reads the service configuration"
  pz GET configurations/policy
  expect_jq '.name == "durable policy" and .arguments == "--cb_explore_adf --epsilon 0.3"' \
    "[$backend] ... and the policy"
  pz POST rank "{\"actions\": $acts, \"excludedActions\": [\"first\"]}"
  expect_jq '.rewardActionId == "second" and .ranking[0].probability == 1' \
    "[$backend] ... and ranks with it (LoggingOnly serves the baseline)"
  pz DELETE configurations/policy
  expect_status 200 "[$backend] process 2 deletes the policy"
  url=$url1
  pz GET configurations/policy
  expect_jq '.name != "durable policy"' "[$backend] process 1 sees the deletion"
  offerd_stop "$backend-2"
  offerd_stop "$backend"
  offerd_start "$backend" "$db" --refresh 0.2
  url=${OFFERD_URL[$backend]}
  pz GET configurations/service
  expect_jq '.rewardWaitTime == "00:07:00" and .defaultReward == 0.25 and .learningMode == "LoggingOnly"' \
    "[$backend] after a restart the service configuration is still there"
  pz PUT configurations/service '{"rewardWaitTime": "00:00:01"}'
  expect_status 400 "[$backend] a bad configuration is refused..."
  pz GET configurations/service
  expect_jq '.rewardWaitTime == "00:07:00"' "[$backend] ... and not stored"

  # Event state lives in the database too (tb_pz_events, tb_pz_apprentice):
  # two processes on one database see each other's deferred events, held
  # rewards and activations, and a restart keeps them.
  pz PUT configurations/service "$(jq -c '.learningMode = "Online" | del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] Online again, for the two-process events"
  offerd_start "$backend-2" "$db" --refresh 0.2
  local u1=${OFFERD_URL[$backend]} u2=${OFFERD_URL[$backend-2]} e1="two-$RANDOM$RANDOM" e2="restart-$RANDOM$RANDOM"
  url=$u2; pz GET configurations/service; url=$u1
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e1\", \"deferActivation\": true}"
  expect_status 201 "[$backend] process 1 ranks a deferred event"
  url=$u2
  pz POST "events/$e1/reward" '{"value": 1}'
  expect_status 204 "[$backend] process 2 takes its reward"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1'") == 0 &&
     $(sql "$db" "SELECT held_mask FROM tb_pz_events WHERE company = 'A' AND event_id = '$e1'") == 1 ]] &&
    ok "[$backend] ... and holds it in tb_pz_events, not in tb_rewards" ||
    fail "[$backend] process 2 did not hold process 1's deferred reward: $(sql "$db" "SELECT * FROM tb_pz_events WHERE event_id = '$e1'")"
  url=$u1
  pz POST "events/$e1/activate"
  expect_status 204 "[$backend] process 1 activates it"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1' AND accepted_offer") == 1 ]] &&
    ok "[$backend] ... and stores the reward process 2 held" || fail "[$backend] the reward held by process 2 was lost"
  url=$u2
  pz POST "events/$e1/activate"
  expect_status 204 "[$backend] process 2 sees the event activated (a second activation is harmless)"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1'") == 1 ]] &&
    ok "[$backend] ... and stores nothing twice" || fail "[$backend] a second activation stored the reward again"
  url=$u1
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e2\", \"deferActivation\": true}"
  pz POST "events/$e2/reward" '{"value": 1}'
  expect_status 204 "[$backend] process 1 holds a reward for another deferred event"
  local mev="multi-two-$RANDOM$RANDOM"
  pz POST multislot/rank "{\"actions\": $macts, \"slots\": $slots, \"eventId\": \"$mev\", \"deferActivation\": true}"
  expect_status 201 "[$backend] process 1 ranks a deferred multi-slot event"
  offerd_stop "$backend"
  offerd_start "$backend" "$db" --refresh 0.2
  u1=${OFFERD_URL[$backend]}
  url=$u1
  pz POST "events/$e2/activate"
  expect_status 204 "[$backend] the restarted process 1 activates the event it ranked before"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e2' AND accepted_offer") == 1 ]] &&
    ok "[$backend] ... and the reward held across the restart is stored" || fail "[$backend] the held reward did not survive the restart"
  url=$u2
  pz POST "multislot/events/$mev/reward" '{"reward": [{"slotId": "foot", "value": 1}]}'
  expect_status 204 "[$backend] process 2 knows the multi-slot event's slots (ranked by process 1 before its restart)"
  url=$u1
  pz POST "multislot/events/$mev/activate"
  expect_status 204 "[$backend] process 1 activates it"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$mev#2'") == 1 &&
     $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id LIKE 'pz:$mev#%'") == 1 ]] &&
    ok "[$backend] ... and the slot reward process 2 held is stored for slot foot" ||
    fail "[$backend] multi-slot rewards after two processes: $(sql "$db" "SELECT customer_id FROM tb_rewards WHERE customer_id LIKE 'pz:$mev#%'")"
  pz POST "events/never-ranked-$RANDOM/activate"
  expect_status 404 "[$backend] activating an event no process ranked"
  # The Apprentice report adds up across processes and restarts.
  pz GET configurations/service
  local before
  before=$(jq '.offerdApprentice.events' <<<"$HTTP_BODY")
  pz PUT configurations/service "$(jq -c '.learningMode = "Apprentice" | del(.offerdApprentice)' <<<"$cfg")"
  expect_status 200 "[$backend] Apprentice mode on process 1"
  local ae="apprentice-$RANDOM$RANDOM"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$ae\"}"
  url=$u2; pz GET configurations/service
  pz POST rank "{\"actions\": $acts}"
  pz POST rank "{\"actions\": $acts}"
  pz POST "events/$ae/reward" '{"value": 0.5}'
  expect_status 204 "[$backend] process 2 rewards process 1's Apprentice event"
  pz GET configurations/service
  expect_jq ".offerdApprentice.events == $before + 3 and .offerdApprentice.rewards >= 1 and .offerdApprentice.baselineRewardSum >= 0.5" \
    "[$backend] the Apprentice report counts the events and the reward of both processes"
  pz PUT configurations/service "$(jq -c '.learningMode = "Online" | del(.offerdApprentice)' <<<"$cfg")"
  offerd_stop "$backend-2"
  url=$u1

  # The model of a contextual agent version: TB_MODEL rows exported, reset
  # and imported back.
  timeout 30 "$build/offerctl" agent release 2.0.0 --policy squarecb \
    --params '{"gamma_scale":100,"forgetting":1}' --database-url "$db" >/dev/null ||
    fail "[$backend] offerctl agent release 2.0.0 (squarecb)"
  sleep 0.5  # --refresh 0.2: the release is served
  local k ce
  for k in $(seq 40); do
    ce="ctx-$k-$RANDOM"
    pz POST rank "{\"contextFeatures\": [{\"age\": $((20 + k % 3))}], \"actions\": $acts, \"eventId\": \"$ce\"}"
    pz POST "events/$ce/reward" "{\"value\": $((k % 2))}"
  done
  local ctx_model
  for _ in $(seq 50); do
    pz GET model
    [[ $(jq '[.contextual[] | select(.offer != "" and .n > 0)] | length' <<<"$HTTP_BODY") -gt 0 ]] && break
    sleep 0.2
  done
  expect_jq '.agentVersion == "2.0.0" and ([.contextual[] | select(.offer != "" and .n > 0 and (.stats.b | length) > 0)] | length > 0)' \
    "[$backend] GET model exports the contextual version's learned rows"
  ctx_model=$HTTP_BODY
  pz DELETE model
  expect_status 204 "[$backend] DELETE model resets the contextual rows"
  pz GET model
  expect_jq '[.contextual[] | select(.offer != "") | select(.n != 0 or ([.stats.b[], .stats.S[]] | any(. != 0)))] | length == 0' \
    "[$backend] ... every contextual row is back to zero"
  pz PUT model "$ctx_model"
  expect_status 204 "[$backend] PUT model imports the contextual rows"
  pz GET model
  [[ $(jq -c '[.contextual[] | select(.offer != "") | {offer, n, stats}]' <<<"$HTTP_BODY") == \
     "$(jq -c '[.contextual[] | select(.offer != "") | {offer, n, stats}]' <<<"$ctx_model")" ]] &&
    ok "[$backend] ... and they are the exported ones again" ||
    fail "[$backend] imported contextual rows differ: $(diff <(jq -c '.contextual[] | select(.offer != "") | {offer, n, stats}' <<<"$HTTP_BODY") <(jq -c '.contextual[] | select(.offer != "") | {offer, n, stats}' <<<"$ctx_model") | cut -c1-200)"
  offerd_stop "$backend"
}

for backend in ${OFFERD_TEST_BACKENDS:-sqlite pg}; do
  run_backend "$backend"
done
lib_done
