#!/usr/bin/env bash
# tests/evaluations.test.sh — POST /evaluations and GET /evaluations[/{id}]
# (issue 17.2) against live offerd processes on one PostgreSQL: the results
# over REST equal `offerctl evaluate --json`'s for the same episodes and
# policies (the same numbers), progress reaches 1, a second process answers
# GET for a job the first ran, bad bodies are 400s naming the field, a
# client key gets 403, a job whose process stopped beating is failed, and
# more jobs than a process queues get 503. Then on SQLite: the same
# equality for one policy.
source "$(dirname "$0")/lib.sh"
lib_deadline 600

ctl=$build/offerctl
company=sim-epsilon-greedy

# wait_done URL KEY ID: polls GET /evaluations/ID until done or failed (60 s); the last answer stays.
wait_done() {
  local i
  for ((i = 0; i < 600; i++)); do
    http GET "$1/evaluations/$3" -H "Authorization: Bearer $2"
    [[ $HTTP_STATUS == 200 ]] || return 1
    [[ $(jq -r .status <<<"$HTTP_BODY") == done || $(jq -r .status <<<"$HTTP_BODY") == failed ]] && return 0
    sleep 0.1
  done
  return 1
}

# same_as_cli LABEL INDEX ARGS...: result INDEX of the last answer equals offerctl evaluate --json ARGS's.
same_as_cli() {
  local label=$1 idx=$2 rest cli
  shift 2
  rest=$(jq -S ".results[$idx]" <<<"$HTTP_BODY")
  cli=$("$ctl" evaluate --json --company "$company" "$@" | jq -S '.results[0]')
  if [[ -n $cli && $rest == "$cli" ]]; then
    ok "$label: REST's results equal offerctl evaluate's ($(jq -r '.estimates.ips.value' <<<"$cli" | cut -c1-8) IPS, $(jq -r .episodes <<<"$cli") episodes)"
  else
    fail "$label: REST and offerctl evaluate differ"
    diff <(echo "$rest") <(echo "$cli") | head -20
  fi
}

# --- PostgreSQL, two processes ------------------------------------------------------
pg_setup
pg_new_db evals db
"$ctl" simulate --policy epsilon-greedy --episodes 3000 --database-url "$db" --quiet >/dev/null ||
  die "offerctl simulate failed"
admin=$(key_create "$db" "$company" admin)
client=$(key_create "$db" "$company")
other=$(key_create "$db" B admin)
offerd_start one "$db"
offerd_start two "$db"
u1=${OFFERD_URL[one]}
u2=${OFFERD_URL[two]}
auth=(-H "Authorization: Bearer $admin" -H 'Content-Type: application/json')

body='{"policies":[{"name":"greedy"},{"name":"epsilon-greedy","params":{"epsilon":0.2}},
  {"name":"squarecb","params":{"gamma_scale":100}},{"name":"ucb"}],"from":"2000-01-01","to":"2999-12-31"}'
http POST "$u1/evaluations" "${auth[@]}" --data "$body"
expect_status 202 "POST /evaluations on process one"
expect_jq '.status == "queued" and (.id | test("^[0-9a-f]{32}$"))' "... answers the job's id, queued"
id=$(jq -r .id <<<"$HTTP_BODY")
expect_header Location "/evaluations/$id" "... and its Location"
if wait_done "$u2" "$admin" "$id"; then
  ok "process two sees the job process one runs, to its end"
else
  fail "process two never saw job $id done"
  lib_show_answer
fi
expect_jq '.status == "done" and .progress == 1 and (.results | length) == 4 and .finished != null' \
  "... done, progress 1, four results"
expect_jq '.results[0].estimates | (.ips.value | type) == "number" and (.ips.ci95 | length) == 2
  and (.snips.ci95 | length) == 2 and (.dr.ci95 | length) == 2' "... IPS, SNIPS and DR with 95% intervals"
expect_jq '.request.policies[1].params.epsilon == 0.2 and .episodes.used == 3000' "... the request and the episodes used"
same_as_cli "greedy" 0 --policy greedy --from 2000-01-01 --to 2999-12-31 --database-url "$db"
same_as_cli "epsilon-greedy 0.2" 1 --policy epsilon-greedy --epsilon 0.2 --from 2000-01-01 --to 2999-12-31 --database-url "$db"
same_as_cli "squarecb (replayed)" 2 --policy squarecb --params '{"gamma_scale":100}' --from 2000-01-01 --to 2999-12-31 --database-url "$db"
same_as_cli "ucb" 3 --policy ucb --from 2000-01-01 --to 2999-12-31 --database-url "$db"

http GET "$u1/evaluations" -H "Authorization: Bearer $admin"
expect_status 200 "GET /evaluations"
expect_jq "[.evaluations[].id] | index(\"$id\") != null" "... lists the job"
http GET "$u1/evaluations" -H "Authorization: Bearer $other"
expect_jq '.evaluations | length == 0' "another company's admin key sees none of them"
http GET "$u1/evaluations/$id" -H "Authorization: Bearer $other"
expect_status 404 "... nor the job itself"

# A window with no episode: done, no estimate, not a failure.
http POST "$u1/evaluations" "${auth[@]}" --data '{"policies":[{"name":"random"}],"to":"2001-01-01"}'
expect_status 202 "an evaluation of a window without episodes"
wait_done "$u1" "$admin" "$(jq -r .id <<<"$HTTP_BODY")"
expect_jq '.status == "done" and .episodes.used == 0 and .results[0].episodes == 0' "... is done over 0 episodes"

