#!/usr/bin/env bash
# The web console's data endpoints (src/api_console.c), on SQLite and on
# PostgreSQL, against a live offerd:
#  - /console/api/overview counts company A's decisions, rewards and accepted
#    rewards of the last minutes exactly (B's traffic is not counted), per
#    agent version and in total, on a grid of whole minutes;
#  - /console/api/model lists the learned offers with their observations
#    (the sum is TB_POLICY's), best value first, per state and per part of
#    the state, and how the first-shown offers' reward moved;
#  - /console/api/episodes?limit=N gives the N latest decisions, newest
#    first, with propensities, explanation (the learned values now, and
#    agent_explain over the stored request now) and reward, and the eligible set
#    decide recorded (tb_episodes.eligibility, migration 6);
#  - bad parameters are 400s naming the parameter, a client key is a 403,
#    no key a 401.
# Bounded to 180 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline 180

N=24 # decisions of company A; every one is rewarded, one in three accepted

# predict_reward URL KEY CUSTOMER ACCEPTED: one decision, then its reward.
predict_reward() {
  local u=$1 key=$2 c=$3 acc=$4 i=$((RANDOM % 6))
  http POST "$u/predict" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary "$(jq -c --arg c "$c" ".[$i] | .customer_id = \$c" examples/company_A.json)"
  LIB_QUIET=1 expect_status 200 "predict $c" || return 1
  http PUT "$u/rewards" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary "{\"customer_id\":\"$c\",\"timestamp\":\"2022-04-05\",\"accepted_one_of_the_three_offers\":$acc}"
  LIB_QUIET=1 expect_status 200 "reward $c"
}

