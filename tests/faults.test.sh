#!/usr/bin/env bash
# Fault tests of the real offerd (issue 7, item 5). Loopback only, bounded:
# the whole script stops itself after 90 s.
#  a. kill -9 offerd while 32 connections send /predict (wrk +
#     bench/predict-ids.lua, which records every answer), on SQLite and on
#     PostgreSQL; restart it on the same database: every episode_id answered
#     200 is in tb_episodes with its customer_id, and new ids do not reuse
#     acknowledged ones.
#  b. PostgreSQL stopped for 5 s under the same load (a private server:
#     scripts/pg.sh down/up on a state file of our own, so no other test's
#     server is touched): offerd answers 503 with Retry-After and a JSON body
#     (never another 5xx), never crashes, never hangs (wrk's maximum latency
#     and timeouts, and /is-alive during the outage), reconnects by itself
#     and answers 200 again within 1 s of PostgreSQL's return; nothing it
#     acknowledged is lost.
#  c. a write queue of 4 under the same load: 503 with Retry-After, never
#     another status, and every 200 durable.
# The figures measured are printed as "FIGURES ..." lines at the end.
# Exits 77 (skipped) when $OFFERD_BUILD/offerd has not been built.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2
# Always a private server: the outage test stops and starts it.
PROC_PG=private
PROC_NAME=faults PROC_TOOLS="curl jq wrk sqlite3 psql"
# shellcheck source=tests/proc_lib.sh
source tests/proc_lib.sh
t_start=$(date +%s.%N)

deadline 90
declare -A FIG=()

# load_start TAG URL: wrk in the background (32 connections), recording to
# $tmp/ids-TAG.<thread>; returns once it has had 500 answers (or 10 s).
load_start() {
  local tag=$1 url=$2 i n
  LOAD_PREFIX=$tmp/ids-$tag
  PREDICT_IDS_OUT=$LOAD_PREFIX PREDICT_IDS_RUN=$tag wrk -t4 -c32 -d60s --timeout 10s \
    -s bench/predict-ids.lua "$url/predict" >"$LOAD_PREFIX.wrk" 2>&1 &
  LOAD_PID=$!
  bg_pids+=("$LOAD_PID")
  for ((i = 0; i < 200; i++)); do
    n=$(cat "$LOAD_PREFIX".[0-9]* 2>/dev/null | wc -l)
    [[ $n -ge 500 ]] && return 0
    sleep 0.05
  done
  fail "$tag: wrk had only $n answers after 10 s"
}

# load_stop: SIGINT makes wrk print its summary (the PREDICT_IDS line) and exit.
load_stop() {
  kill -INT "$LOAD_PID" 2>/dev/null
  gone "$LOAD_PID" 10 || kill -KILL "$LOAD_PID" 2>/dev/null
  wait "$LOAD_PID" 2>/dev/null
  bg_pids=()
  WRK_SUMMARY=$(grep -a '^PREDICT_IDS' "$LOAD_PREFIX.wrk" | cut -d' ' -f2-)
  [[ -n $WRK_SUMMARY ]] || WRK_SUMMARY='{}'
}

# --- a. kill -9 under load ----------------------------------------------------------

kill9_under_load() {
  local tag=$1 db=$2 t_kill before max_acked newid rows
  start "k9-$tag" "$db" --auth off --access-log off
  load_start "k9-$tag" "${URL[k9-$tag]}"
  sleep 1
  t_kill=$(now)
  kill -KILL "${PID[k9-$tag]}"
  wait "${PID[k9-$tag]}" 2>/dev/null
  PID[k9-$tag]=
  sleep 0.3
  load_stop
  before=$(cat "$LOAD_PREFIX".[0-9]* | awk -v t="$t_kill" '$1 < t && $2 == 200' | wc -l)
  note "$tag: kill -9 after $before answers 200; answers by status: $(statuses "$LOAD_PREFIX"); wrk: $WRK_SUMMARY"
  # Restart on the same database: it must come up and serve.
  start "k9-$tag-restart" "$db" --auth off --access-log off
  check_acked "$tag: kill -9 under load, after restart" "$db" "$LOAD_PREFIX"
  rows=$(wc -l <"$LOAD_PREFIX.stored")
  max_acked=$(cut -d'|' -f1 "$LOAD_PREFIX.acked" | sort -n | tail -n 1)
  newid=$(curl -s --max-time 10 -X POST "${URL[k9-$tag-restart]}/predict" -H 'Content-Type: application/json' \
    -d '{"customer_id":"after-restart","timestamp":"2022-01-01","states":{},"offers":{"OFFER_1":true}}' | jq -r '.episode_id // empty')
  if [[ -n $newid && -n $max_acked && $newid -gt $max_acked ]]; then
    ok "$tag: after restart /predict answers 200 with a new episode id ($newid > $max_acked, the highest acknowledged)"
  else
    fail "$tag: after restart /predict gave episode_id '${newid:-none}' (highest acknowledged before the kill: ${max_acked:-none})"
  fi
  stop_signal "k9-$tag-restart" TERM 5
  [[ $STOP_RC == 0 ]] || fail "$tag: restarted offerd exit status $STOP_RC after SIGTERM"
  FIG[k9-$tag]="$ACKED acknowledged, all stored; $((rows - ACKED)) more rows committed but unanswered at the kill"
}

