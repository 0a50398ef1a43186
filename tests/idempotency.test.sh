#!/usr/bin/env bash
# Idempotency-Key on PUT /rewards (issue 15, finding 2): a client that
# retries a reward after a timeout must not credit a second episode.
# On SQLite and on PostgreSQL, each on a fresh database, with auth on and
# keys for companies A and B:
#  1. Two /predict calls give customer c1 two episodes. A reward with
#     Idempotency-Key k1 is 200; the same reward again (and once more spelled
#     differently: the brief's field name, other whitespace) is 200 with
#     Idempotent-Replayed: true and TB_REWARDS still holds one row for c1.
#     Without a key the same retry credits the second episode (the bug the
#     key is for).
#  2. k1 with another body is 422 naming Idempotency-Key; nothing changes.
#  3. Keys are per company: B's k1 is B's own (200, a reward of B's).
#  4. A bad key (empty, too long, a control character) is 400 naming it.
#  5. Durable: offerd restarts and k1 is still replayed. Retention: a key
#     made 2 days old is purged by the next keyed reward of a new process.
#  6. Two offerd processes on the same database: 8 concurrent retries of one
#     keyed reward, alternating between them, are all 200 and store one row.
#  7. POST /batch with a key: the upload is recorded once; the same upload
#     again (to either process) is 409 and records nothing; the key with
#     another file or other options is 422; an empty key is 400.
# Bounded to 180 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline 180

J='Content-Type: application/json'
predict_body() {
  jq -nc --arg c "$1" '{customer_id: $c, timestamp: "2022-01-01",
    states: {age: 30, gender: "F", "client-since": "2020-01-01", region: "Europa"},
    offers: {OFFER_1: true, OFFER_2: true, OFFER_3: true, OFFER_4: true}}'
}
reward_body() { printf '{"customer_id": "%s", "accepted_one_of_the_three_offers": %s}' "$1" "$2"; }

