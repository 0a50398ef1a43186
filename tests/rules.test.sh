#!/usr/bin/env bash
# Per-company rules and contact policy at decision time (issue 16.1, 16.2),
# over real HTTP, on SQLite and on PostgreSQL, each on a fresh database:
#  1. offerctl rules set stores versions (a bad file is refused with its
#     line and stores nothing); rules show prints the one in force.
#  2. offerd puts them in force: Company B's eligibility rules apply to
#     /predict, /predict-v2, /batch (with ?rules=none, so the server does it)
#     and Personalizer ranks; every episode's eligibility names the eligible
#     offers and why each other one is out.
#  3. PUT /rules (a bad text is 422 naming the line; GET /rules says the
#     version and text) and each contact-policy kind: a cap on one offer, a
#     cap on every offer down to a 422 that says why, a cool-down after an
#     accepted offer, not-last.
#     After a restart the contact history is read back from the database.
#  4. PostgreSQL: two offerd processes on one database: a rule set through
#     one is in force in the other within the refresh, and a cap counts the
#     contacts made by the other process once it has refreshed.
# Bounded to 240 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline 240

J='Content-Type: application/json'
body() { # customer region age offers...
  local c=$1 region=$2 age=$3
  shift 3
  jq -nc --arg c "$c" --arg r "$region" --argjson a "$age" --args \
    '{customer_id: $c, timestamp: "2022-01-01", states: {age: $a, gender: "F", region: $r},
      offers: ($ARGS.positional | map({(.): true}) | add)}' "$@"
}
put_rules() { # url text (an admin key: PUT /rules is an admin path)
  http PUT "$1/rules" "${ADMIN[@]}" -d "$(jq -nc --arg r "$2" '{rules: $r}')"
}
elig() { # db episode_id
  sql "$1" "SELECT eligibility FROM tb_episodes WHERE id = $2"
}

