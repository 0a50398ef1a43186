# Shared by tests/learning.test.sh and tests/contextual.test.sh (sourced after
# lib.sh; not a test itself, so the name does not end in .test.sh): the
# simulated customer's states, the keep-alive predict/reward helpers, the
# train/rate loops and the agent-version polling both learning tests use.
# Needs $build (lib.sh) and sets ctl, ROUNDS, CHECK and NEED.

ROUNDS=${OFFERD_TEST_ROUNDS:-300}
CHECK=100        # answers measured after learning
NEED=90          # of which at least this many must show OFFER_7
ctl=$build/offerctl

ALL_OFFERS='{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true,"OFFER_4":true,"OFFER_5":true,"OFFER_6":true,"OFFER_7":true,"OFFER_8":true,"OFFER_9":true,"OFFER_10":true}'
# The learning state: same states and timestamp every time.
S1_BODY='{"customer_id":"sim-1","timestamp":"2022-03-07","states":{"age":40,"gender":"F","region":"Americas","client-since":"2019-10-21"},"offers":'$ALL_OFFERS'}'
# A second state, of another segment and date, for the propagation test.
S2_BODY='{"customer_id":"sim-2","timestamp":"2022-10-20","states":{"age":70,"gender":"M","region":"Asia"},"offers":'$ALL_OFFERS'}'
S2_ONLY7='{"customer_id":"sim-2","timestamp":"2022-10-20","states":{"age":70,"gender":"M","region":"Asia"},"offers":{"OFFER_7":true}}'

