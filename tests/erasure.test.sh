#!/usr/bin/env bash
# Issue 16 point 3: erasure. For each store (SQLite, PostgreSQL) and each
# kind of learned statistics (tabular: agent 1.0.0, epsilon-greedy, in
# TB_POLICY; contextual: linear-ts with forgetting 1 and logistic 0, in
# TB_MODEL and TB_POLICY):
#  run A: customers X, Y and Z get episodes (one offer each, so the answer is
#         the same whatever the policy explores) and rewards through HTTP;
#         Y also has a segment and a reward sent with an Idempotency-Key;
#  run B: the same requests for X and Z only, on a fresh database;
#  then DELETE /customers/Y on A (admin key) and TB_POLICY and TB_MODEL of A
#  must equal B's (within 1e-9; rows left all zero count as absent), none of
#  Y's episodes, rewards, segment or keys is left, and TB_ERASURES has one
#  row with counts and the key's prefix but not Y's id.
# Also: a client key gets 403, an unknown customer 404 naming customer_id,
# an id of 200 characters 400 naming customer_id; offerctl customers forget
# erases Z (exit 0), a second time exits 3, and records "offerctl"; the
# default contextual parameters (logistic link, forgetting) report the
# subtraction as approximate; on PostgreSQL, an erasure by one process while
# another takes the customer's rewards leaves TB_POLICY consistent; ids with
# '/', a tab or non-ASCII are erased, one that is not UTF-8 is a 400.
source "$(dirname "$0")/lib.sh"
lib_require curl jq python3
lib_deadline "${OFFERD_TEST_DEADLINE:-300}"
[[ -x $build/offerd && -x $build/offerctl ]] || die "$build/offerd or offerctl is not built (make build)"
ctl=$build/offerctl
pg_setup

ROUNDS=${OFFERD_TEST_ERASE_ROUNDS:-6}
CUSTOMERS_A=(X Y Z)
CUSTOMERS_B=(X Z)

# The states of each customer: Y shares X's segment and date in even rounds
# (so it adds to rows X has too) and has a state of its own in odd ones.
body_for() { # CUSTOMER ROUND OFFER
  local c=$1 r=$2 offer=$3 states ts
  case $c in
    X) states='{"age":40,"gender":"F","region":"Americas","client-since":"2019-10-21"}' ts=2022-03-07 ;;
    Y) if ((r % 2 == 0)); then
         states='{"age":41,"gender":"F","region":"Americas","client-since":"2018-01-02"}' ts=2022-03-07
       else
         states='{"age":70,"gender":"M","region":"Asia"}' ts=2022-10-20
       fi ;;
    Z) states='{"age":25,"gender":"M","region":"Europe"}' ts=2022-06-15 ;;
  esac
  printf '{"customer_id":"%s","timestamp":"%s","states":%s,"offers":{"%s":true}}' "$c" "$ts" "$states" "$offer"
}

# feed NAME KEY CUSTOMERS...: ROUNDS rounds of predict then reward per customer.
feed() {
  local name=$1 key=$2 r i c offer ep body rbody
  shift 2
  local url=${OFFERD_URL[$name]}
  for ((r = 0; r < ROUNDS; r++)); do
    i=0
    for c in "$@"; do
      i=$((i + 1))
      offer="OFFER_$(((r + i) % 3 + 1))"
      body=$(body_for "$c" "$r" "$offer")
      http POST "$url/predict" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body"
      [[ $HTTP_STATUS == 200 ]] || die "[$name] /predict $body: $HTTP_STATUS $HTTP_BODY"
      ep=$(jq -r .episode_id <<<"$HTTP_BODY")
      # Accept in some rounds, click or ignore in others: every kind of reward.
      case $(((r + i) % 3)) in
        0) rbody='{"customer_id":"'$c'","episode_id":'$ep',"accepted_one_of_the_three_offers":true,"accepted_offer":"'$offer'"}' ;;
        1) rbody='{"customer_id":"'$c'","episode_id":'$ep',"accepted_one_of_the_three_offers":false,"clicked_offers":["'$offer'"]}' ;;
        2) rbody='{"customer_id":"'$c'","episode_id":'$ep',"accepted_one_of_the_three_offers":false}' ;;
      esac
      local idem=()
      [[ $c == Y && $r == 1 ]] && idem=(-H "Idempotency-Key: erase-test-$ep")
      http PUT "$url/rewards" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "${idem[@]}" -d "$rbody"
      [[ $HTTP_STATUS == 200 ]] || die "[$name] /rewards $rbody: $HTTP_STATUS $HTTP_BODY"
    done
  done
}

