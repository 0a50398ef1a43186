#!/usr/bin/env bash
# Retention (issue 16.4), on SQLite and PostgreSQL, under a load of /predict:
# - old episodes (and their rewards) are deleted, recent ones kept, per the
#   default window (--retention-days 30) and per-company overrides
#   (--retention B=1,C=0: B keeps one day, C for ever);
# - the writers do not stall: /predict answers only 200 while retention
#   deletes, and its p99 latency (wrk --latency, which includes the writer's
#   commit) stays within the baseline's plus the longest retention batch
#   (offerd_retention_batch_max_seconds) and some slack for a shared machine;
# - /metrics counts the rows deleted and the last run;
# - two offerd on one PostgreSQL both running retention delete each row once
#   and fail nothing.
source "$(dirname "$0")/lib.sh"
lib_require curl jq wrk
lib_deadline 300
pg_setup

OLD=${OFFERD_RETENTION_OLD:-60000}
LOAD_SECS=${OFFERD_RETENTION_LOAD_SECS:-5}

LUA=$LIB_TMP/predict.lua # set before lib_bg, which gives each part its own LIB_TMP
cat >"$LUA" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, wrk.path, nil, string.format('{"customer_id":"w%d","timestamp":"2022-01-01",' ..
    '"states":{"age":30,"gender":"F","region":"Europa"},' ..
    '"offers":{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true,"OFFER_4":true}}', n))
end
EOF

