#!/usr/bin/env bash
# Issue 8.4: an agent version's reward_wait_seconds. An episode still without
# a reward after the wait gets the default reward ("not accepted", learned,
# TB_REWARDS.source = 'default'); a client's reward after that is a 409.
# Episodes of a version without a wait are never defaulted (issue 15.3).
set -euo pipefail
build=${OFFERD_BUILD:-build}
[[ -x $build/offerd ]] || { echo "no $build/offerd"; exit 77; }
dir=$(mktemp -d /tmp/offerd-wait.XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
db="sqlite:$dir/t.db"
# shellcheck source=scripts/port_lib.sh
source "$(dirname "$0")/../scripts/port_lib.sh" # listen_url
fail() { echo "FAIL: $*" >&2; exit 1; }

start() {
  : >"$dir/log"
  "$build/offerd" --port 0 --database-url "$db" --auth off --refresh 0.2 2>"$dir/log" &
  pid=$!
  url=$(listen_url "$dir/log" "$pid") || fail "offerd did not start: $(cat "$dir/log")"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Issue 15.3: an episode decided under 1.0.0, which has no wait, keeps
# waiting for its real reward after a version with a wait is released.
start
curl -sf -XPOST "$url/predict" -H 'Content-Type: application/json' -d \
  '{"customer_id":"old","timestamp":"2022-01-01","states":{"age":18},"offers":{"OFFER_1":1,"OFFER_2":1,"OFFER_3":1,"OFFER_4":1}}' \
  >/dev/null || fail "predict old"
stop
"$build/offerctl" agent release 2.0.0 --policy epsilon-greedy \
  --params '{"reward_wait_seconds": 1}' --database-url "$db" >/dev/null
start
J='Content-Type: application/json'
body='{"customer_id":"w","timestamp":"2022-01-01","states":{"age":18},"offers":{"OFFER_1":1,"OFFER_2":1,"OFFER_3":1,"OFFER_4":1}}'
curl -sf -XPOST "$url/predict" -H "$J" -d "$body" >/dev/null || fail "predict"
# A prompt reward for a second episode is a client reward, learned.
curl -sf -XPOST "$url/predict" -H "$J" -d "${body/\"w\"/\"p\"}" >/dev/null || fail "predict p"
[[ $(curl -s -XPUT "$url/rewards" -H "$J" -d '{"customer_id":"p","accepted_one_of_the_three_offers":true}') == '"Sucess"' ]] \
  || fail "prompt reward not accepted"
sleep 2.5
code=$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$url/rewards" -H "$J" \
  -d '{"customer_id":"w","accepted_one_of_the_three_offers":true}')
[[ $code == 409 ]] || fail "late client reward after the default: want 409, got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$url/rewards" -H "$J" \
  -d '{"customer_id":"old","accepted_one_of_the_three_offers":true}')
[[ $code == 200 ]] || fail "reward for the 1.0.0 episode after 2.0.0's wait: want 200, got $code"
stop
q() { sqlite3 "$dir/t.db" "$1"; }
[[ $(q "SELECT source || ',' || accepted_offer || ',' || learned || ',' || reward_1 FROM tb_rewards WHERE customer_id = 'w'") == "default,0,1,-2.0" ]] \
  || fail "default reward row: $(q "SELECT * FROM tb_rewards WHERE customer_id='w'")"
[[ $(q "SELECT source || ',' || learned FROM tb_rewards WHERE customer_id = 'p'") == "client,1" ]] \
  || fail "prompt reward row: $(q "SELECT * FROM tb_rewards WHERE customer_id='p'")"
# Both rewards were learned: three offers each, six observations in all,
# summing to 3 x (+5) + 3 x (-2).
[[ $(q "SELECT source || ',' || learned FROM tb_rewards WHERE customer_id = 'old'") == "client,1" ]] \
  || fail "1.0.0 episode's reward row: $(q "SELECT * FROM tb_rewards WHERE customer_id='old'")"
[[ $(q "SELECT COUNT(*) FROM tb_rewards WHERE source = 'default'") == 1 ]] \
  || fail "default rewards: $(q "SELECT customer_id, source FROM tb_rewards")"
# The three rewards were learned: three offers each, nine observations in
# all, summing to 6 x (+5) + 3 x (-2).
[[ $(q "SELECT CAST(SUM(n) AS INTEGER) || ',' || CAST(SUM(reward_sum) AS INTEGER) FROM tb_policy") == "9,24" ]] \
  || fail "learned statistics: $(q "SELECT offer, n, reward_sum FROM tb_policy")"
echo "reward wait: default reward after 1 s learned, late client reward refused, episodes of versions without a wait left alone"