# The learned rows of a database, one per line, zero rows left out.
policy_rows() {
  sql "$1" "SELECT state_key, offer, n, reward_sum, successes, failures FROM tb_policy
            WHERE company = 'A' AND (n <> 0 OR reward_sum <> 0 OR successes <> 0 OR failures <> 0)
            ORDER BY state_key, offer"
}
model_rows() {
  sql "$1" "SELECT version, offer, n, stats FROM tb_model WHERE company = 'A' ORDER BY version, offer"
}

# same_rows KIND FILE_A FILE_B: equal within 1e-9 (relative to max(1, |x|)); JSON arrays compared per cell.
same_rows() {
  python3 - "$@" <<'EOF'
import json, sys
kind, fa, fb = sys.argv[1:4]
def load(path):
    rows = {}
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        cols = line.split("|", 3 if kind == "model" else 5)
        if kind == "model":
            version, offer, n, stats = cols
            st = json.loads(stats)
            cells = [float(n)] + [float(x) for x in st.get("b", [])] + [float(x) for x in st.get("S", [])]
            if offer != "" and all(abs(x) < 1e-9 for x in cells):
                continue  # an offer row left all zero is an offer never learned
            rows[(version, offer)] = cells
        else:
            rows[(cols[0], cols[1])] = [float(x) for x in cols[2:]]
    return rows
a, b = load(fa), load(fb)
bad = []
for k in sorted(set(a) | set(b)):
    if k not in a or k not in b:
        bad.append("%s only in %s" % (k, "A" if k in a else "B"))
        continue
    if len(a[k]) != len(b[k]):
        bad.append("%s: %d cells against %d" % (k, len(a[k]), len(b[k])))
        continue
    for i, (x, y) in enumerate(zip(a[k], b[k])):
        if abs(x - y) > 1e-9 * max(1.0, abs(x), abs(y)):
            bad.append("%s cell %d: %r against %r" % (k, i, x, y))
            break
print("%d rows compared" % len(set(a) | set(b)))
for line in bad[:10]:
    print(line)
sys.exit(1 if bad or not a else 0)
EOF
}

# compare_ab WHEN TABLE [NOTE]: run A's TABLE rows (policy|model) against run
# B's, which must differ before the erasure (WHEN before) and be equal after
# it (WHEN after). Reads dba, dbb and tag from the caller.
compare_ab() {
  local when=$1 table=$2 note=${3:-} name out
  name=TB_${table^^}
  "${table}_rows" "$dba" >"$LIB_TMP/$table-a"
  "${table}_rows" "$dbb" >"$LIB_TMP/$table-b"
  if out=$(same_rows "$table" "$LIB_TMP/$table-a" "$LIB_TMP/$table-b"); then
    if [[ $when == before ]]; then
      fail "$tag before the erasure $name of A should differ from B's ($out)"
    else
      ok "$tag $name $note equals the run without Y ($out)"
    fi
  elif [[ $when == before ]]; then
    ok "$tag before the erasure $name of A differs from B's (${out//$'\n'/; })"
  else
    fail "$tag $name after erasing Y differs from the run without Y: $out"
  fi
}

