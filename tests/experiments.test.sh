#!/usr/bin/env bash
# Champion/challenger (issue 17.1) through HTTP, two offerd on one PostgreSQL
# (--refresh 0.2, API keys on):
#  1. `offerctl agent release 2.0.0 --policy squarecb --traffic 10`: 1,000
#     customers each asked on process 1, process 2 and process 1 again get one
#     version every time (sticky across requests and processes), the
#     challenger's share is within 4 points of 10% (the cmocka test checks 2
#     points over 10,000), and every episode's version is the one served.
#  2. Rewards: GET /experiments (admin key) reports per arm the decisions and
#     rewards the database holds, acceptance with its Wilson interval and
#     p_better; /metrics on both processes has the experiment's gauges; a
#     client key gets 403 on all three /experiments paths.
#  3. POST /experiments/rollback: every customer gets the champion again, on
#     both processes.
#  4. `--shadow`: every episode is served by the champion, none by the shadow,
#     and each carries the shadow's slate; `offerctl agent promote` makes it
#     the champion.
#  5. POST /experiments/promote with a version that is not the challenger is a
#     409, with an unknown field a 422 naming it; with the challenger, 200 and
#     both processes serve it; offerctl agent rollback without a challenger
#     exits 2.
#  6. A contextual challenger learns across processes: squarecb on 100% of the
#     customers (a fresh database, --auth off), rewards sent to process 3 only;
#     process 4, which never decided for the company before, then shows the
#     learned OFFER_7 in >= 90 of 100 answers (its refresher loads the
#     challenger's models, not only the champion's).
source "$(dirname "$0")/lib.sh"
lib_require curl jq python3
lib_deadline "${OFFERD_TEST_DEADLINE:-240}"
[[ -x $build/offerd && -x $build/offerctl ]] || die "$build/offerd or offerctl is not built (make build)"
ctl=$build/offerctl

pg_setup
pg_new_db exp db
admin=$(key_create "$db" A admin)
client=$(key_create "$db" A)

out=$(timeout 30 "$ctl" agent release 2.0.0 --policy squarecb --traffic 10 --database-url "$db" 2>&1)
expect_eq "$?" 0 "offerctl agent release 2.0.0 --policy squarecb --traffic 10"
[[ $out == *"challenger of 1.0.0 for 10%"* ]] && ok "it says it is the challenger of 1.0.0" || fail "release said: $out"
out=$(timeout 30 "$ctl" agent status --database-url "$db" 2>&1)
expect_eq "$(awk 'NR > 1 { print $1, $2, $3, $4 }' <<<"$out" | tr '\n' ' ')" \
  "champion 1.0.0 epsilon-greedy 90% challenger 2.0.0 squarecb 10% " "offerctl agent status shows both arms"
offerd_start p1 "$db" --refresh 0.2
offerd_start p2 "$db" --refresh 0.2
u1=${OFFERD_URL[p1]}
u2=${OFFERD_URL[p2]}

# Asks each customer FROM..TO-1 on every URL given, in order, over keep-alive
# connections; prints "customer version version ..." per customer. With
# REWARD=1, rewards each customer's last episode (accepted for every third).
ask() {
  python3 - "$client" "$@" <<'PY'
import http.client, json, os, sys
key, first, last, urls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
conns = [http.client.HTTPConnection(u.split("//")[1], timeout=10) for u in urls]
hdr = {"Content-Type": "application/json", "X-API-Key": key}
def call(c, method, path, body):
    c.request(method, path, json.dumps(body), hdr)
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return json.loads(data)
for i in range(first, last):
    cid = "cust-%d" % i
    req = {"customer_id": cid, "timestamp": "2022-01-01",
           "states": {"age": 30 + i % 40, "gender": "MF"[i % 2], "region": "Europa",
                      "client-since": "2020-01-01", "last_offer": "OFFER_1"},
           "offers": {"OFFER_%d" % k: True for k in range(1, 7)}}
    versions = [call(c, "POST", "/predict", req)["agent-version"] for c in conns]
    if os.environ.get("REWARD") == "1":
        call(conns[-1], "PUT", "/rewards", {"customer_id": cid,
             "accepted_one_of_the_three_offers": i % 3 == 0})
    print(cid, *versions)
PY
}