run_backend() {
  local be=$1 db=$2 kb u rf ep i first second
  rf=$LIB_TMP/rules-$be.txt

  # 1. offerctl rules set | show.
  printf 'region = Europa -> deny OFFER_4 OFFER_5 OFFER_6\nage > 65 -> deny OFFER_1 OFFER_3 OFFER_4\ncap OFFER_2 2 per 7d\n' >"$rf"
  printf 'region = Europa -> deny OFFER_4\ncap OFFER_2 0 per 7d\n' >"$LIB_TMP/bad.txt"
  if "$build/offerctl" rules set --company B "$LIB_TMP/bad.txt" --database-url "$db" 2>"$LIB_TMP/err"; then
    fail "$be: a bad rules file is refused"
  else
    grep -q "bad.txt:2: cap needs a number of shows between 1 and 64" "$LIB_TMP/err" &&
      ok "$be: a bad rules file is refused, naming its line" ||
      fail "$be: the refusal names the line: $(cat "$LIB_TMP/err")"
  fi
  "$build/offerctl" rules set --company B "$rf" --database-url "$db" >"$LIB_TMP/out" ||
    fail "$be: offerctl rules set"
  grep -q "rules version 1 stored (2 rules, 1 contact-policy lines)" "$LIB_TMP/out" &&
    ok "$be: rules set stores version 1" || fail "$be: rules set said: $(cat "$LIB_TMP/out")"
  "$build/offerctl" rules show --company B --database-url "$db" >"$LIB_TMP/show"
  grep -q "^# company B, rules version 1" "$LIB_TMP/show" && grep -q "^cap OFFER_2 2 per 7d" "$LIB_TMP/show" &&
    ok "$be: rules show prints version 1 and its text" || fail "$be: rules show: $(cat "$LIB_TMP/show")"

  kb=$(key_create "$db" B)
  kadmin=$(key_create "$db" B admin)
  offerd_start "$be" "$db" --refresh 0.2
  u=${OFFERD_URL[$be]}
  A=(-H "Authorization: Bearer $kb" -H "$J")
  ADMIN=(-H "Authorization: Bearer $kadmin" -H "$J")

  # 2. Eligibility on /predict: OFFER_4 (rule line 1), OFFER_9 false (the client's flag).
  http POST "$u/predict" "${A[@]}" -d "$(body e1 Europa 30 OFFER_1 OFFER_2 OFFER_3 OFFER_4)"
  expect_status 200 "$be: predict for a customer in Europa"
  expect_jq '(."best-three-offers" | index("OFFER_4")) == null and (."best-three-offers" | length) == 3' \
    "$be: OFFER_4 is not shown in Europa"
  ep=$(jq -r .episode_id <<<"$HTTP_BODY")
  expect_eq "$(elig "$db" "$ep" | jq -c '[.eligible, .excluded]')" \
    '[["OFFER_1","OFFER_2","OFFER_3"],[{"offer":"OFFER_4","why":"rule line 1"}]]' \
    "$be: the episode records the eligible set and why OFFER_4 is out"
  http POST "$u/predict-v2" "${A[@]}" \
    -d "$(body e2 Europa 70 OFFER_1 OFFER_2 OFFER_3 OFFER_4 OFFER_5 OFFER_7 | jq -c '.offers.OFFER_9 = false')"
  expect_status 200 "$be: predict-v2 for a customer of 70 in Europa"
  expect_jq '(."best-three-offers" | keys) == ["OFFER_2", "OFFER_7"]' \
    "$be: predict-v2 leaves out what both rules deny (two offers left)"
  ep=$(jq -r .episode_id <<<"$HTTP_BODY")
  expect_eq "$(elig "$db" "$ep" | jq -c '[.excluded[] | "\(.offer):\(.why)"]')" \
    '["OFFER_1:rule line 2","OFFER_3:rule line 2","OFFER_4:rule line 1","OFFER_5:rule line 1","OFFER_9:client flag"]' \
    "$be: each excluded offer with its reason, the client's flag too"
  expect_eq "$(sql "$db" "SELECT propensity_1 FROM tb_episodes WHERE id = $ep" | cut -c1-3)" "0.5" \
    "$be: the first slot's propensity is over the two eligible offers (epsilon-greedy, untrained)"

  # ... on /batch with the client-side rules off: the server applies B's.
  http POST "$u/batch?rules=none" -H "Authorization: Bearer $kb" -H 'Content-Type: text/csv' \
    --data-binary @examples/company_B.csv
  expect_status 200 "$be: /batch of company_B.csv with ?rules=none"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE customer_id = '2394823' AND eligibility LIKE '%OFFER_4\",\"why\":\"rule line 1%'")" 1 \
    "$be: /batch's Europa row records OFFER_4 out by rule line 1"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes e WHERE e.customer_id IN (SELECT customer_id FROM tb_episodes WHERE eligibility LIKE '%rule line 1%') AND (predicted_offer_1 IN ('OFFER_4','OFFER_5','OFFER_6') OR predicted_offer_2 IN ('OFFER_4','OFFER_5','OFFER_6') OR predicted_offer_3 IN ('OFFER_4','OFFER_5','OFFER_6'))")" 0 \
    "$be: no /batch row in Europa shows OFFER_4, 5 or 6"

  # ... on Personalizer ranks: the context's region is read like states.
  http POST "$u/personalizer/v1.0/rank" -H "Ocp-Apim-Subscription-Key: $kb" -H "$J" \
    -d '{"contextFeatures":[{"region":"Europa","age":30}],"actions":[{"id":"OFFER_4","features":[{"a":1}]},{"id":"OFFER_1","features":[{"a":2}]}]}'
  expect_status 201 "$be: a Personalizer rank"
  expect_jq '.rewardActionId == "OFFER_1" and ([.ranking[] | select(.id == "OFFER_4")][0].probability == 0)' \
    "$be: the rank serves OFFER_1; OFFER_4 has probability 0"

  # 3. Caps. cap OFFER_2 2 per 7d: the third decision for c1 has two offers.
  for i in 1 2 3; do
    http POST "$u/predict" "${A[@]}" -d "$(body c1 Asia 30 OFFER_1 OFFER_2 OFFER_3)"
    expect_status 200 "$be: predict $i for c1" >/dev/null
  done
  expect_jq '."best-three-offers" | sort == ["OFFER_1", "OFFER_3"]' "$be: after two shows OFFER_2 is capped"
  ep=$(jq -r .episode_id <<<"$HTTP_BODY")
  expect_eq "$(elig "$db" "$ep" | jq -c .excluded)" '[{"offer":"OFFER_2","why":"cap line 3"}]' \
    "$be: the episode says cap line 3"

  # PUT /rules, GET /rules.
  put_rules "$u" $'cap * 1 per 1d\nnonsense'
  expect_status 422 "$be: PUT /rules with a bad line"
  expect_jq '.field == "rules" and (.message | test("rules:2: expected"))' "$be: the 422 names line 2"
  # Nothing in the body is silently dropped: another member, or "rules" twice, is an error.
  http PUT "$u/rules" "${ADMIN[@]}" -d '{"rules": "cap * 1 per 1d", "company": "A"}'
  expect_status 422 "$be: PUT /rules with a member it does not take"
  expect_jq '.field == "company"' "$be: the 422 names the member"
  http PUT "$u/rules" "${ADMIN[@]}" -d '{"rules": "", "rules": "cap * 1 per 1d"}'
  expect_status 400 "$be: PUT /rules with \"rules\" twice"
  expect_jq '.message | test("duplicate")' "$be: the 400 says the key is a duplicate"
  put_rules "$u" $'# every offer once a day\ncap * 1 per 1d\n'
  expect_status 200 "$be: PUT /rules"
  expect_jq '.version == 2 and .company == "B"' "$be: version 2 (the bad one stored nothing)"
  http PUT "$u/rules" "${A[@]}" -d '{"rules": ""}'
  expect_status 403 "$be: PUT /rules with a client key"
  http GET "$u/rules" "${A[@]}"
  expect_status 403 "$be: GET /rules with a client key"
  http GET "$u/rules" "${ADMIN[@]}"
  expect_jq '.version == 2 and (.rules | test("cap \\* 1 per 1d"))' "$be: GET /rules answers the version in force"
  http POST "$u/predict" "${A[@]}" -d "$(body c2 Asia 30 OFFER_1 OFFER_2)"
  expect_jq '."best-three-offers" | length == 2' "$be: c2's first decision shows both offers"
  http POST "$u/predict" "${A[@]}" -d "$(body c2 Asia 30 OFFER_1 OFFER_2)"
  expect_status 422 "$be: c2's second decision: every offer capped"
  expect_jq '.field == "offers" and (.message | test("no offer is eligible for customer c2: OFFER_1 \\(cap line 2\\), OFFER_2 \\(cap line 2\\)"))' \
    "$be: the 422 says which line capped each offer"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE customer_id = 'c2'")" 1 \
    "$be: the 422 recorded no episode"

  # Cool-down after an accepted offer.
  put_rules "$u" $'cooldown OFFER_1 30d after accept\n'
  expect_status 200 "$be: a cool-down in force" >/dev/null
  http POST "$u/predict" "${A[@]}" -d "$(body c3 Asia 30 OFFER_1 OFFER_2)"
  expect_jq '."best-three-offers" | length == 2' "$be: c3 sees both offers before accepting"
  http PUT "$u/rewards" "${A[@]}" -d '{"customer_id":"c3","accepted_one_of_the_three_offers":true,"accepted_offer":"OFFER_1"}'
  expect_status 200 "$be: c3 accepts OFFER_1"
  http POST "$u/predict" "${A[@]}" -d "$(body c3 Asia 30 OFFER_1 OFFER_2)"
  expect_jq '."best-three-offers" == ["OFFER_2"]' "$be: OFFER_1 cools down after its acceptance"
  ep=$(jq -r .episode_id <<<"$HTTP_BODY")
  expect_eq "$(elig "$db" "$ep" | jq -c .excluded)" '[{"offer":"OFFER_1","why":"cooldown line 1"}]' \
    "$be: the episode says cooldown line 1"

  # not-last: the offer shown first last time is not shown.
  put_rules "$u" $'not-last\n'
  expect_status 200 "$be: not-last in force" >/dev/null
  for i in 1 2 3 4; do
    http POST "$u/predict" "${A[@]}" -d "$(body c4 Asia 30 OFFER_1 OFFER_2 OFFER_3)"
    second=$(jq -r '."best-three-offers" | join(",")' <<<"$HTTP_BODY")
    if [[ $i -gt 1 && ",$second," == *",$first,"* ]]; then
      fail "$be: not-last: $first was shown first, then again in $second"
    fi
    first=${second%%,*}
  done
  ok "$be: not-last: the first offer of a decision never comes back in the next"

  # A restart reads the contact history back from the database.
  put_rules "$u" $'cap * 1 per 1d\n'
  expect_status 200 "$be: the daily cap again" >/dev/null
  offerd_stop "$be"
  offerd_start "$be" "$db" --refresh 0.2
  u=${OFFERD_URL[$be]}
  http POST "$u/predict" "${A[@]}" -d "$(body c2 Asia 30 OFFER_1 OFFER_2 OFFER_3)"
  expect_jq '."best-three-offers" == ["OFFER_3"]' \
    "$be: after a restart c2's contacts from before are still counted"
}