note "== kill -9 under load (32 connections)"
kill9_under_load sqlite "sqlite:$tmp/k9.db"
pg_init
kill9_under_load pg "$(pg_new_db k9)"

# --- b. PostgreSQL down for 5 s under load ----------------------------------------------

note "== PostgreSQL stopped for 5 s under load"
db=$(pg_new_db outage)
start outage "$db" --auth off --access-log off
u=${URL[outage]}
load_start outage "$u"
sleep 1
pgctl() { OFFERD_PG_STATE=$tmp/pg.state OFFERD_PG_OWNER_PID=$$ timeout 40 scripts/pg.sh "$1"; }
t_down0=$(now)
pgctl down || fail "scripts/pg.sh down failed"
t_down1=$(now)
note "outage: pg.sh down took $(secs "$t_down0" "$t_down1") s"
sleep 1
# During the outage: /predict is a quick 503 with Retry-After and a JSON
# error; /is-alive (no database) still answers 200 at once.
res=$(curl -s --max-time 10 -D "$tmp/o.hdr" -o "$tmp/o.body" -w '%{http_code} %{time_total}' -X POST "$u/predict" \
  -H 'Content-Type: application/json' \
  -d '{"customer_id":"during-outage","timestamp":"2022-01-01","states":{},"offers":{"OFFER_1":true}}')
ra=$(tr -d '\r' <"$tmp/o.hdr" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')
if [[ ${res% *} == 503 && -n $ra ]] && jq -e '.status == 503 and (.error | type == "string") and (.message | type == "string")' "$tmp/o.body" >/dev/null 2>&1; then
  ok "outage: /predict answers 503 in ${res#* } s with Retry-After: $ra and a JSON error"
else
  fail "outage: /predict answered '$res' (Retry-After '${ra:-none}'): $(head -c 300 "$tmp/o.body")"
fi
res=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}' "$u/is-alive")
[[ ${res% *} == 200 ]] && ok "outage: /is-alive answers 200 in ${res#* } s" || fail "outage: /is-alive answered '$res'"
# Sleep out the rest of the 5 s, then bring the server back.
sleep "$(awk -v a="$t_down1" -v b="$(now)" 'BEGIN { r = 5 - (b - a); print (r > 0 ? r : 0) }')"
t_up0=$(now)
# PostgreSQL's return: pg.sh up (pg_ctl start -w) returning, or a client
# getting an answer to a query, whichever comes first.
(
  for ((i = 0; i < 400; i++)); do
    if PGCONNECT_TIMEOUT=1 psql -X -q -At "$db" -c 'SELECT 1' >/dev/null 2>&1; then
      now >"$tmp/pg.ready"
      exit 0
    fi
    sleep 0.02
  done
) &
ready_pid=$!
bg_pids+=("$ready_pid")
pgctl up || fail "scripts/pg.sh up failed"
t_up1=$(now)
gone "$ready_pid" 10
t_ready=$(cat "$tmp/pg.ready" 2>/dev/null)
[[ -n $t_ready ]] || { fail "outage: PostgreSQL did not answer a query after pg.sh up"; t_ready=$t_up1; }
# Its return: the earlier of the two signs that it is back (a strict measure).
t_back=$(awk -v a="$t_ready" -v b="$t_up1" 'BEGIN { printf "%.6f", (a < b ? a : b) }')
note "outage: PostgreSQL was down for $(secs "$t_down1" "$t_up0") s; pg.sh up took $(secs "$t_up0" "$t_up1") s; first query answered $(secs "$t_up0" "$t_ready") s after it began"
# Wait (at most 10 s) for a 200 after the restart began, then 1.5 s more load.
first200=
for ((i = 0; i < 200; i++)); do
  first200=$(cat "$LOAD_PREFIX".[0-9]* | awk -v t="$t_up0" '$1 > t && $2 == 200 { print $1 }' | sort -n | head -n 1)
  [[ -n $first200 ]] && break
  kill -0 "${PID[outage]}" 2>/dev/null || break
  sleep 0.05
