#!/usr/bin/env bash
# Issue 13 points 1, 5 and 6 through HTTP: the contextual policies as a product.
#  1. For squarecb and linear-ts, on a fresh SQLite database, offerd with
#     --auth off --refresh 0.2: `offerctl agent release` the version with
#     --params (a bad key is refused with its name); a simulated customer
#     accepts OFFER_7 and rejects everything else for $ROUNDS predict->reward
#     rounds; OFFER_7 must then be in >= 90% of the next 100 answers, the
#     episodes record the policy with a propensity in (0, 1], TB_MODEL holds
#     the statistics; and again after a restart (no reward after it: only
#     the stored model can pass).
#  2. Two offerd processes on one PostgreSQL (--refresh 0.2), squarecb:
#     rewards sent only to process 1 make process 2 favour OFFER_7 within
#     about a second (it did not before).
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline "${OFFERD_TEST_DEADLINE:-240}"
[[ -x $build/offerd && -x $build/offerctl ]] || die "$build/offerd or offerctl is not built (make build)"

source "$(dirname "$0")/learn_lib.sh"

# --- 1. each contextual policy learns, and the learning survives a restart -------------

learn_policy() {
  local policy=$1 version=$2 t0 db name rows
  shift 2
  t0=$EPOCHREALTIME
  name=${policy//-/_}
  sqlite_new_db "ctx-$name" db
  offerd_start "$name" "$db" --auth off --refresh 0.2
  if timeout 30 "$ctl" agent release "$version" --policy "$policy" --params '{"no_such_knob":1}' --database-url "$db" 2>"$LIB_TMP/release.err"; then
    fail "[$policy] a release with an unknown parameter should be refused"
  elif grep -q 'params.no_such_knob' "$LIB_TMP/release.err"; then
    ok "[$policy] a release with an unknown parameter is refused, naming it: $(head -c 120 "$LIB_TMP/release.err")"
  else
    fail "[$policy] the refusal should name params.no_such_knob: $(cat "$LIB_TMP/release.err")"
  fi
  release "$db" "$version" --policy "$policy" "$@"
  wait_version "${OFFERD_URL[$name]}" "$version-API" 3 ||
    fail "[$policy] /is-alive should say $version-API within 3 s of the release"
  kc_open "$name" "${OFFERD_URL[$name]}" || die "cannot connect to offerd $name"

  rate "$name" "$S1_BODY" "$CHECK"
  local before=$RATE
  train "$name" "$ROUNDS"
  note "[$policy] OFFER_7 was shown in $SHOWN7 of $ROUNDS training rounds (before learning: $before of $CHECK)"
  rate "$name" "$S1_BODY" "$CHECK"
  local learned=$RATE
  if [[ $RATE -ge $NEED ]]; then
    ok "[$policy] after $ROUNDS rounds OFFER_7 is in $RATE of the next $CHECK answers (>= $NEED)"
  else
    fail "[$policy] after $ROUNDS rounds OFFER_7 should be in >= $NEED of the next $CHECK answers, was in $RATE"
  fi
  rows=$(sql "$db" "SELECT policy, agent_version, COUNT(*), SUM(CASE WHEN propensity_1 > 0 AND propensity_1 <= 1 THEN 1 ELSE 0 END) FROM tb_episodes WHERE customer_id = 'sim-1' AND agent_version = '$version' GROUP BY policy, agent_version")
  local n_ep=$((ROUNDS + 2 * CHECK))
  expect_eq "$rows" "$policy|$version|$n_ep|$n_ep" "[$policy] TB_EPISODES: $n_ep episodes by $policy $version, each with a propensity in (0, 1]"
  http GET "${OFFERD_URL[$name]}/metrics"
  expect_eq "$(awk -v m="offerd_decisions_total{policy=\"$policy\"}" '$1 == m { print $2 }' <<<"$HTTP_BODY")" "$n_ep" \
    "[$policy] /metrics: offerd_decisions_total counts its $n_ep decisions"
  rows=$(sql "$db" "SELECT COUNT(*), SUM(CASE WHEN offer = '' THEN tick ELSE 0 END) FROM tb_model WHERE company = 'A' AND version = '$version'")
  if [[ ${rows%%|*} -ge 2 && ${rows##*|} == "$ROUNDS" ]]; then
    ok "[$policy] TB_MODEL: ${rows%%|*} rows, the clock at $ROUNDS learned episodes"
  else
    fail "[$policy] TB_MODEL should hold a clock row at $ROUNDS episodes and offer rows, got '$rows'"
  fi

  kc_close "$name"
  offerd_stop "$name"
  offerd_start "$name" "$db" --auth off --refresh 0.2
  kc_open "$name" "${OFFERD_URL[$name]}" || die "cannot connect to offerd $name"
  rate "$name" "$S1_BODY" "$CHECK"
  if [[ $RATE -ge $NEED ]]; then
    ok "[$policy] after a restart, with no new reward, OFFER_7 is in $RATE of $CHECK answers (>= $NEED)"
  else
    fail "[$policy] after a restart OFFER_7 should be in >= $NEED of $CHECK answers, was in $RATE (before the restart: $learned)"
  fi
  kc_close "$name"
  offerd_stop "$name"
  note "[$policy] done in $(secs_since "$t0") s"
}

learn_policy squarecb 2.0.0 --params '{"gamma_scale":100,"forgetting":1}'
learn_policy linear-ts 2.1.0 --params '{"ts_v":0.25}'

# --- 2. two processes on one PostgreSQL learn together ----------------------------------

t0=$EPOCHREALTIME
pg_setup
pg_new_db ctx pgdb
learn_two_processes "$pgdb" 2.0.0 --policy squarecb --params '{"gamma_scale":100}'
# Process 2 learns too, and process 1 sees it: both write the same rows.
train p2 50
sleep 0.6
rows=$(sql "$pgdb" "SELECT tick FROM tb_model WHERE company = 'A' AND version = '2.0.0' AND offer = ''")
expect_eq "$rows" "$((ROUNDS + 50))" "[two processes] TB_MODEL's clock counts the episodes both processes learned"
for p in p1 p2; do kc_close "$p"; done
offerd_stop p1
offerd_stop p2
note "[two processes] done in $(secs_since "$t0") s"

lib_done