# Polls GET /experiments on URL until jq EXPR holds (5 s at most).
wait_experiments() {
  local url=$1 expr=$2 i
  for i in $(seq 1 50); do
    http GET "$url/experiments" -H "X-API-Key: $admin"
    [[ $HTTP_STATUS == 200 ]] && jq -e "$expr" <<<"$HTTP_BODY" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# --- 1. the split is sticky and near its share ------------------------------------------
for u in "$u1" "$u2"; do
  wait_experiments "$u" '.arms | length == 2 and .[1].version == "2.0.0" and .[1].traffic == 10' ||
    fail "$u/experiments should show 2.0.0 as a 10% challenger: $HTTP_BODY"
done
ask 0 1000 "$u1" "$u2" "$u1" >"$LIB_TMP/split.txt" || fail "the split requests failed"
expect_eq "$(wc -l <"$LIB_TMP/split.txt")" 1000 "1,000 customers asked, each three times"
expect_eq "$(awk '$2 != $3 || $2 != $4' "$LIB_TMP/split.txt" | wc -l)" 0 \
  "each customer got one version on process 1, process 2 and process 1 again"
expect_eq "$(awk '$2 != "1.0.0" && $2 != "2.0.0"' "$LIB_TMP/split.txt" | wc -l)" 0 \
  "only the champion 1.0.0 and the challenger 2.0.0 serve"
chal=$(awk '$2 == "2.0.0"' "$LIB_TMP/split.txt" | wc -l)
if ((chal >= 60 && chal <= 140)); then
  ok "the challenger served $chal of 1,000 customers (10% within 4 points)"
else
  fail "the challenger served $chal of 1,000 customers; want 60..140"
fi
expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE agent_version = '2.0.0'")" $((chal * 3)) \
  "tb_episodes holds 3 episodes of 2.0.0 per challenger customer"
expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE policy = 'squarecb'")" $((chal * 3)) \
  "and they were decided by squarecb"

# --- 2. rewards, /experiments, /metrics, 403 ---------------------------------------------
REWARD=1 ask 1000 1600 "$u2" >"$LIB_TMP/rewarded.txt" || fail "the rewarded requests failed"
want=$(sql "$db" "SELECT e.agent_version || ':' || COUNT(*) || ':' || COUNT(r.id) || ':' ||
  SUM(CASE WHEN r.accepted_offer THEN 1 ELSE 0 END) FROM tb_episodes e
  LEFT JOIN tb_rewards r ON r.episode_id = e.id GROUP BY e.agent_version ORDER BY 1" | tr '\n' ' ')
note "the database: version:decisions:rewards:accepted = $want"
expr='[.arms[] | "\(.version):\(.decisions):\(.rewards)"] | join(" ")'
got=
for i in $(seq 1 100); do
  http GET "$u1/experiments" -H "Authorization: Bearer $admin"
  got=$(jq -r "$expr" <<<"$HTTP_BODY" 2>/dev/null)
  [[ "$got " == "$(sed -E 's/:[0-9]+ / /g' <<<"$want")" ]] && break
  sleep 0.2
done
expect_eq "$got " "$(sed -E 's/:[0-9]+ / /g' <<<"$want")" \
  "GET /experiments reports the decisions and rewards the database holds, per version"
expect_jq '.company == "A" and (.arms | map(.role) == ["champion", "challenger"])' "arms: champion then challenger"
expect_jq '.arms[0].traffic == 90 and .arms[1].traffic == 10' "traffic 90 and 10"
expect_jq '.arms | all(.acceptance >= .ci95[0] and .acceptance <= .ci95[1] and .ci95[0] >= 0 and .ci95[1] <= 1)' \
  "each acceptance lies inside its 95% interval"
expect_jq '.arms[0].p_better == null and (.arms[1].p_better | type == "number" and . >= 0 and . <= 1)' \
  "p_better: null for the champion, a probability for the challenger"
acc=$(sql "$db" "SELECT ROUND(CAST(SUM(CASE WHEN r.accepted_offer THEN 1 ELSE 0 END) AS NUMERIC) / COUNT(*), 4)
  FROM tb_episodes e JOIN tb_rewards r ON r.episode_id = e.id WHERE e.agent_version = '1.0.0'")
expect_jq "(.arms[0].acceptance * 10000 | round) == ($acc * 10000 | round)" "the champion's acceptance is accepted/rewards ($acc)"
for u in "$u1" "$u2"; do
  http GET "$u/metrics" -H "X-API-Key: $admin"
  for m in traffic_percent decisions rewards acceptance acceptance_ci95_low acceptance_ci95_high; do
    grep -q "^offerd_experiment_${m}{company=\"A\",version=\"2.0.0\",arm=\"challenger\"} " <<<"$HTTP_BODY" ||
      fail "$u/metrics lacks offerd_experiment_${m} of A's challenger"
  done
  grep -q '^offerd_experiment_p_better{company="A",version="2.0.0",arm="challenger"} ' <<<"$HTTP_BODY" &&
    ok "$u/metrics has the experiment's gauges and p_better" || fail "$u/metrics lacks p_better"
done
http GET "$u1/experiments" -H "X-API-Key: $client"
expect_status 403 "GET /experiments with a client key"
http POST "$u1/experiments/promote" -H "X-API-Key: $client" -H 'Content-Type: application/json' -d '{"version":"2.0.0"}'
expect_status 403 "POST /experiments/promote with a client key"
http POST "$u1/experiments/rollback" -H "X-API-Key: $client" -H 'Content-Type: application/json' -d '{}'
expect_status 403 "POST /experiments/rollback with a client key"
http GET "$u1/experiments"
expect_status 401 "GET /experiments without a key"

# --- 3. rollback over REST ----------------------------------------------------------------
http POST "$u1/experiments/rollback" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{}'
expect_status 200 "POST /experiments/rollback"
expect_jq '.arms | length == 1 and .[0].version == "1.0.0" and .[0].traffic == 100' "the champion alone, 100%"
wait_experiments "$u2" '.arms | length == 1' || fail "process 2 should see the rollback"
ask 0 300 "$u1" "$u2" >"$LIB_TMP/rolled.txt" || fail "requests after the rollback failed"
expect_eq "$(awk '$2 != "1.0.0" || $3 != "1.0.0"' "$LIB_TMP/rolled.txt" | wc -l)" 0 \
  "after the rollback every customer gets 1.0.0 on both processes"

# --- 4. a shadow never serves -------------------------------------------------------------
before=$(sql "$db" "SELECT COALESCE(MAX(id), 0) FROM tb_episodes")
out=$(timeout 30 "$ctl" agent release 3.0.0 --policy random --shadow --database-url "$db" 2>&1)
expect_eq "$?" 0 "offerctl agent release 3.0.0 --policy random --shadow"
for u in "$u1" "$u2"; do
  wait_experiments "$u" '.arms | length == 2 and .[1].role == "shadow" and .[1].traffic == 0 and .[0].traffic == 100' ||
    fail "$u/experiments should show 3.0.0 as a shadow: $HTTP_BODY"
done
ask 0 200 "$u1" "$u2" >"$LIB_TMP/shadow.txt" || fail "requests with a shadow failed"
expect_eq "$(awk '$2 != "1.0.0" || $3 != "1.0.0"' "$LIB_TMP/shadow.txt" | wc -l)" 0 \
  "with a shadow every customer is served by the champion"
expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE agent_version = '3.0.0'")" 0 \
  "no episode was served by the shadow"
expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes WHERE id > $before AND agent_version <> '3.0.0'
  AND shadow LIKE '{\"version\":\"3.0.0\",\"policy\":\"random\",\"offers\":[%' AND shadow LIKE '%\"propensities\":[%'")" 400 \
  "each of the 400 episodes carries the shadow's slate and propensities"
http GET "$u1/experiments" -H "X-API-Key: $admin"
wait_experiments "$u1" '.arms[1].decisions == 400 and .arms[1].rewards == 0' ||
  fail "the shadow's arm should count its 400 logged slates and no reward: $HTTP_BODY"
out=$(timeout 30 "$ctl" agent promote --database-url "$db" 2>&1)
expect_eq "$?" 0 "offerctl agent promote (the shadow)"
for u in "$u1" "$u2"; do
  wait_experiments "$u" '.arms | length == 1 and .[0].version == "3.0.0"' ||
    fail "$u should serve 3.0.0 after the promote: $HTTP_BODY"
done
ask 0 50 "$u1" "$u2" >"$LIB_TMP/promoted.txt" || fail "requests after the promote failed"
expect_eq "$(awk '$2 != "3.0.0" || $3 != "3.0.0"' "$LIB_TMP/promoted.txt" | wc -l)" 0 \
  "after offerctl agent promote every customer gets 3.0.0"

# --- 5. promote over REST -----------------------------------------------------------------
out=$(timeout 30 "$ctl" agent release 4.0.0 --policy thompson --traffic 50 --database-url "$db" 2>&1)
expect_eq "$?" 0 "offerctl agent release 4.0.0 --traffic 50"
wait_experiments "$u1" '.arms | length == 2 and .[1].version == "4.0.0"' || fail "process 1 should see 4.0.0"
http POST "$u1/experiments/promote" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{"version":"2.0.0"}'
expect_status 409 "promote of a version that is not the challenger"
expect_jq '.field == "version" and (.message | test("challenger is 4.0.0"))' "the 409 names the challenger"
http POST "$u1/experiments/promote" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{"versoin":"4.0.0"}'
expect_status 422 "promote with a misspelt field"
expect_jq '.field == "versoin"' "the 422 names the field"
http POST "$u1/experiments/promote" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{"version":4}'
expect_status 422 "promote with a version that is not a string"
http POST "$u1/experiments/promote" -H "X-API-Key: $admin" -H 'Content-Type: application/json' \
  -d '{"version":"2.0.0","version":"4.0.0"}'
expect_status 400 "promote with \"version\" twice (never the last one silently)"
http POST "$u1/experiments/promote" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{"version":"4.0.0"}'
expect_status 200 "POST /experiments/promote {\"version\":\"4.0.0\"}"
expect_jq '.arms | length == 1 and .[0].version == "4.0.0" and .[0].role == "champion" and .[0].traffic == 100' \
  "the answer shows 4.0.0 as the champion"
wait_experiments "$u2" '.arms | length == 1 and .[0].version == "4.0.0"' || fail "process 2 should see the promote"
ask 0 50 "$u2" "$u1" >"$LIB_TMP/rest-promoted.txt" || fail "requests after the REST promote failed"
expect_eq "$(awk '$2 != "4.0.0" || $3 != "4.0.0"' "$LIB_TMP/rest-promoted.txt" | wc -l)" 0 \
  "after POST /experiments/promote every customer gets 4.0.0 on both processes"
timeout 30 "$ctl" agent rollback --database-url "$db" >/dev/null 2>"$LIB_TMP/rollback.err"
expect_eq "$?" 2 "offerctl agent rollback without a challenger exits 2"
grep -q "no challenger" "$LIB_TMP/rollback.err" && ok "and says there is no challenger" ||
  fail "the refusal should say there is no challenger: $(cat "$LIB_TMP/rollback.err")"
expect_eq "$(sql "$db" "SELECT string_agg(action || ':' || champion || ':' || COALESCE(challenger, '-'), ' ' ORDER BY id) FROM tb_experiments")" \
  "release:1.0.0:2.0.0 rollback:1.0.0:- release:1.0.0:3.0.0 promote:3.0.0:- release:3.0.0:4.0.0 promote:4.0.0:-" \
  "tb_experiments holds each change in order"

offerd_stop p1
offerd_stop p2

# --- 6. a contextual challenger's learning reaches the other process ----------------------
source "$(dirname "$0")/learn_lib.sh"
pg_new_db exp_ctx db2
timeout 30 "$ctl" agent release 2.0.0 --policy squarecb --traffic 100 --database-url "$db2" >/dev/null ||
  fail "offerctl agent release 2.0.0 --policy squarecb --traffic 100"
offerd_start p3 "$db2" --auth off --refresh 0.2
offerd_start p4 "$db2" --auth off --refresh 0.2
kc_open p3 "${OFFERD_URL[p3]}" || die "cannot connect to offerd p3"
kc_open p4 "${OFFERD_URL[p4]}" || die "cannot connect to offerd p4"
train p3 "$ROUNDS"
note "process 3 showed OFFER_7 in $SHOWN7 of $ROUNDS rounds"
sleep 1
rate p4 "$S1_BODY" "$CHECK"
if [[ $RATE -ge $NEED ]]; then
  ok "process 4 shows OFFER_7 in $RATE of $CHECK answers after the challenger learned on process 3"
else
  fail "process 4 shows OFFER_7 in $RATE of $CHECK answers (want >= $NEED): it did not load the challenger's model"
fi
expect_eq "$(sql "$db2" "SELECT agent_version || ':' || policy || ':' || COUNT(*) FROM tb_episodes GROUP BY agent_version, policy")" \
  "2.0.0:squarecb:$((ROUNDS + CHECK))" "every episode was served by the challenger 2.0.0 (squarecb)"
offerd_stop p3
offerd_stop p4
lib_done