done
sleep 1.5
load_stop
t_end=$(now)
# Alive and serving afterwards.
if kill -0 "${PID[outage]}" 2>/dev/null; then
  ok "outage: offerd is still running"
else
  fail "outage: offerd died (log: $(tail -n 5 "${LOG[outage]}"))"
fi
res=$(curl -s --max-time 10 -o "$tmp/o.body" -w '%{http_code}' -X POST "$u/predict" -H 'Content-Type: application/json' \
  -d '{"customer_id":"after-outage","timestamp":"2022-01-01","states":{},"offers":{"OFFER_1":true}}')
[[ $res == 200 ]] && ok "outage: /predict answers 200 after PostgreSQL's return" ||
  fail "outage: /predict after PostgreSQL's return: $res $(head -c 200 "$tmp/o.body")"

# The figures, from every answer wrk received (time, status).
cat "$LOAD_PREFIX".[0-9]* | sort -n -k1,1 >"$tmp/outage.all"
phase() { awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { n[$2]++ } END { for (s in n) printf "%s:%d ", s, n[s] }' "$tmp/outage.all"; }
note "outage: answers before the stop:   $(phase 0 "$t_down0")"
note "outage: answers while stopping:    $(phase "$t_down0" "$t_down1")"
note "outage: answers while down:        $(phase "$t_down1" "$t_up0")"
note "outage: answers while starting:    $(phase "$t_up0" "$t_back")"
note "outage: answers after its return:  $(phase "$t_back" "$t_end")"
note "outage: wrk: $WRK_SUMMARY"
n503=$(awk -v a="$t_down0" -v b="$t_back" '$1 >= a && $1 < b && $2 == 503' "$tmp/outage.all" | wc -l)
other5=$(awk '$2 >= 500 && $2 != 503' "$tmp/outage.all" | wc -l)
other=$(awk '$2 != 200 && $2 != 503' "$tmp/outage.all" | awk '{ print $2 }' | sort | uniq -c | tr -s ' \n' ' ')
# (from 0.5 s after the server was fully stopped: wrk stamps an answer when it
# parses it, which can lag on a loaded machine)
ok200down=$(awk -v a="$t_down1" -v b="$t_up0" '$1 >= a + 0.5 && $1 < b && $2 == 200' "$tmp/outage.all" | wc -l)
first503=$(awk -v a="$t_down0" '$1 >= a && $2 == 503 { print $1; exit }' "$tmp/outage.all")
[[ $n503 -gt 0 ]] && ok "outage: $n503 answers 503 while PostgreSQL was down" ||
  fail "outage: no 503 while PostgreSQL was down"
[[ $other5 -eq 0 ]] && ok "outage: no 5xx other than 503" || fail "outage: other answers: $other"
no_ra=$(awk '$2 == 503 && $3 !~ /^retry-after=[0-9]+$/' "$tmp/outage.all" | wc -l)
[[ $no_ra -eq 0 ]] && ok "outage: every 503 carries Retry-After" || fail "outage: $no_ra answers 503 without Retry-After"
[[ $ok200down -eq 0 ]] && ok "outage: no 200 while PostgreSQL was down (nothing acknowledged without a commit)" ||
  fail "outage: $ok200down answers 200 while PostgreSQL was down"
lat_max=$(jq -r '.latency_max_ms // empty' <<<"$WRK_SUMMARY")
timeouts=$(jq -r '.timeout // empty' <<<"$WRK_SUMMARY")
if [[ -n $lat_max && $timeouts == 0 ]] && le "$lat_max" 2000; then
  ok "outage: never hangs: maximum latency $lat_max ms over the whole run, no request timed out (10 s)"
else
  fail "outage: maximum latency ${lat_max:-?} ms (limit 2000), ${timeouts:-?} requests timed out after 10 s"
fi
if [[ -n $first200 ]]; then
  recovery=$(secs "$t_back" "$first200")
  if le "$recovery" 1; then
    ok "outage: 200 again $recovery s after PostgreSQL's return (negative: before pg.sh up or a psql probe saw it)"
  else
    fail "outage: first 200 only $recovery s after PostgreSQL's return (limit 1 s)"
  fi
else
  recovery=none
  fail "outage: no 200 after PostgreSQL's return"
fi
late503=$(awk -v a="${first200:-0}" '$1 > a + 1 && $2 == 503' "$tmp/outage.all" | wc -l)
[[ -n $first200 && $late503 -eq 0 ]] && ok "outage: no 503 later than 1 s after the first 200 (every writer reconnected)" ||
  fail "outage: $late503 answers 503 more than 1 s after the first 200"
grep -aq 'postgresql: reconnected' "${LOG[outage]}" && ok "outage: the log says 'postgresql: reconnected'" ||
  fail "outage: no 'postgresql: reconnected' in the log"
check_acked "outage: PostgreSQL down 5 s under load" "$db" "$LOAD_PREFIX"
stop_signal outage TERM 5
[[ $STOP_RC == 0 ]] && ok "outage: offerd exits 0 on SIGTERM afterwards" || fail "outage: exit status $STOP_RC after SIGTERM"
FIG[outage]="first 503 $(secs "$t_down0" "${first503:-$t_down0}") s after the stop began; $n503 answers 503; max latency ${lat_max:-?} ms, ${timeouts:-?} timeouts; 200 again ${recovery} s after PostgreSQL's return (pg.sh up took $(secs "$t_up0" "$t_up1") s, a psql probe got its first answer after $(secs "$t_up0" "$t_ready") s); $ACKED acknowledged, all stored"

# --- c. the write queue full ---------------------------------------------------------------------

note "== write queue full (--queue-max 4 --batch-max 1, SQLite)"
start qfull "sqlite:$tmp/qfull.db" --auth off --access-log off --queue-max 4 --batch-max 1
load_start qfull "${URL[qfull]}"
sleep 1.5
load_stop
note "queue full: answers by status: $(statuses "$LOAD_PREFIX"); wrk: $WRK_SUMMARY"
cat "$LOAD_PREFIX".[0-9]* >"$tmp/qfull.all"
q503=$(awk '$2 == 503' "$tmp/qfull.all" | wc -l)
qother=$(awk '$2 != 200 && $2 != 503' "$tmp/qfull.all" | wc -l)
qnora=$(awk '$2 == 503 && $3 !~ /^retry-after=[0-9]+$/' "$tmp/qfull.all" | wc -l)
[[ $q503 -gt 0 ]] && ok "queue full: $q503 answers 503" || fail "queue full: no 503 with a write queue of 4 under 32 connections"
[[ $qother -eq 0 && $qnora -eq 0 ]] && ok "queue full: only 200 and 503 (with Retry-After)" ||
  fail "queue full: $qother answers neither 200 nor 503, $qnora answers 503 without Retry-After"
kill -0 "${PID[qfull]}" 2>/dev/null && ok "queue full: offerd is still running" || fail "queue full: offerd died"
check_acked "queue full" "sqlite:$tmp/qfull.db" "$LOAD_PREFIX"
stop_signal qfull TERM 5
[[ $STOP_RC == 0 ]] || fail "queue full: exit status $STOP_RC after SIGTERM"
FIG[qfull]="$(statuses "$LOAD_PREFIX")"

echo
note "FIGURES kill-9 sqlite: ${FIG[k9-sqlite]:-n/a}"
note "FIGURES kill-9 postgresql: ${FIG[k9-pg]:-n/a}"
note "FIGURES postgresql down 5 s: ${FIG[outage]:-n/a}"
note "FIGURES write queue full (4): ${FIG[qfull]:-n/a}"
note "($(basename "$0") ran $(secs "$t_start" "$(now)") s)"
if [[ $fails -gt 0 ]]; then
  echo "$(basename "$0"): $fails of $checks checks FAILED"
  exit 1
fi
echo "$(basename "$0"): all $checks checks passed"
exit 0
