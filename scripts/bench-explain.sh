#!/usr/bin/env bash
# scripts/bench-explain.sh BASE_OFFERD — /predict of another build (BASE_OFFERD,
# e.g. the main branch's build/offerd) against this build's /predict and
# /predict?explain=1, in one run, on one PostgreSQL (scripts/pg.sh), with
# wrk: the three in turn, ROUNDS rounds of SECONDS each, so a drift of the
# machine's speed hits all three alike. Prints requests/s per round, the
# medians and the ratios of the medians; then checks that the default
# answers of both builds are the same bytes (offers and episode id masked).
#   ROUNDS (7)  SECONDS_EACH (3)  CONNECTIONS (16)
set -euo pipefail
cd "$(dirname "$0")/.."
base_bin=${1:?usage: scripts/bench-explain.sh BASE_OFFERD}
rounds=${ROUNDS:-7}
secs=${SECONDS_EACH:-3}
conns=${CONNECTIONS:-16}
work=$(mktemp -d /tmp/offerd-bench-explain.XXXXXX)
export OFFERD_PG_STATE=$work/pg.state OFFERD_PG_OWNER_PID=$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg.sh stop --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pg=$(scripts/pg.sh start)
psql -q "$pg" -c "CREATE DATABASE b_base" -c "CREATE DATABASE b_new" >/dev/null
source scripts/port_lib.sh # free_port
p1=$(free_port)
"$base_bin" --host 127.0.0.1 --port "$p1" --database-url "${pg%/*}/b_base" --auth off --access-log off >"$work/base.log" 2>&1 &
pids+=($!)
p2=$(free_port)
build/offerd --host 127.0.0.1 --port "$p2" --database-url "${pg%/*}/b_new" --auth off --access-log off >"$work/new.log" 2>&1 &
pids+=($!)
for p in "$p1" "$p2"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/is-alive" >/dev/null && break; sleep 0.1; done
done
body='{"customer_id":"c1","timestamp":"2022-03-07","states":{"age":40,"gender":"F","region":"Americas","client-since":"2019-10-21"},"offers":{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true,"OFFER_4":true,"OFFER_5":true}}'
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA
declare -A all
for ((r = 1; r <= rounds; r++)); do
  line="round $r:"
  for t in "base http://127.0.0.1:$p1/predict" "new http://127.0.0.1:$p2/predict" "explain http://127.0.0.1:$p2/predict?explain=1"; do
    set -- $t
    rps=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" "$2" | awk '/Requests\/sec/ { print $2 }')
    all[$1]+="$rps "
    line+=" $1 $rps"
  done
  echo "$line"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${all[base]}"); mn=$(median "${all[new]}"); me=$(median "${all[explain]}")
awk -v b="$mb" -v n="$mn" -v e="$me" 'BEGIN { printf "median requests/s: base %.0f, new %.0f, new with explain=1 %.0f\nratios: new/base %.3f, explain/new %.3f\n", b, n, e, n / b, e / n }'
mask() { sed 's/"best-three-offers":\[[^]]*\]/OFFERS/; s/"episode_id":[0-9]*/EP/'; }
a=$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$p1/predict" -d "$body" | mask)
b=$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$p2/predict" -d "$body" | mask)
if [[ $a == "$b" ]]; then echo "default answers: the same bytes ($b)"; else echo "default answers DIFFER:"; echo " base: $a"; echo " new:  $b"; exit 1; fi