# seed DB COMPANY FIRST LAST AGE-SQL-TEXT: episodes FIRST..LAST written at AGE.
seed() {
  sql "$1" "WITH RECURSIVE n(i) AS (SELECT $3 UNION ALL SELECT i + 1 FROM n WHERE i < $4)
    INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1, propensity_1, last_update)
    SELECT '$2', 'old' || i, '{\"age\": 40}', 'OFFER_1', 0.5, '$5' FROM n" >/dev/null
}
# The episodes (and their rewards) of every group, for the assertions.
census() {
  sql "$1" "SELECT company || ':' || CASE WHEN customer_id LIKE 'old%' THEN 'seed' ELSE 'live' END
      || ':' || CASE WHEN last_update < '2021-01-01' THEN 'old' ELSE 'recent' END || '=' || COUNT(*)
    FROM tb_episodes GROUP BY company, customer_id LIKE 'old%', last_update < '2021-01-01'
    ORDER BY 1" 2>/dev/null | tr '\n' ' '
}
# wrk's p99 in milliseconds and its non-2xx count, from its output file.
p99_ms() { awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; printf "%.2f", v * f }' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses/ { print $NF; found = 1 } END { if (!found) print 0 }' "$1"; }
metric() { curl -s --max-time 5 "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

one_store() {
  local store=$1 db=$2 u recent five_days base_p99 ret_p99 batch_max before after n
  five_days=$(date -u -d '5 days ago' +%Y-%m-%dT%H:%M:%S.000Z)
  "$build/offerctl" db migrate --database-url "$db" >/dev/null || die "$store: migrate failed"
  seed "$db" A 1 "$OLD" 2020-01-01T00:00:00.000Z
  seed "$db" A $((OLD + 1)) $((OLD + 500)) "$five_days"
  seed "$db" B 1 2000 "$five_days"
  seed "$db" C 1 1000 2020-06-01T00:00:00.000Z
  sql "$db" "INSERT INTO tb_rewards (company, customer_id, episode_id, accepted_offer)
    SELECT company, customer_id, id, TRUE FROM tb_episodes WHERE id % 4 = 0" >/dev/null
  recent=$(sql "$db" "SELECT COUNT(*) FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id
    WHERE e.company = 'C' OR (e.company = 'A' AND e.last_update > '2021-01-01')")
  expect_eq "$(census "$db")" "A:seed:old=$OLD A:seed:recent=500 B:seed:recent=2000 C:seed:old=1000 " "$store: seeded"

  # Baseline: the same load without retention.
  offerd_start "$store-base" "$db" --auth off --retention-days 0
  wrk -t1 -c8 -d"${LOAD_SECS}s" --latency -s "$LUA" "${OFFERD_URL[$store-base]}/predict" >"$LIB_TMP/wrk.base" 2>&1
  offerd_stop "$store-base"
  base_p99=$(p99_ms "$LIB_TMP/wrk.base")
  expect_eq "$(census "$db" | grep -o 'A:seed:old=[0-9]*')" "A:seed:old=$OLD" "$store: --retention-days 0 deletes nothing"

  # With retention: it starts with offerd, the load right after.
  offerd_start "$store" "$db" --auth off --retention-days 30 --retention 'B=1, C=0' --retention-interval 0.2
  u=${OFFERD_URL[$store]}
  before=$(metric "$u" 'offerd_retention_deleted_total{table="tb_episodes"}')
  wrk -t1 -c8 -d"${LOAD_SECS}s" --latency -s "$LUA" "$u/predict" >"$LIB_TMP/wrk.ret" 2>&1
  after=$(metric "$u" 'offerd_retention_deleted_total{table="tb_episodes"}')
  ret_p99=$(p99_ms "$LIB_TMP/wrk.ret")
  ((${before%.*} < OLD + 2000)) && ok "$store: retention was still deleting when the load started ($before of $((OLD + 2000)) deleted)" ||
    fail "$store: retention was done ($before) before the load started: raise OFFERD_RETENTION_OLD"
  expect_eq "$(non2xx "$LIB_TMP/wrk.base")/$(non2xx "$LIB_TMP/wrk.ret")" "0/0" "$store: /predict answered only 2xx, without and with retention"
  for ((n = 0; n < 300; n++)); do
    [[ $(metric "$u" 'offerd_retention_deleted_total{table="tb_episodes"}') == $((OLD + 2000)) ]] && break
    sleep 0.1
  done
  batch_max=$(metric "$u" offerd_retention_batch_max_seconds)
  note "    $store: /predict p99 ${base_p99} ms without retention, ${ret_p99} ms while it deleted ($before -> $after episodes during the load; longest batch ${batch_max} s)"
  note "    $store: wrk without: $(grep -E 'Requests/sec' "$LIB_TMP/wrk.base" | tr -s ' '), with: $(grep -E 'Requests/sec' "$LIB_TMP/wrk.ret" | tr -s ' ')"
  awk -v b="$base_p99" -v r="$ret_p99" -v m="$batch_max" 'BEGIN { exit !(r <= 2 * b + 2000 * m + 50) }' &&
    ok "$store: p99 with retention ($ret_p99 ms) <= 2 x baseline ($base_p99 ms) + 2 x the longest batch + 50 ms" ||
    fail "$store: p99 with retention $ret_p99 ms vs baseline $base_p99 ms (longest batch $batch_max s)"
  expect_eq "$(census "$db" | sed -E 's/A:live:recent=[0-9]+ //')" "A:seed:recent=500 C:seed:old=1000 " \
    "$store: A's 2020 episodes and B's 5-day-old ones are gone; A's recent, the live ones and C's (C=0) are kept"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_rewards r WHERE NOT EXISTS (SELECT 1 FROM tb_episodes e WHERE e.id = r.episode_id)")" 0 \
    "$store: no reward is left without its episode"
  expect_eq "$(sql "$db" 'SELECT COUNT(*) FROM tb_rewards')" "$recent" "$store: the rewards of kept episodes are kept"
  expect_eq "$(metric "$u" 'offerd_retention_deleted_total{table="tb_rewards"}')" $(((OLD + 2000) / 4)) \
    "$store: /metrics counts the rewards deleted"
  n=$(metric "$u" offerd_retention_last_run_timestamp_seconds)
  awk -v t="$n" -v now="$(date +%s)" 'BEGIN { exit !(now - t < 30) }' && ok "$store: /metrics tells the last run ($n)" ||
    fail "$store: offerd_retention_last_run_timestamp_seconds is $n"
  [[ -n $(metric "$u" offerd_retention_last_run_duration_seconds) ]] && ok "$store: /metrics tells the last run's duration" ||
    fail "$store: no offerd_retention_last_run_duration_seconds"
  expect_eq "$(metric "$u" offerd_retention_failures_total)" 0 "$store: no retention pass failed"
  offerd_stop "$store"
}

# Two processes on one PostgreSQL, both deleting the same windows.
two_processes() {
  local db=$1 a b da db_ fa fb
  "$build/offerctl" db migrate --database-url "$db" >/dev/null
  seed "$db" A 1 20000 2020-01-01T00:00:00.000Z
  sql "$db" "INSERT INTO tb_rewards (company, customer_id, episode_id, accepted_offer)
    SELECT company, customer_id, id, TRUE FROM tb_episodes WHERE id % 2 = 0" >/dev/null
  offerd_start p1 "$db" --auth off --retention-days 30 --retention-interval 0.1
  offerd_start p2 "$db" --auth off --retention-days 30 --retention-interval 0.1
  for ((n = 0; n < 300; n++)); do
    [[ $(sql "$db" 'SELECT COUNT(*) FROM tb_episodes') == 0 ]] && break
    sleep 0.1
  done
  expect_eq "$(sql "$db" 'SELECT COUNT(*) FROM tb_episodes')/$(sql "$db" 'SELECT COUNT(*) FROM tb_rewards')" "0/0" \
    "two processes: every old episode and reward is gone"
  sleep 0.5
  da=$(metric "${OFFERD_URL[p1]}" 'offerd_retention_deleted_total{table="tb_episodes"}')
  db_=$(metric "${OFFERD_URL[p2]}" 'offerd_retention_deleted_total{table="tb_episodes"}')
  expect_eq "$((da + db_))" 20000 "two processes: the deletions add up to the 20000 episodes, each deleted once ($da + $db_)"
  fa=$(metric "${OFFERD_URL[p1]}" offerd_retention_failures_total)
  fb=$(metric "${OFFERD_URL[p2]}" offerd_retention_failures_total)
  expect_eq "$fa/$fb" "0/0" "two processes: no retention pass failed"
  offerd_stop p1
  offerd_stop p2
}

sqlite_new_db retention sdb
pg_new_db retention pdb
pg_new_db retention2 pdb2
lib_bg sqlite one_store sqlite "$sdb"
lib_bg postgresql one_store postgresql "$pdb"
lib_bg_wait
lib_bg two two_processes "$pdb2"
lib_bg_wait
# A malformed --retention is refused at start, naming the flag.
out=$("$build/offerd" --database-url "$sdb" --retention 'B=ten' 2>&1)
expect_eq "$?" 2 "offerd --retention B=ten exits 2 (a usage error)"
[[ $out == *"--retention: B's days must be an integer"* ]] && ok "and says why" || fail "the error: $out"
lib_done