run_backend() {
  local be=$1 db=$2 ka kb kadmin u u2 n i
  ka=$(key_create "$db" A)
  kb=$(key_create "$db" B)
  kadmin=$(key_create "$db" A admin)
  offerd_start "$be" "$db" --refresh 0.2
  u=${OFFERD_URL[$be]}
  local A=(-H "Authorization: Bearer $ka" -H "$J") B=(-H "Authorization: Bearer $kb" -H "$J")

  for i in 1 2 3; do
    http POST "$u/predict" "${A[@]}" -d "$(predict_body c1)"
    expect_status 200 "$be: predict $i for c1" >/dev/null
  done

  # 1. A retry with the key is the first answer and stores nothing.
  http PUT "$u/rewards" "${A[@]}" -H 'Idempotency-Key: k1' -d "$(reward_body c1 true)"
  expect_status 200 "$be: a keyed reward"
  expect_eq "$HTTP_BODY" '"Sucess"' "$be: its body"
  http PUT "$u/rewards" "${A[@]}" -H 'Idempotency-Key: k1' -d "$(reward_body c1 true)"
  expect_status 200 "$be: the same reward, same key, again"
  expect_eq "$HTTP_BODY" '"Sucess"' "$be: the same body as the first answer"
  expect_header Idempotent-Replayed true "$be: the answer says it is a replay"
  http PUT "$u/rewards" "${A[@]}" -H 'Idempotency-Key: "k1"' \
    -d '{ "accepted_one_of the_three_offers" : true,"customer_id":"c1"}'
  expect_status 200 "$be: the same reward spelled otherwise, key in the draft's quoted form"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'c1'")" 1 \
    "$be: one reward for c1 after three keyed tries"
  http GET "$u/metrics" -H "Authorization: Bearer $kadmin"
  expect_eq "$(grep -E '^offerd_rewards_written_total ' <<<"$HTTP_BODY" | awk '{ print $2 }')" 1 \
    "$be: /metrics counts one reward written, not the replays"
  expect_eq "$(sql "$db" "SELECT company || '|' || route || '|' || length(request_hash) FROM tb_idempotency")" \
    'A|/rewards|64' "$be: the key is stored with the company, the route and a SHA-256"

  # 2. The same key for another request.
  http PUT "$u/rewards" "${A[@]}" -H 'Idempotency-Key: k1' -d "$(reward_body c1 false)"
  expect_status 422 "$be: k1 with another body"
  expect_jq '.field == "Idempotency-Key" and (.message | test("another request"))' "$be: the 422 names the header"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'c1'")" 1 \
    "$be: nothing stored by the 422"

  # 3. Per company.
  http POST "$u/predict" "${B[@]}" -d "$(predict_body c1)"
  expect_status 200 "$be: B's predict for its c1" >/dev/null
  http PUT "$u/rewards" "${B[@]}" -H 'Idempotency-Key: k1' -d "$(reward_body c1 true)"
  expect_status 200 "$be: B's own k1 is a new key"
  expect_header Idempotent-Replayed '' "$be: not a replay"
  expect_eq "$(sql "$db" "SELECT company FROM tb_rewards WHERE customer_id = 'c1' ORDER BY company")" \
    $'A\nB' "$be: a reward for A's c1 and one for B's"

  # 4. Bad keys.
  local long
  long=$(printf 'x%.0s' {1..256})
  for bad in 'Idempotency-Key;' "Idempotency-Key: $long" $'Idempotency-Key: a\tb'; do
    http PUT "$u/rewards" "${A[@]}" -H "$bad" -d "$(reward_body c1 true)"
    expect_status 400 "$be: a bad key (${bad:0:30})"
    expect_jq '.field == "Idempotency-Key"' "$be: the 400 names Idempotency-Key"
  done

  # Without a key, the retry credits another episode: what the key is for.
  http PUT "$u/rewards" "${A[@]}" -d "$(reward_body c1 true)"
  http PUT "$u/rewards" "${A[@]}" -d "$(reward_body c1 true)"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'c1' AND company = 'A'")" 3 \
    "$be: without a key each retry is a reward"

  # 5. Durable, and bounded.
  offerd_stop "$be"
  case $db in
    sqlite:*) sql "$db" "INSERT INTO tb_idempotency (company, idem_key, route, request_hash, created_at)
                         VALUES ('A', 'old', '/rewards', 'x', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 days'))" ;;
    *) sql "$db" "INSERT INTO tb_idempotency (company, idem_key, route, request_hash, created_at)
                  VALUES ('A', 'old', '/rewards', 'x', now() - interval '2 days')" ;;
  esac
  offerd_start "$be" "$db" --refresh 0.2
  u=${OFFERD_URL[$be]}
  http POST "$u/predict" "${A[@]}" -d "$(predict_body c1)"
  http PUT "$u/rewards" "${A[@]}" -H 'Idempotency-Key: k1' -d "$(reward_body c1 true)"
  expect_status 200 "$be: k1 after a restart"
  expect_header Idempotent-Replayed true "$be: still a replay after a restart"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'c1' AND company = 'A'")" 3 \
    "$be: nothing stored by the retry after the restart"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_idempotency WHERE idem_key = 'old'")" 0 \
    "$be: a key older than the retention (24 h) was purged"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_idempotency WHERE idem_key = 'k1'")" 2 \
    "$be: younger keys are kept (A's and B's k1)"

  # 6. Two processes, concurrent retries.
  offerd_start "$be-2" "$db" --refresh 0.2
  u2=${OFFERD_URL[$be-2]}
  for i in 1 2 3; do
    http POST "$u/predict" "${A[@]}" -d "$(predict_body c2)"
  done
  local pids=() out=$LIB_TMP/conc-$be
  for i in 1 2 3 4 5 6 7 8; do
    local target=$u
    ((i % 2 == 0)) && target=$u2
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -X PUT "${A[@]}" -H 'Idempotency-Key: k2' \
      -d "$(reward_body c2 true)" "$target/rewards" >"$out.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  n=$(cat "$out".* | grep -c '^200$')
  expect_eq "$n" 8 "$be: 8 concurrent retries on two processes are all 200"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE customer_id = 'c2'")" 1 \
    "$be: and store one reward"

  # 7. POST /batch: a repeated key is 409 and decides nothing; another upload is 422.
  local csv=examples/company_B.csv C=(-H "Authorization: Bearer $kb" -H 'Content-Type: text/csv')
  local before rows
  rows=$(($(wc -l <"$csv") - 1))
  before=$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'B'")
  http POST "$u/batch" "${C[@]}" -H 'Idempotency-Key: b1' --data-binary @"$csv"
  expect_status 200 "$be: a keyed /batch"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'B'")" $((before + rows)) \
    "$be: its $rows rows are episodes"
  http POST "$u/batch" "${C[@]}" -H 'Idempotency-Key: b1' --data-binary @"$csv"
  expect_status 409 "$be: the same upload with the same key"
  expect_jq '.field == "Idempotency-Key" and (.message | test("already sent"))' "$be: the 409 names the key"
  http POST "$u/batch?rules=none" "${C[@]}" -H 'Idempotency-Key: b1' --data-binary @"$csv"
  expect_status 422 "$be: the same key with other options"
  head -n 3 "$csv" >"$LIB_TMP/two.csv"
  http POST "$u/batch" "${C[@]}" -H 'Idempotency-Key: b1' --data-binary @"$LIB_TMP/two.csv"
  expect_status 422 "$be: the same key with another file"
  http POST "$u2/batch" "${C[@]}" -H 'Idempotency-Key: b1' --data-binary @"$csv"
  expect_status 409 "$be: the same upload to the other process"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE company = 'B'")" $((before + rows)) \
    "$be: no episode recorded by the retries"
  http POST "$u/batch" "${C[@]}" -H 'Idempotency-Key;' --data-binary @"$csv"
  expect_status 400 "$be: an empty key on /batch"

  offerd_stop "$be-2"
  offerd_stop "$be"
}

sqlite_new_db idem sdb
run_backend sqlite "$sdb"
pg_setup
pg_new_db idem pdb
run_backend pg "$pdb"
lib_done
