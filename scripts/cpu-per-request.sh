#!/usr/bin/env bash
# CPU per request, for a machine too busy for throughput figures to mean much
# (docs/performance.md). For each path (GET /is-alive, POST /predict, PUT
# /rewards on PostgreSQL) runs wrk and reads, before and after, utime+stime
# of offerd (/proc/PID/stat) and of every process of a PostgreSQL server of
# its own (backends, WAL writer, checkpointer...). Prints µs of CPU per
# completed 2xx request for each side. With PERF=1 it also records
# `perf record -g` of offerd and of the PostgreSQL processes during each run and
# prints `perf report --no-children` heads into $OUT (default /tmp/offerd-cpu).
# req/tx: 2xx requests per writer transaction (offerd_db_batches_total).
# PATHS picks and orders the paths: PATHS="predict rank" ROUNDS=3 alternates
# /predict and the Personalizer rank (issue 14), as docs/personalizer.md does.
#   BUILD (build)  SECS (8)  CONNS (32)  ROUNDS (1)  PATHS (is-alive predict rewards)
#   PERF  OUT  OFFERD_ARGS  PG_SETUP (SQL)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
secs=${SECS:-8}
conns=${CONNS:-32}
rounds=${ROUNDS:-1}
paths=${PATHS:-is-alive predict rewards}
out=${OUT:-/tmp/offerd-cpu}
peer_dir=${OFFERD_PEER_DIR:-../shared/peer}
mkdir -p "$out"
source scripts/apt_lib.sh # apt_need: a fresh machine has neither wrk nor PostgreSQL
apt_need cpu-per-request wrk postgresql
work=$(mktemp -d /tmp/offerd-cpu.XXXXXX)
export OFFERD_PG_STATE=$work/pg.state OFFERD_PG_OWNER_PID=$$
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/pg.sh stop --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pg=$(scripts/pg.sh start)
psql -q "$pg" -c "CREATE DATABASE offerd_cpu" >/dev/null
url=${pg%/*}/offerd_cpu
# The postmaster is the parent of any backend.
postmaster=$(head -1 "$(psql -tA "$pg" -c 'SHOW data_directory')/postmaster.pid")

source scripts/port_lib.sh # free_port
port=$(free_port)
"$build/offerd" --port "$port" --database-url "$url" --auth off --access-log off --log-level warn \
  ${OFFERD_ARGS:-} 2>>"$work/offerd.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/is-alive" >/dev/null && break; sleep 0.1; done
# An experiment on the schema once offerd has migrated it (docs/performance.md).
[[ -n "${PG_SETUP:-}" ]] && psql -q "$url" -c "$PG_SETUP" >/dev/null

ticks() {  # PID... -> utime+stime summed, in clock ticks
  local p t=0 f
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }
    # shellcheck disable=SC2086
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
pg_pids() { echo "$postmaster" $(pgrep -P "$postmaster"); }
hz=$(getconf CLK_TCK)
batches() { curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "offerd_db_batches_total" { print $2 }'; }

measure() {  # NAME URL SCRIPT
  local name=$1 u=$2 script=$3 o0 p0 o1 p1 b0 b1 res reqs non2xx ok perfpid=""
  local pids; pids=$(pg_pids)
  b0=$(batches); o0=$(ticks "$pid"); p0=$(ticks $pids)
  if [[ -n "${PERF:-}" ]]; then
    perf record -q -g -o "$out/$name.offerd.data" -p "$pid" -- sleep "$secs" >/dev/null 2>&1 &
    perfpid="$! "
    perf record -q -g -o "$out/$name.pg.data" -p "$(echo $pids | tr ' ' ,)" -- sleep "$secs" >/dev/null 2>&1 &
    perfpid+="$!"
  fi
  res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency ${script:+-s "$script"} "$u")
  [[ -n "$perfpid" ]] && wait $perfpid 2>/dev/null || true
  o1=$(ticks "$pid"); p1=$(ticks $(pg_pids)); b1=$(batches)
  reqs=$(awk '/requests in/ { print $1 }' <<<"$res")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$res"); non2xx=${non2xx:-0}
  ok=$((reqs - non2xx))
  awk -v n="$name" -v ok="$ok" -v bad="$non2xx" -v o=$((o1 - o0)) -v p=$((p1 - p0)) -v hz="$hz" \
    -v tx=$((b1 - b0)) -v rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$res")" -v p99="$(awk '$1 == "99%" { print $2 }' <<<"$res")" \
    'BEGIN { printf "%-10s 2xx %8d non2xx %6d  %8.0f req/s p99 %-8s offerd %6.1f us/req  postgres %6.1f us/req  %5.1f req/tx\n",
             n, ok, bad, rps, p99, o * 1e6 / hz / ok, p * 1e6 / hz / ok, (tx > 0 ? ok / tx : 0) }'
  if [[ -n "${PERF:-}" ]]; then
    perf report -i "$out/$name.offerd.data" --no-children --stdio -g none --percent-limit 0.7 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -60 >"$out/$name.offerd.txt" || true
    perf report -i "$out/$name.offerd.data" --no-children --stdio -g none --sort comm,dso 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -20 >"$out/$name.offerd.dso.txt" || true
    perf report -i "$out/$name.pg.data" --no-children --stdio -g none --percent-limit 0.7 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -60 >"$out/$name.pg.txt" || true
  fi
}

for r in $(seq "$rounds"); do
  for path in $paths; do
    case $path in
    is-alive) measure is-alive "http://127.0.0.1:$port/is-alive" "" ;;
    predict) measure predict "http://127.0.0.1:$port/predict" "$peer_dir/predict.lua" ;;
    # make bench's rank body: 10 actions with a few features each (issue 14).
    rank) measure rank "http://127.0.0.1:$port/personalizer/v1.0/rank" bench/personalizer-rank.lua ;;
    rewards)
      # /rewards rewards episodes that exist, as in scripts/bench.sh: a seeding
      # load records one episode per customer, then each reward names one of them once.
      rm -f "$work"/seed.*
      PREDICT_IDS_OUT=$work/seed PREDICT_IDS_RUN=cpu$r wrk -t2 -c"$conns" -d"$((secs + 4))s" \
        -s bench/predict-ids.lua "http://127.0.0.1:$port/predict" >/dev/null
      REWARDS_FROM=$work/seed measure rewards "http://127.0.0.1:$port/rewards" bench/rewards.lua
      ;;
    *) echo "cpu-per-request: unknown path $path (is-alive predict rank rewards)" >&2; exit 2 ;;
    esac
  done
done