# run_case STORE KIND: runs A and B, erases Y from A, compares.
run_case() {
  local store=$1 kind=$2 dba dbb tag="[$1 $2]" admin client key_b out
  if [[ $store == sqlite ]]; then
    sqlite_new_db "erase-a-$kind" dba
    sqlite_new_db "erase-b-$kind" dbb
  else
    pg_new_db "erase_a_$kind" dba
    pg_new_db "erase_b_$kind" dbb
  fi
  admin=$(key_create "$dba" A admin)
  client=$(key_create "$dba" A)
  key_b=$(key_create "$dbb" A)
  if [[ $kind == contextual ]]; then
    for db in "$dba" "$dbb"; do
      timeout 30 "$ctl" agent release 2.0.0 --policy linear-ts \
        --params '{"forgetting":1,"logistic":0}' --database-url "$db" >/dev/null ||
        die "$tag offerctl agent release 2.0.0 failed"
    done
  fi

  offerd_start "a-$store-$kind" "$dba" --refresh 0.2
  offerd_start "b-$store-$kind" "$dbb" --refresh 0.2
  feed "a-$store-$kind" "$client" "${CUSTOMERS_A[@]}"
  feed "b-$store-$kind" "$key_b" "${CUSTOMERS_B[@]}"
  local url=${OFFERD_URL[a-$store-$kind]}
  # Y's segment (offerctl train's), stored after the rounds so that Y's
  # episodes share X's states in even rounds.
  sql "$dba" "INSERT INTO tb_segments (company, customer_id, segment) VALUES ('A', 'Y', 'Q2')" ||
    die "$tag cannot insert Y's segment"
  local ny
  ny=$(sql "$dba" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'Y'")
  expect_eq "$ny" "$ROUNDS" "$tag run A holds Y's $ROUNDS rewards before the erasure"
  expect_eq "$(sql "$dba" "SELECT COUNT(*) FROM tb_idempotency WHERE idem_key LIKE 'erase-test-%'")" 1 \
    "$tag run A holds Y's Idempotency-Key"

  # The comparison can fail: before the erasure, A is not B.
  compare_ab before policy
  [[ $kind == contextual ]] && compare_ab before model

  http DELETE "$url/customers/Y" -H "Authorization: Bearer $client"
  expect_status 403 "$tag DELETE /customers/Y with a client key is refused"
  http DELETE "$url/customers/nobody" -H "Authorization: Bearer $admin"
  expect_status 404 "$tag an unknown customer"
  expect_jq '.field == "customer_id"' "$tag the 404 names customer_id"
  http DELETE "$url/customers/$(printf 'y%.0s' {1..200})" -H "Authorization: Bearer $admin"
  expect_status 400 "$tag an id of 200 characters"
  expect_jq '.field == "customer_id"' "$tag the 400 names customer_id"

  http DELETE "$url/customers/Y" -H "Authorization: Bearer $admin"
  expect_status 200 "$tag DELETE /customers/Y with an admin key"
  expect_jq ".episodes == $ROUNDS and .rewards == $ROUNDS and .learned == $ROUNDS and .segments == 1 and .approximate == false" \
    "$tag the answer counts Y's episodes, rewards and segment, exact"
  if [[ $HTTP_BODY == *'"Y"'* ]]; then fail "$tag the answer repeats the customer id: $HTTP_BODY"; fi

  local left
  left=$(sql "$dba" "SELECT (SELECT COUNT(*) FROM tb_episodes WHERE customer_id = 'Y')
                          + (SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'Y')
                          + (SELECT COUNT(*) FROM tb_segments WHERE customer_id = 'Y')
                          + (SELECT COUNT(*) FROM tb_idempotency WHERE idem_key LIKE 'erase-test-%')")
  expect_eq "$left" 0 "$tag none of Y's episodes, rewards, segment or Idempotency-Keys is left"
  expect_eq "$(sql "$dba" "SELECT COUNT(*) FROM tb_episodes WHERE customer_id IN ('X', 'Z')")" $((2 * ROUNDS)) \
    "$tag X's and Z's episodes stay"
  out=$(sql "$dba" "SELECT company, episodes, rewards, learned, segments, by_whom, approximate FROM tb_erasures")
  expect_eq "$out" "A|$ROUNDS|$ROUNDS|$ROUNDS|1|key:${admin:0:12}|0" \
    "$tag TB_ERASURES: one row with the counts and the admin key's prefix"
  if sql "$dba" "SELECT * FROM tb_erasures" | grep -q '|Y|\|Y$'; then
    fail "$tag TB_ERASURES holds the customer's id"
  fi

  compare_ab after policy "after erasing Y"
  [[ $kind == contextual ]] && compare_ab after model "(n, b, S of each offer; the clock's episodes)"

  # offerctl: the same erasure from the command line, by "offerctl".
  out=$(timeout 30 "$ctl" customers forget Z --company A --database-url "$dba" 2>&1)
  expect_eq "$?" 0 "$tag offerctl customers forget Z exits 0 ($out)"
  timeout 30 "$ctl" customers forget Z --company A --database-url "$dba" >/dev/null 2>&1
  expect_eq "$?" 3 "$tag a second offerctl customers forget Z exits 3 (no such customer)"
  expect_eq "$(sql "$dba" "SELECT by_whom FROM tb_erasures ORDER BY id DESC LIMIT 1")" offerctl \
    "$tag TB_ERASURES records offerctl"
  offerd_stop "a-$store-$kind"
  offerd_stop "b-$store-$kind"
}

for store in sqlite pg; do
  run_case "$store" tabular
  run_case "$store" contextual
done

# Two processes on one PostgreSQL: Y's rewards arrive at process 2 while
# process 1 erases Y. Every answer is 200 or 404 (never a 5xx), nothing of Y
# is left, and TB_POLICY holds exactly the learned rewards that remain
# (n of each state and offer = the rewards of episodes that showed it).
race_case() {
  local db admin client url1 url2 i ep eps=() codes
  pg_new_db erase_race db
  admin=$(key_create "$db" A admin)
  client=$(key_create "$db" A)
  offerd_start race1 "$db" --refresh 0.2
  offerd_start race2 "$db" --refresh 0.2
  url1=${OFFERD_URL[race1]} url2=${OFFERD_URL[race2]}
  feed race1 "$client" X Z
  for ((i = 0; i < 40; i++)); do
    http POST "$url1/predict" -H "Authorization: Bearer $client" -H 'Content-Type: application/json' \
      -d "$(body_for Y "$i" "OFFER_$((i % 3 + 1))")"
    [[ $HTTP_STATUS == 200 ]] || die "[race] /predict for Y: $HTTP_STATUS $HTTP_BODY"
    eps+=("$(jq -r .episode_id <<<"$HTTP_BODY")")
  done
  # Rewards through process 2, in the background, while process 1 erases.
  (
    for ep in "${eps[@]}"; do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X PUT "$url2/rewards" \
        -H "Authorization: Bearer $client" -H 'Content-Type: application/json' \
        -d '{"customer_id":"Y","episode_id":'"$ep"',"accepted_one_of_the_three_offers":false}'
    done >"$LIB_TMP/race-codes"
  ) &
  local bg=$!
  sleep 0.1
  http DELETE "$url1/customers/Y" -H "Authorization: Bearer $admin"
  expect_status 200 "[race] DELETE /customers/Y while its rewards arrive at another process"
  wait "$bg"
  codes=$(sort "$LIB_TMP/race-codes" | uniq -c | tr -s ' ' | tr '\n' ';')
  if grep -qvE '^(200|404)$' "$LIB_TMP/race-codes"; then
    fail "[race] the rewards racing the erasure should answer 200 or 404, got: $codes"
  else
    ok "[race] the rewards racing the erasure answered 200 or 404 ($codes)"
  fi
  expect_eq "$(sql "$db" "SELECT (SELECT COUNT(*) FROM tb_episodes WHERE customer_id = 'Y')
                               + (SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'Y')")" 0 \
    "[race] nothing of Y is left"
  local diff
  diff=$(sql "$db" "SELECT p.state_key, p.offer, p.n, COALESCE(x.k, 0) FROM tb_policy p
                    LEFT JOIN (SELECT e.state_key, e.predicted_offer_1 AS offer, COUNT(*) AS k
                               FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id
                               WHERE r.learned GROUP BY e.state_key, e.predicted_offer_1) x
                      ON x.state_key = p.state_key AND x.offer = p.offer
                    WHERE p.company = 'A' AND p.n <> COALESCE(x.k, 0)")
  expect_eq "$diff" "" "[race] TB_POLICY counts exactly the learned rewards that remain"
  offerd_stop race1
  offerd_stop race2
}
race_case

# The default contextual parameters: the subtraction is reported approximate.
sqlite_new_db erase-approx db
timeout 30 "$ctl" agent release 2.0.0 --policy squarecb --database-url "$db" >/dev/null || die "release failed"
admin=$(key_create "$db" A admin)
offerd_start approx "$db"
feed approx "$admin" X
http DELETE "${OFFERD_URL[approx]}/customers/X" -H "Authorization: Bearer $admin"
expect_status 200 "[squarecb, default parameters] DELETE /customers/X"
expect_jq '.approximate == true' "[squarecb, default parameters] the model subtraction is reported approximate"
expect_eq "$(sql "$db" "SELECT approximate FROM tb_erasures")" 1 "[squarecb] TB_ERASURES records it approximate"
offerd_stop approx

# Any id /predict takes can be erased: '/' (sent as %2F, or as it is), a tab,
# non-ASCII; an id that is not UTF-8 is a 400 naming customer_id (it was a
# 500 on PostgreSQL, which refuses the bytes).
odd_ids() {
  local store=$1 db admin url id enc tag="[$1 odd ids]"
  backend_db "$store" erase_odd db
  admin=$(key_create "$db" A admin)
  offerd_start "odd-$store" "$db"
  url=${OFFERD_URL[odd-$store]}
  local ids=('a/b' $'tab\tin' 'ünï/cödé' 'x/')
  for id in "${ids[@]}"; do
    http POST "$url/predict" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      -d "$(jq -cn --arg c "$id" '{customer_id: $c, timestamp: "2022-01-01", states: {}, offers: {OFFER_1: true}}')"
    expect_status 200 "$tag /predict for $(jq -cn --arg c "$id" '$c')"
  done
  for id in "${ids[@]}"; do
    enc=$(jq -rn --arg c "$id" '$c | @uri')
    http DELETE "$url/customers/$enc" -H "Authorization: Bearer $admin"
    expect_status 200 "$tag DELETE /customers/$enc"
    expect_jq '.episodes == 1' "$tag DELETE /customers/$enc erased its one episode"
  done
  http POST "$url/predict" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"customer_id": "c/d", "timestamp": "2022-01-01", "states": {}, "offers": {"OFFER_1": true}}'
  http DELETE "$url/customers/c/d" -H "Authorization: Bearer $admin"
  expect_status 200 "$tag DELETE /customers/c/d, the '/' not encoded"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes")" 0 "$tag no episode is left"
  http DELETE "$url/customers/a%FFb" -H "Authorization: Bearer $admin"
  expect_status 400 "$tag DELETE /customers/a%FFb (not UTF-8)"
  expect_jq '.field == "customer_id"' "$tag the 400 names customer_id"
  offerd_stop "odd-$store"
}
odd_ids sqlite
odd_ids postgresql

lib_done