sqlite_new_db rules sdb
run_backend sqlite "$sdb"
offerd_stop sqlite

pg_setup
pg_new_db rules pdb
run_backend pg "$pdb"

# 4. Two processes on one PostgreSQL.
offerd_start pg2 "$pdb" --refresh 0.2
u=${OFFERD_URL[pg]}
u2=${OFFERD_URL[pg2]}
put_rules "$u" $'cap * 1 per 1h\n'
expect_status 200 "two processes: PUT /rules through process 1"
v=$(jq .version <<<"$HTTP_BODY")
for i in $(seq 1 30); do
  http GET "$u2/rules" "${ADMIN[@]}"
  [[ $(jq .version <<<"$HTTP_BODY") == "$v" ]] && break
  sleep 0.1
done
expect_jq ".version == $v" "two processes: process 2 has version $v in force within the refresh"
http POST "$u/predict" "${A[@]}" -d "$(body x1 Asia 30 OFFER_1 OFFER_2)"
expect_status 200 "two processes: x1's decision on process 1"
sleep 0.7 # more than two refresh intervals (0.2 s): the window in which they may disagree
http POST "$u2/predict" "${A[@]}" -d "$(body x1 Asia 30 OFFER_1 OFFER_2)"
expect_status 422 "two processes: process 2 enforces the cap on process 1's contact"
http POST "$u2/predict" "${A[@]}" -d "$(body x2 Asia 30 OFFER_1 OFFER_2 OFFER_3)"
expect_status 200 "two processes: x2's decision on process 2" >/dev/null
shown=$(jq -r '."best-three-offers" | join(",")' <<<"$HTTP_BODY")
sleep 0.7
http POST "$u/predict" "${A[@]}" -d "$(body x2 Asia 30 OFFER_1 OFFER_2 OFFER_3 OFFER_4)"
expect_jq '."best-three-offers" == ["OFFER_4"]' "two processes: process 1 leaves out what process 2 showed ($shown)"

