#!/usr/bin/env bash
# Export of the decision log (issue 16.5), on SQLite and PostgreSQL:
# - episodes made through /predict and rewarded through /rewards come out of
#   `offerctl export` as DSJSON lines whose fields Vowpal Wabbit's --dsjson
#   and Personalizer's tools read, each checked against the database
#   (tests/export_check.py), and as a CSV read back with python3's csv and
#   compared to the database slot by slot;
# - GET /export gives the same bytes to an admin key, 403 to a client key,
#   400 for a bad date or format; --from/--to select by write time;
# - 200,000 episodes export with bounded memory: offerctl's max RSS (from
#   /usr/bin/time -v) within a few MiB of a 2,000-episode export's, and
#   offerd's peak RSS barely moves over an HTTP export of them.
source "$(dirname "$0")/lib.sh"
# make test-asan: ASan keeps freed memory in quarantine, so RSS says nothing there.
# (No `ldd | grep -q`: under pipefail grep's early exit can SIGPIPE ldd and
# make the pipeline fail even though libasan was found.)
asan=0
[[ $(ldd "$build/offerctl" 2>/dev/null) == *libasan* ]] && asan=1
lib_require curl jq python3 /usr/bin/time
lib_deadline 300
pg_setup

BIG=${OFFERD_EXPORT_BIG:-200000}
req() { # CUSTOMER: a /predict body
  printf '{"customer_id":"%s","timestamp":"2022-03-0%d","states":{"age":%d,"gender":"F","region":"Europa","client-since":"2019-05-01"},"offers":{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true,"OFFER_4":true,"OFFER_5":%s}}' \
    "$1" $((${1#c} % 9 + 1)) $((20 + ${1#c} % 50)) "$([[ $((${1#c} % 4)) == 0 ]] && echo false || echo true)"
}
db_rows() { # DB: the export's source rows for export_check.py
  sql "$1" "SELECT e.id, e.customer_id, e.predicted_offer_1, COALESCE(e.predicted_offer_2, ''),
      COALESCE(e.predicted_offer_3, ''), e.propensity_1, e.propensity_2, e.propensity_3,
      CASE WHEN r.id IS NULL THEN 0 ELSE 1 END, r.reward_1, r.reward_2, r.reward_3, e.states
    FROM tb_episodes e LEFT JOIN tb_rewards r ON r.episode_id = e.id
    WHERE e.company = 'A' ORDER BY e.id"
}
max_rss_kb() { grep 'Maximum resident set size' "$1" | tr -dc '0-9'; }

one_store() {
  local store=$1 db=$2 u admin client i out n
  admin=$(key_create "$db" A admin)
  client=$(key_create "$db" A)
  offerd_start "$store" "$db"
  u=${OFFERD_URL[$store]}
  for ((i = 1; i <= 60; i++)); do
    http POST "$u/predict" -H "Authorization: Bearer $client" -H 'Content-Type: application/json' -d "$(req "c$i")"
    [[ $HTTP_STATUS == 200 ]] || { fail "$store: /predict c$i answered $HTTP_STATUS: $HTTP_BODY"; break; }
  done
  for ((i = 1; i <= 60; i += 3)); do
    http PUT "$u/rewards" -H "Authorization: Bearer $client" -H 'Content-Type: application/json' \
      -d "{\"customer_id\":\"c$i\",\"timestamp\":\"2022-03-10\",\"accepted_one_of_the_three_offers\":$([[ $((i % 2)) == 1 ]] && echo true || echo false)}"
    [[ $HTTP_STATUS == 200 ]] || { fail "$store: /rewards c$i answered $HTTP_STATUS: $HTTP_BODY"; break; }
  done
  # One episode of another company, which A's export must not show.
  http POST "$u/predict" -H "Authorization: Bearer $(key_create "$db" B)" -H 'Content-Type: application/json' -d "$(req c999)"
  sleep 0.3
  db_rows "$db" >"$LIB_TMP/$store.rows"
  expect_eq "$(wc -l <"$LIB_TMP/$store.rows")" 60 "$store: 60 episodes of A in the database"

  "$build/offerctl" export --company A --format dsjson -o "$LIB_TMP/$store.dsjson" --database-url "$db"
  expect_eq "$?" 0 "$store: offerctl export --format dsjson exits 0"
  out=$(python3 tests/export_check.py dsjson "$LIB_TMP/$store.dsjson" "$LIB_TMP/$store.rows")
  expect_eq "$?" 0 "$store: every DSJSON line has the format's fields and the database's values ($out)"
  "$build/offerctl" export --company A --format csv -o "$LIB_TMP/$store.csv" --database-url "$db"
  out=$(python3 tests/export_check.py csv "$LIB_TMP/$store.csv" "$LIB_TMP/$store.rows")
  expect_eq "$?" 0 "$store: the CSV read back equals the database, slot by slot ($out)"
  n=$(grep -c '"o":\[{"v":' "$LIB_TMP/$store.dsjson")
  expect_eq "$n" 20 "$store: the 20 rewarded episodes carry an outcome (o)"

  # HTTP: the same bytes, for admin keys only.
  curl -sS --max-time 30 -o "$LIB_TMP/$store.http.dsjson" -H "Authorization: Bearer $admin" "$u/export?format=dsjson"
  cmp -s "$LIB_TMP/$store.http.dsjson" "$LIB_TMP/$store.dsjson" &&
    ok "$store: GET /export?format=dsjson is byte for byte offerctl's" ||
    fail "$store: GET /export (dsjson) differs from offerctl export"
  curl -sS --max-time 30 -o "$LIB_TMP/$store.http.csv" -H "X-API-Key: $admin" "$u/export?format=csv&from=2000-01-01&to=9999-12-30"
  cmp -s "$LIB_TMP/$store.http.csv" "$LIB_TMP/$store.csv" &&
    ok "$store: GET /export?format=csv with a wide range is byte for byte offerctl's" ||
    fail "$store: GET /export (csv) differs from offerctl export"
  http GET "$u/export" -H "Authorization: Bearer $client"
  expect_status 403 "$store: a client key may not export"
  http GET "$u/export"
  expect_status 401 "$store: no key, no export"
  http GET "$u/export?from=2022-02-30" -H "Authorization: Bearer $admin"
  expect_status 400 "$store: from=2022-02-30"
  expect_jq '.field == "from"' "$store: the 400 names from"
  http GET "$u/export?format=parquet" -H "Authorization: Bearer $admin"
  expect_status 400 "$store: format=parquet"
  http GET "$u/export?from=2022-01-05&to=2022-01-01" -H "Authorization: Bearer $admin"
  expect_status 400 "$store: from after to"

  # The range is the write time, both days included.
  sql "$db" "UPDATE tb_episodes SET last_update = '2020-01-05T23:59:59.999Z' WHERE id IN (1, 2)" >/dev/null
  sql "$db" "UPDATE tb_episodes SET last_update = '2020-01-06T00:00:00.000Z' WHERE id = 3" >/dev/null
  out=$("$build/offerctl" export --company A --from 2020-01-01 --to 2020-01-05 --database-url "$db" | jq -r .EventId | tr '\n' ' ')
  expect_eq "$out" "1 2 " "$store: --from 2020-01-01 --to 2020-01-05 gives the episodes written those days"
  http GET "$u/export?from=2020-01-06&to=2020-01-06" -H "Authorization: Bearer $admin"
  expect_eq "$(jq -r .EventId <<<"$HTTP_BODY" | tr '\n' ' ')" "3 " "$store: GET /export?from=2020-01-06&to=2020-01-06 gives episode 3"
  out=$("$build/offerctl" export --company A --progress --format csv -o /dev/null --database-url "$db" 2>&1)
  [[ $out == *'['*'100%'*'60/60 episodes'* ]] && ok "$store: --progress draws a bar to 100% on stderr" ||
    fail "$store: --progress drew: ${out:0:200}"
  "$build/offerctl" export --company A --format xml --database-url "$db" >/dev/null 2>&1
  expect_eq "$?" 2 "$store: --format xml is a usage error"

  # Many episodes, bounded memory: 2,000 then $BIG more, written by SQL.
  seed() { # DB FIRST LAST
    sql "$1" "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
      INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1, predicted_offer_2,
        predicted_offer_3, propensity_1, propensity_2, propensity_3, request_timestamp, state_key,
        policy, agent_version)
      SELECT 'A', 'big' || i, '{\"age\": 30, \"gender\": \"M\", \"region\": \"Europa\", \"n\": ' || i || '}',
        'OFFER_1', 'OFFER_2', 'OFFER_3', 0.25, 0.5, 1, '2022-01-01', 'Europa-M-30_January_0_Saturday',
        'epsilon-greedy', '1.0.0' FROM n" >/dev/null
  }
  seed "$db" 1 2000
  /usr/bin/time -v "$build/offerctl" export --company A --format dsjson -o /dev/null --database-url "$db" 2>"$LIB_TMP/$store.time.small"
  local small big lines hwm0 hwm1 pid
  small=$(max_rss_kb "$LIB_TMP/$store.time.small")
  seed "$db" 2001 $((BIG + 2000))
  /usr/bin/time -v "$build/offerctl" export --company A --format dsjson -o "$LIB_TMP/$store.big" --database-url "$db" 2>"$LIB_TMP/$store.time.big"
  big=$(max_rss_kb "$LIB_TMP/$store.time.big")
  lines=$(wc -l <"$LIB_TMP/$store.big")
  expect_eq "$lines" $((BIG + 2060)) "$store: the big export has every episode"
  note "    $store: offerctl export max RSS: ${small} KiB for 2,060 episodes, ${big} KiB for $lines ($(du -m "$LIB_TMP/$store.big" | cut -f1) MiB of DSJSON)"
  if ((asan)); then
    note "    $store: RSS bounds not checked: ASan's quarantine keeps freed memory (make test checks them)"
  else
    ((big < small + 8192)) && ok "$store: offerctl's max RSS does not grow with the log (< +8 MiB)" ||
      fail "$store: offerctl's max RSS grew from $small to $big KiB"
  fi
  rm -f "$LIB_TMP/$store.big"
  pid=${OFFERD_PID[$store]}
  hwm0=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  n=$(curl -sS --max-time 120 -H "Authorization: Bearer $admin" "$u/export?format=csv" | wc -l)
  hwm1=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  expect_eq "$n" $(((BIG + 2000) * 3 + 60 * 3 + 1)) "$store: GET /export?format=csv streams every slot of the big log"
  note "    $store: offerd peak RSS ${hwm0} KiB before the HTTP export, ${hwm1} KiB after"
  if ((!asan)); then
    ((hwm1 < hwm0 + 16384)) && ok "$store: offerd's peak RSS grows by less than 16 MiB over the big HTTP export" ||
      fail "$store: offerd's peak RSS went from $hwm0 to $hwm1 KiB"
  fi
  offerd_stop "$store"
}

sqlite_new_db export sdb
pg_new_db export pdb
lib_bg sqlite one_store sqlite "$sdb"
lib_bg postgresql one_store postgresql "$pdb"
lib_bg_wait
lib_done