run() {
  local label=$1 db=$2 u admin client key_b i acc
  timeout 30 "$build/offerctl" products import examples/company_A_products.csv --company A \
    --database-url "$db" >/dev/null || fail "[$label] products import"
  admin=$(key_create "$db" A admin)
  client=$(key_create "$db" A)
  key_b=$(key_create "$db" B)
  offerd_start "$label" "$db" --refresh 0.5
  u=${OFFERD_URL[$label]}
  local A=(-H "Authorization: Bearer $admin")

  for ((i = 1; i <= N; i++)); do
    if ((i % 3 == 0)); then acc=true; else acc=false; fi
    predict_reward "$u" "$admin" "a$i" "$acc"
  done
  for i in 1 2 3 4 5; do predict_reward "$u" "$key_b" "b$i" true; done
  # Rewards are committed by the writer; wait until all are in the database.
  for _ in $(seq 50); do
    [[ $(sql "$db" "SELECT COUNT(*) FROM tb_rewards WHERE company = 'A'") == "$N" ]] && break
    sleep 0.1
  done

  # --- access and parameters ---
  http GET "$u/console/api/overview"
  expect_status 401 "[$label] overview without a key"
  http GET "$u/console/api/overview" -H "Authorization: Bearer $client"
  expect_status 403 "[$label] overview with a client key"
  expect_jq '.message | test("admin key")' "[$label] the 403 asks for an admin key"
  for bad in 'minutes=0' 'minutes=1441' 'minutes=ten' 'minutes=' ; do
    http GET "$u/console/api/overview?$bad" "${A[@]}"
    expect_status 400 "[$label] overview?$bad"
    expect_jq '.field == "minutes"' "[$label] the 400 of ?$bad names minutes"
  done
  http GET "$u/console/api/overview?window=5" "${A[@]}"
  expect_status 400 "[$label] an unknown parameter"
  expect_jq '.field == "window"' "[$label] the 400 names window"
  for bad in 'limit=0' 'limit=201' 'limit=-3' 'limit=5x'; do
    http GET "$u/console/api/episodes?$bad" "${A[@]}"
    expect_status 400 "[$label] episodes?$bad"
    expect_jq '.field == "limit"' "[$label] the 400 of ?$bad names limit"
  done

  # --- overview ---
  http GET "$u/console/api/overview?minutes=5" "${A[@]}"
  expect_status 200 "[$label] overview?minutes=5"
  expect_header Cache-Control no-store "[$label] the overview is not cached"
  expect_jq '.company == "A" and .minutes == 5 and (.time | length) == 5
             and ([range(1; 5) as $i | .time[$i] - .time[$i - 1]] | all(. == 60)) and .time[0] % 60 == 0' \
    "[$label] five whole minutes, oldest first"
  expect_jq '.all.totals.decisions == $n and .all.totals.rewards == $n
             and .all.totals.accepted == ($n / 3) and .all.totals.acceptance == (1 / 3)' \
    "[$label] totals: $N decisions, $N rewards, $((N / 3)) accepted (B's are not counted)" --argjson n $N
  expect_jq '(.all.decisions | add) == .all.totals.decisions and (.all.decisions | length) == 5' \
    "[$label] the per-minute decisions add up to the total"
  expect_jq '.versions | length == 1 and .[0].version == "1.0.0"
             and .[0].totals.decisions == $n and (.[0].acceptance | map(select(. != null)) | length) >= 1' \
    "[$label] one agent version, 1.0.0, with its acceptance per minute" --argjson n $N
  expect_jq 'now - .time[-1] < 120 and now - .time[-1] >= 0' "[$label] the last minute is the current one"
  http GET "$u/console/api/overview" -H "Authorization: Bearer $key_b"
  expect_status 403 "[$label] B's client key cannot read the console either"

  # --- model ---
  http GET "$u/console/api/model" "${A[@]}"
  expect_status 200 "[$label] model"
  local policy_n
  policy_n=$(sql "$db" "SELECT CAST(ROUND(SUM(n)) AS INTEGER) FROM tb_policy WHERE company = 'A'")
  expect_jq '(.offers | length) > 0 and ((.offers | map(.n) | add) | round) == $pn' \
    "[$label] the offers' observations add up to TB_POLICY's ($policy_n)" --argjson pn "${policy_n:-0}"
  expect_jq '.offers | [.[].value] as $v | $v == ($v | sort | reverse)' "[$label] offers are listed best value first"
  expect_jq '.offers | all(has("name"))' "[$label] offers carry their product names"
  expect_jq '[.features[].feature] == ["segment", "month", "half", "weekday"]
             and all(.features[]; (.values | length) > 0 and all(.values[]; (.best | length) <= 3))' \
    "[$label] best offers per part of the state"
  expect_jq '(.states | length) > 0 and all(.states[]; (.state | split("_") | length) == 4)' \
    "[$label] best offers per state"
  expect_jq '(.moved.time | length) == 60 and (.moved.offers | length) > 0
             and ([.moved.offers[].rewards | add] | add) <= $n
             and all(.moved.offers[]; (.value | map(select(. != null)) | length) > 0)' \
    "[$label] how the first-shown offers' reward moved" --argjson n $N
  expect_jq '.contextual == []' "[$label] no contextual version decides, so no feature weights"

  # --- episodes ---
  http GET "$u/console/api/episodes?limit=5" "${A[@]}"
  expect_status 200 "[$label] episodes?limit=5"
  local last
  last=$(sql "$db" "SELECT MAX(id) FROM tb_episodes WHERE company = 'A'")
  expect_jq '(.episodes | length) == 5 and .episodes[0].id == $last
             and ([.episodes[].id] | . == (sort | reverse))' "[$label] the five latest of A, newest first" --argjson last "$last"
  expect_jq 'all(.episodes[]; (.shown | length) == 3 and all(.shown[]; .propensity > 0 and .propensity <= 1)
             and (.explanation | length) == 3 and .reward != null and (.states | type) == "object"
             and .customer_id[0:1] == "a")' \
    "[$label] each has its states, three offers with propensities, an explanation and its reward"
  expect_jq '.eligibility_recorded == true and all(.episodes[]; (.eligibility.eligible | length) >= 3)' \
    "[$label] every episode shows the eligible set decide recorded"
  # The explanation computed now (agent_explain over the stored request,
  # the decision's version, the values now): per shown offer, in the shown
  # order, the policy's score and uncertainty, explored or not, and for this
  # tabular policy the state's value, which weighs as "state=<its state>".
  expect_jq 'all(.episodes[]; .explanation_now.as_of == "now" and .explanation_now.error == null
               and .explanation_now.policy == .policy
               and ([.explanation_now.offers[].offer] == [.shown[].offer])
               and (.state_key as $k | all(.explanation_now.offers[]; (.score | type) == "number"
                       and (.explored | type) == "boolean" and .uncertainty >= 0 and .count > 0
                       and .top_features[0].name == "state=" + $k and .top_features[0].weight == .value)))' \
    "[$label] each decision is explained now, slot by slot, in its own state"
  http GET "$u/console/api/episodes" "${A[@]}"
  expect_jq '(.episodes | length) == $n and .limit == 50' "[$label] the default limit is 50" --argjson n $N

  # An exclusion a rule made is shown with its reason.
  sql "$db" "UPDATE tb_episodes SET eligibility = '{\"eligible\":[\"OFFER_1\"],\"excluded\":[{\"offer\":\"OFFER_3\",\"why\":\"rule line 4\"}]}' WHERE id = $last" >/dev/null
  offerd_stop "$label"
  offerd_start "$label" "$db" --refresh 0.5
  u=${OFFERD_URL[$label]}
  http GET "$u/console/api/episodes?limit=2" "${A[@]}"
  expect_jq '.eligibility_recorded == true and .episodes[0].eligibility.excluded[0].why == "rule line 4"
             and (.episodes[1].eligibility.eligible | length) >= 3' "[$label] an exclusion is shown with its reason"
  offerd_stop "$label"
}

sqlite_new_db console db
run sqlite "$db"
pg_setup
pg_new_db console pgdb
run postgresql "$pgdb"
lib_done
