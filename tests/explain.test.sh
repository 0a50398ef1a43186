#!/usr/bin/env bash
# tests/explain.test.sh — POST /predict?explain=1 and /predict-v2?explain=1
# (issue 17.3) for every policy kind against a live offerd on SQLite: per
# shown offer a score, an uncertainty, whether the slot explored, and the
# features that weighed most (the state's value and count for a tabular
# policy; named context features from the ridge model for a contextual
# one, after it learned that OFFER_2 is accepted). Without explain the
# answer has exactly the fields it always had, in the same order, and no
# "explanation".
source "$(dirname "$0")/lib.sh"
lib_deadline 300

ctl=$build/offerctl
sqlite_new_db explain db
key=$(key_create "$db" A)
offerd_start one "$db" --refresh 0.2
u=${OFFERD_URL[one]}
hdr=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
body='{"customer_id":"c1","timestamp":"2022-03-07","states":{"age":40,"gender":"F","region":"Americas","client-since":"2019-10-21","last_offer":"OFFER_3"},"offers":{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true,"OFFER_4":true,"OFFER_5":true}}'

# use VERSION POLICY [OPTIONS]: releases and waits until offerd serves it.
use() {
  local i
  "$ctl" agent release "$1" --policy "$2" "${@:3}" --database-url "$db" >/dev/null ||
    die "offerctl agent release $1 --policy $2 failed"
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s "$u/is-alive" | jq -r '."agent-version"') == "$1-API" ]] && return 0
    sleep 0.1
  done
  die "offerd never served agent $1"
}

# learn N: N decisions in which the customer accepts OFFER_2 when shown.
learn() {
  local i e offers acc
  for ((i = 0; i < $1; i++)); do
    http POST "$u/predict" "${hdr[@]}" --data "$body"
    e=$(jq .episode_id <<<"$HTTP_BODY")
    offers=$(jq -c '."best-three-offers"' <<<"$HTTP_BODY")
    if [[ $offers == *OFFER_2* ]]; then acc=',"accepted_offer":"OFFER_2","accepted_one_of_the_three_offers":true'
    else acc=',"accepted_one_of_the_three_offers":false'; fi
    http PUT "$u/rewards" "${hdr[@]}" --data "{\"customer_id\":\"c1\",\"episode_id\":$e$acc}"
  done
  sleep 0.5 # the writer and the refresher
}

# check_common LABEL: the explanation of the last answer, whatever the policy.
check_common() {
  expect_jq '(."best-three-offers" | if type == "object" then keys_unsorted else . end) as $shown
    | ([.explanation[].offer] == $shown)
    and all(.explanation[]; (.score | type) == "number" and .uncertainty >= 0 and .uncertainty <= 0.5
      and (.explored | type) == "boolean" and (.top_features | type) == "array"
      and .propensity > 0 and .propensity <= 1)' "$1: one entry per shown offer, in slot order"
}

n=0
default_fields='["customer_id","response-date","best-three-offers","episode_id","agent-version","state"]'
for policy in weighted epsilon-greedy thompson ucb random; do
  use "1.0.$((++n))" "$policy"
  http POST "$u/predict" "${hdr[@]}" --data "$body"
  expect_jq "(keys_unsorted == $default_fields) and (has(\"explanation\") | not)" \
    "[$policy] /predict without explain: the fields it always had, in order"
  learn 30
  http POST "$u/predict?explain=1" "${hdr[@]}" --data "$body"
  expect_status 200 "[$policy] /predict?explain=1"
  check_common "[$policy]"
  case $policy in
    weighted)
      expect_jq 'all(.explanation[]; .top_features == [{"name": "brief weight", "weight": .score}]
        and .score > 0 and (has("count") | not))' "[$policy] the brief's weight of each offer" ;;
    random)
      expect_jq 'all(.explanation[]; .top_features == [] and .explored)' "[$policy] no reason: every slot explores" ;;
    *)
      expect_jq 'all(.explanation[]; (.count | type) == "number" and (.value | type) == "number"
        and (.top_features[0].name | startswith("state=")) and .top_features[0].weight == .value)' \
        "[$policy] tabular: the state's value and count"
      expect_jq '[.explanation[] | select(.offer == "OFFER_2") | .count] | all(. > 0)' \
        "[$policy] ... OFFER_2's count is what the rewards taught" ;;
  esac
done
use 1.1.0 epsilon-greedy --epsilon 0
http POST "$u/predict?explain=1" "${hdr[@]}" --data "$body"
expect_jq '.explanation[0].offer == "OFFER_2" and (.explanation[0].explored | not)
  and .explanation[0].value > 0' "[greedy] OFFER_2 first, exploited, its value positive"

for policy in linear-ts squarecb; do
  use "2.0.$((++n))" "$policy"
  learn 40
  http POST "$u/predict-v2?explain=true" "${hdr[@]}" --data "$body"
  expect_status 200 "[$policy] /predict-v2?explain=true"
  check_common "[$policy]"
  expect_jq '[.explanation[] | select(.offer == "OFFER_2")] | length == 1 and (.[0] | .score > 0.6
    and (.top_features | length) > 0 and all(.top_features[]; (.name | type) == "string"))' \
    "[$policy] OFFER_2, learned, scores above 0.6 with its features named"
  expect_jq '[.explanation[] | select(.offer == "OFFER_2") | .top_features[].name]
    | any(. == "bias" or . == "gender=F" or . == "region=americas" or . == "region=Americas" or startswith("age"))' \
    "[$policy] ... among them the customer's own features"
  expect_jq '(.explanation[0].top_features | map(.weight | fabs)) as $w | $w == ($w | sort | reverse)' \
    "[$policy] ... the heaviest first"
  expect_jq 'all(.explanation[]; has("count") | not)' "[$policy] contextual: no state count"
  http POST "$u/predict-v2" "${hdr[@]}" --data "$body"
  expect_jq 'has("explanation") | not' "[$policy] /predict-v2 without explain: no explanation"
done

http POST "$u/predict?explain=yes" "${hdr[@]}" --data "$body"
expect_status 400 "explain=yes: 400"
expect_jq '.field == "explain"' "... naming explain"
http POST "$u/predict?explain=0" "${hdr[@]}" --data "$body"
expect_jq 'has("explanation") | not' "explain=0: no explanation"
offerd_stop one
lib_done