# Answer fields, without a process per request.
LAST_OFFERS=
LAST_EPISODE=
LAST_STATE=
parse_predict() {
  LAST_OFFERS=
  LAST_EPISODE=
  LAST_STATE=
  [[ $KC_BODY =~ \"best-three-offers\":\[([^]]*)\] ]] && LAST_OFFERS=${BASH_REMATCH[1]}
  [[ $KC_BODY =~ \"episode_id\":([0-9]+) ]] && LAST_EPISODE=${BASH_REMATCH[1]}
  [[ $KC_BODY =~ \"state\":\"([^\"]*)\" ]] && LAST_STATE=${BASH_REMATCH[1]}
  [[ -n $LAST_OFFERS && -n $LAST_EPISODE ]]
}

# predict CONN BODY: one /predict on keep-alive connection CONN; dies on anything but 200.
predict() {
  kc_req "$1" POST /predict "$2"
  [[ $KC_STATUS == 200 ]] && parse_predict && return 0
  die "POST /predict on $1: expected 200 with offers and episode_id, got $KC_STATUS $KC_BODY"
}

# reward CONN CUSTOMER ACCEPTED_OFFER|"": the simulated customer's answer to LAST_EPISODE.
reward() {
  local body
  if [[ -n $3 ]]; then
    body='{"customer_id":"'$2'","episode_id":'$LAST_EPISODE',"accepted_one_of_the_three_offers":true,"accepted_offer":"'$3'"}'
  else
    body='{"customer_id":"'$2'","episode_id":'$LAST_EPISODE',"accepted_one_of_the_three_offers":false}'
  fi
  kc_req "$1" PUT /rewards "$body"
  [[ $KC_STATUS == 200 && $KC_BODY == '"Sucess"' ]] && return 0
  die "PUT /rewards on $1 ($body): expected 200 \"Sucess\", got $KC_STATUS $KC_BODY"
}

# train CONN N: N rounds of the simulated customer in state 1; sets SHOWN7.
SHOWN7=0
train() {
  local conn=$1 n=$2 i
  SHOWN7=0
  for ((i = 0; i < n; i++)); do
    predict "$conn" "$S1_BODY"
    if [[ $LAST_OFFERS == *'"OFFER_7"'* ]]; then
      SHOWN7=$((SHOWN7 + 1))
      reward "$conn" sim-1 OFFER_7
    else
      reward "$conn" sim-1 ""
    fi
  done
}

# rate CONN BODY N: how many of N answers (no rewards sent) show OFFER_7; sets RATE.
RATE=0
rate() {
  local conn=$1 body=$2 n=$3 i
  RATE=0
  for ((i = 0; i < n; i++)); do
    predict "$conn" "$body"
    [[ $LAST_OFFERS == *'"OFFER_7"'* ]] && RATE=$((RATE + 1))
  done
}

# alive_version URL: the agent-version of /is-alive.
alive_version() {
  curl -s --max-time 5 "$1/is-alive" | jq -r '.["agent-version"] // empty' 2>/dev/null
}

# wait_version URL WANT SECONDS: polls /is-alive; sets WAITED (seconds) and
# returns 1 when WANT did not show within SECONDS.
WAITED=
wait_version() {
  local url=$1 want=$2 secs=$3 t0 now
  t0=$EPOCHREALTIME
  while :; do
    [[ $(alive_version "$url") == "$want" ]] && break
    now=$EPOCHREALTIME
    if awk -v a="$t0" -v b="$now" -v s="$secs" 'BEGIN { exit !(b - a > s) }'; then
      WAITED=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
      return 1
    fi
    sleep 0.02
  done
  WAITED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  return 0
}

release() {  # release DBURL VERSION ARGS...
  local db=$1 v=$2
  shift 2
  timeout 30 "$ctl" agent release "$v" "$@" --database-url "$db" >/dev/null ||
    die "offerctl agent release $v $* failed"
}

secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# learn_two_processes DBURL VERSION RELEASE_ARGS...: releases VERSION on DBURL,
# starts offerd p1 and p2 on it (--refresh 0.2, keep-alive connections open),
# checks that process 2 does not favour OFFER_7 before any reward, trains
# process 1 only for $ROUNDS rounds, and checks that process 2 shows OFFER_7
# in >= $NEED of $CHECK answers about a second after the last reward.
learn_two_processes() {
  local db=$1 version=$2 p before t_trained
  shift 2
  release "$db" "$version" "$@"
  offerd_start p1 "$db" --auth off --refresh 0.2
  offerd_start p2 "$db" --auth off --refresh 0.2
  for p in p1 p2; do
    expect_eq "$(alive_version "${OFFERD_URL[$p]}")" "$version-API" "[two processes] $p serves agent $version"
    kc_open "$p" "${OFFERD_URL[$p]}" || die "cannot connect to offerd $p"
  done

  # Before any reward: process 2 does not favour OFFER_7.
  rate p2 "$S1_BODY" "$CHECK"
  before=$RATE
  if [[ $before -lt $NEED ]]; then
    ok "[two processes] before learning, process 2 shows OFFER_7 in $before of $CHECK answers (< $NEED)"
  else
    fail "[two processes] before learning process 2 already shows OFFER_7 in $before of $CHECK answers: the test cannot show shared learning"
  fi

  # Rewards go to process 1 only.
  train p1 "$ROUNDS"
  t_trained=$EPOCHREALTIME
  rate p1 "$S1_BODY" "$CHECK"
  [[ $RATE -ge $NEED ]] || fail "[two processes] process 1 itself should have learned OFFER_7 (>= $NEED of $CHECK), got $RATE"
  # Process 2 must follow within about a second of the last reward.
  sleep "$(awk -v a="$t_trained" -v b="$EPOCHREALTIME" 'BEGIN { w = 1.0 - (b - a); print (w > 0 ? w : 0) }')"
  rate p2 "$S1_BODY" "$CHECK"
  if [[ $RATE -ge $NEED ]]; then
    ok "[two processes] rewards sent only to process 1: process 2 shows OFFER_7 in $RATE of $CHECK answers ~1 s later (was $before)"
  else
    fail "[two processes] rewards sent only to process 1 should make process 2 show OFFER_7 in >= $NEED of $CHECK answers within ~1 s; it shows it in $RATE (before: $before)"
  fi
}
