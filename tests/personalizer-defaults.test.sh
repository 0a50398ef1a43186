#!/usr/bin/env bash
# tests/personalizer-defaults.test.sh — Personalizer's default reward is
# durable and shared (docs/personalizer.md item 17): process 1 ranks and
# stops before the rewardWaitTime is over; process 2 (running all along,
# never asked about the events) and a restarted process 1 both sweep, and
# each unrewarded event gets exactly one default reward. A deferred event
# never activated gets none; an event rewarded within the wait keeps its
# reward; an event ranked after the first sweeps gets its default from the
# later (incremental) ones. On SQLite and on PostgreSQL.
#
# Knobs: OFFERD_TEST_BACKENDS ("sqlite", "pg", default "sqlite pg").
source "$(dirname "$0")/lib.sh"
lib_deadline 300

run_backend() {
  local backend=$1 db key url n i
  backend_db "$backend" pzdef db
  key=$(key_create "$db" A)
  pz() {  # pz METHOD PATH [BODY]: one call with company A's key on $url
    http "$1" "$url/personalizer/v1.0/$2" -H "Ocp-Apim-Subscription-Key: $key" \
      -H 'Content-Type: application/json' ${3:+--data "$3"}
  }
  local acts='[{"id": "first", "features": [{"f": 1}]}, {"id": "second", "features": [{"f": 2}]}]'
  local e1="lone-$RANDOM$RANDOM" e2="deferred-$RANDOM$RANDOM" e3="rewarded-$RANDOM$RANDOM"

  offerd_start "$backend" "$db" --refresh 0.2
  url=${OFFERD_URL[$backend]}
  pz GET configurations/service
  pz PUT configurations/service "$(jq -c '.rewardWaitTime = "00:00:05" | .defaultReward = 1 | del(.offerdApprentice)' <<<"$HTTP_BODY")"
  expect_status 200 "[$backend] rewardWaitTime 5 s, defaultReward 1"
  offerd_start "$backend-2" "$db" --refresh 0.2
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e1\"}"
  expect_status 201 "[$backend] process 1 ranks an event left without a reward"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e2\", \"deferActivation\": true}"
  expect_status 201 "[$backend] ... a deferred event never activated"
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e3\"}"
  pz POST "events/$e3/reward" '{"value": 0}'
  expect_status 204 "[$backend] ... and an event rewarded within the wait"
  offerd_stop "$backend"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1'") == 0 ]] &&
    ok "[$backend] process 1 stopped before the wait: no default yet" ||
    fail "[$backend] $e1 has a reward before its wait"
  offerd_start "$backend" "$db" --refresh 0.2  # a restart: two processes sweep now
  for ((i = 0; i < 100; i++)); do
    n=$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1'")
    [[ $n != 0 ]] && break
    sleep 0.2
  done
  sleep 2  # both processes sweep a few more times
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1'") == 1 &&
     $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e1' AND source = 'default' AND accepted_offer") == 1 ]] &&
    ok "[$backend] after the wait the event gets defaultReward once (source default), from the processes that did not rank it" ||
    fail "[$backend] $e1's rewards: $(sql "$db" "SELECT source, accepted_offer FROM tb_rewards WHERE customer_id = 'pz:$e1'")"
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e2'") == 0 ]] &&
    ok "[$backend] the deferred event never activated gets no default" ||
    fail "[$backend] $e2 got a reward: $(sql "$db" "SELECT source FROM tb_rewards WHERE customer_id = 'pz:$e2'")"
  [[ $(sql "$db" "SELECT source FROM tb_rewards WHERE customer_id = 'pz:$e3'") == client ]] &&
    ok "[$backend] the event rewarded within the wait keeps its one reward" ||
    fail "[$backend] $e3's rewards: $(sql "$db" "SELECT source, accepted_offer FROM tb_rewards WHERE customer_id = 'pz:$e3'")"
  # Both processes have swept once (all the history); later sweeps read only
  # what came due since: an event ranked now still gets its default, once.
  local e4="later-$RANDOM$RANDOM"
  url=${OFFERD_URL[$backend-2]}
  pz POST rank "{\"actions\": $acts, \"eventId\": \"$e4\"}"
  expect_status 201 "[$backend] process 2 ranks an event after the first sweeps"
  for ((i = 0; i < 100; i++)); do
    n=$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e4'")
    [[ $n != 0 ]] && break
    sleep 0.2
  done
  sleep 2
  [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e4' AND source = 'default'") == 1 &&
     $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'pz:$e4'") == 1 ]] &&
    ok "[$backend] ... gets its default once from the later, incremental sweeps" ||
    fail "[$backend] $e4's rewards: $(sql "$db" "SELECT source, accepted_offer FROM tb_rewards WHERE customer_id = 'pz:$e4'")"
  offerd_stop "$backend-2"
  offerd_stop "$backend"
}

for backend in ${OFFERD_TEST_BACKENDS:-sqlite pg}; do
  run_backend "$backend"
done
lib_done