# Roles.
http POST "$u1/evaluations" -H "Authorization: Bearer $client" -H 'Content-Type: application/json' --data "$body"
expect_status 403 "a client key cannot start an evaluation"
http GET "$u1/evaluations/$id" -H "Authorization: Bearer $client"
expect_status 403 "... nor read one"
http GET "$u1/evaluations"
expect_status 401 "no key: 401"

# Bad bodies: 422 naming the field (400 when not JSON at all).
bad() { # BODY FIELD [STATUS]
  http POST "$u1/evaluations" "${auth[@]}" --data "$1"
  if [[ $HTTP_STATUS == "${3:-422}" && $(jq -r .field <<<"$HTTP_BODY") == "$2" ]]; then
    ok "$HTTP_STATUS naming $2: $(jq -r .message <<<"$HTTP_BODY")"
  else
    fail "body $1: expected ${3:-422} naming $2"
    lib_show_answer
  fi
}
bad 'not json' null 400 # a body that is not JSON is no single field's fault: no field
bad '{}' policies
bad '{"policies":[]}' policies
bad '{"policies":[{"name":"nope"}]}' 'policies[0].name'
bad '{"policies":[{"name":"greedy"},{"params":{}}]}' 'policies[1].name'
bad '{"policies":[{"name":"squarecb","params":{"bogus":1}}]}' 'policies[0].params'
bad '{"policies":[{"name":"epsilon-greedy","params":{"epsilon":2}}]}' 'policies[0].params'
bad '{"policies":[{"name":"greedy","weight":1}]}' 'policies[0].weight'
bad '{"policies":[{"name":"greedy"}],"from":"2026-13-01"}' from
bad '{"policies":[{"name":"greedy"}],"from":"2026-02-01","to":"2026-01-01"}' to
bad '{"policies":[{"name":"greedy"}],"window":1}' window
http GET "$u1/evaluations/0123456789abcdef0123456789abcdef" -H "Authorization: Bearer $admin"
expect_status 404 "an unknown job: 404"

# A job whose process died: no heartbeat for a minute, failed on the next read.
sql "$db" "INSERT INTO tb_evaluations (id, company, status, progress, request, owner, heartbeat, created_at)
  VALUES ('dead0000dead0000dead0000dead0000', '$company', 'running', 0.3, '{\"policies\":[]}', 'gone',
  $(($(date +%s) - 120)), '2026-01-01T00:00:00Z')" >/dev/null
http GET "$u2/evaluations/dead0000dead0000dead0000dead0000" -H "Authorization: Bearer $admin"
expect_jq '.status == "failed" and (.error | test("stopped"))' "a job not heard of for 120 s is failed"

# The queue: one job runs, EVAL_QUEUE_MAX - 1 wait, the next is refused.
slow='{"policies":['$(printf '{"name":"squarecb","params":{"gamma_scale":%d}},' 10 20 30 40 50 60 70 80 90 100 110)'{"name":"linear-ts"}]}'
codes=
for i in 1 2 3 4 5 6; do
  http POST "$u1/evaluations" "${auth[@]}" --data "$slow"
  codes+="$HTTP_STATUS "
done
[[ $codes == "202 202 202 202 503 503 " ]] &&
  ok "four jobs are taken per process, the fifth and sixth get 503 ($codes)" ||
  fail "queue of four: statuses $codes"
expect_header Retry-After 1 "... with Retry-After"
http POST "$u2/evaluations" "${auth[@]}" --data '{"policies":[{"name":"random"}]}'
expect_status 202 "... while process two still takes one"
# Decisions are not held up meanwhile.
t0=$EPOCHREALTIME
http POST "$u1/predict" -H "Authorization: Bearer $client" -H 'Content-Type: application/json' \
  --data '{"customer_id":"c1","timestamp":"2022-03-07","states":{"age":40,"gender":"F","region":"Americas"},"offers":{"OFFER_1":true,"OFFER_2":true}}'
expect_status 200 "POST /predict while evaluations run ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }'))"
offerd_stop one
offerd_stop two
n=$(sql "$db" "SELECT COUNT(*) FROM tb_evaluations WHERE status IN ('queued', 'running')")
[[ $n == 0 ]] && ok "a stopped offerd leaves no job queued or running (failed at once)" ||
  fail "$n jobs still queued or running after both processes stopped"

# --- SQLite, one process ---------------------------------------------------------------
sqlite_new_db evals sdb
"$ctl" simulate --policy epsilon-greedy --episodes 1000 --database-url "$sdb" --quiet >/dev/null ||
  die "offerctl simulate (SQLite) failed"
admin=$(key_create "$sdb" "$company" admin)
offerd_start lite "$sdb"
http POST "${OFFERD_URL[lite]}/evaluations" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' --data '{"policies":[{"name":"thompson"}]}'
expect_status 202 "[sqlite] POST /evaluations"
wait_done "${OFFERD_URL[lite]}" "$admin" "$(jq -r .id <<<"$HTTP_BODY")"
expect_jq '.status == "done" and .progress == 1' "[sqlite] done"
same_as_cli "[sqlite] thompson" 0 --policy thompson --database-url "$sdb"
offerd_stop lite

lib_done