# Erasure (issue 16.3) forgets the contact history too: the process that
# erased at once, the other at its next refresh after the TB_ERASURES row.
http DELETE "$u2/customers/x1" "${ADMIN[@]}"
expect_status 200 "two processes: x1 erased through process 2"
http POST "$u2/predict" "${A[@]}" -d "$(body x1 Asia 30 OFFER_1 OFFER_2)"
expect_status 200 "two processes: process 2 forgot x1's contacts at once"
sleep 0.7
http POST "$u/predict" "${A[@]}" -d "$(body x1 Asia 30 OFFER_1 OFFER_2 OFFER_3)"
expect_status 200 "two processes: process 1 forgot x1's contacts after its refresh"
expect_jq '."best-three-offers" == ["OFFER_3"]' "two processes: only x1's decision after the erasure counts (OFFER_1 and OFFER_2 capped)"

# The refresher reads only the contacts its process does not have: process
# 1's own 40 decisions are not read back from the database by process 1
# (a few may be, when a refresh falls between a commit and its bookkeeping),
# while process 2 reads all 40.
rows_read() { # URL: offerd_contact_rows_read_total (GET /metrics takes an admin key)
  http GET "$1/metrics" "${ADMIN[@]}"
  awk '$1 == "offerd_contact_rows_read_total" { print $2 }' <<<"$HTTP_BODY"
}
sleep 0.5
m0=$(rows_read "$u")
n0=$(rows_read "$u2")
[[ -n $m0 && -n $n0 ]] || fail "two processes: /metrics has no offerd_contact_rows_read_total"
for i in $(seq 1 40); do
  http POST "$u/predict" "${A[@]}" -d "$(body y$i Asia 30 OFFER_1 OFFER_2)"
  [[ $HTTP_STATUS == 200 ]] || fail "two processes: y$i's decision on process 1 (status $HTTP_STATUS)"
done
sleep 0.7
m1=$(rows_read "$u")
n1=$(rows_read "$u2")
((m1 - m0 <= 4)) && ok "two processes: process 1 read $((m1 - m0)) of its own 40 episodes back (at most 4)" ||
  fail "two processes: process 1 read $((m1 - m0)) of its own 40 episodes back from the database"
((n1 - n0 >= 40)) && ok "two processes: process 2 read process 1's 40 episodes ($((n1 - n0)) rows)" ||
  fail "two processes: process 2 read only $((n1 - n0)) rows for process 1's 40 episodes"
offerd_stop pg2
offerd_stop pg
lib_done
