#!/usr/bin/env bash
# offerd's CPU time per request, /predict against /personalizer/v1.0/rank
# (issue 14: rank >= 80% of /predict's requests/s). On a shared machine
# requests/s swing with the load from outside; the CPU time offerd spends per
# answer (utime + stime of /proc/PID/stat over a wrk run, divided by the
# requests) hardly moves, so the two rows are compared that way: one offerd on
# a PostgreSQL database of its own, the two wrk scripts of make bench
# alternating, ROUNDS times each.
#   ROUNDS (3)  SECONDS_EACH (5)  CONNECTIONS (32)  BUILD (build)
#   PERF=1: also `perf record -g` offerd during one more rank run and print
#   the top of the report (needs perf, Debian's linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECONDS_EACH:-5}
conns=${CONNECTIONS:-32}
build=${BUILD:-build}
peer_dir=${OFFERD_PEER_DIR:-../shared/peer}

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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/offerd" --port "$port" --database-url "${pg%/*}/offerd_cpu" --auth off --access-log off \
  --log-level warn 2>>"$work/offerd.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/is-alive" >/dev/null && break; sleep 0.1; done

ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# measure PATH SCRIPT -> "µs/request requests/s non2xx"
measure() {
  local before after out reqs rps non2xx
  before=$(cpu)
  out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$2" "http://127.0.0.1:$port$1")
  after=$(cpu)
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  awk -v t=$((after - before)) -v hz="$ticks" -v n="$reqs" -v r="$rps" -v e="${non2xx:-0}" \
    'BEGIN { printf "%.1f %.0f %d\n", t / hz * 1e6 / n, r, e }'
}

printf '| round | /predict µs/req | rank µs/req | ratio (predict/rank) | /predict req/s | rank req/s |\n'
printf '|---|---|---|---|---|---|\n'
# A short warm-up of each, so that neither pays for the first connections and the caches.
wrk -t2 -c"$conns" -d1s -s "$peer_dir/predict.lua" "http://127.0.0.1:$port/predict" >/dev/null
wrk -t2 -c"$conns" -d1s -s bench/personalizer-rank.lua "http://127.0.0.1:$port/personalizer/v1.0/rank" >/dev/null
for r in $(seq "$rounds"); do
  read -r p_us p_rps p_err < <(measure /predict "$peer_dir/predict.lua")
  # Each run ranks fresh event ids: offerd restarts no counter, the ids only need to be unique per run.
  psql -q "${pg%/*}/offerd_cpu" -c "DELETE FROM tb_pz_events" >/dev/null 2>&1 || true
  read -r k_us k_rps k_err < <(measure /personalizer/v1.0/rank bench/personalizer-rank.lua)
  ((p_err + k_err > 0)) && echo "warning: non-2xx answers: /predict $p_err, rank $k_err" >&2
  awk -v r="$r" -v p="$p_us" -v k="$k_us" -v pr="$p_rps" -v kr="$k_rps" \
    'BEGIN { printf "| %d | %.1f | %.1f | %.2f | %.0f | %.0f |\n", r, p, k, p / k, pr, kr }'
done

if [[ -n "${PERF:-}" ]]; then
  perf record -q -g -o "$work/perf.data" -p "$pid" -- sleep "$secs" >/dev/null 2>&1 &
  perf_pid=$!
  wrk -t2 -c"$conns" -d"${secs}s" -s bench/personalizer-rank.lua \
    "http://127.0.0.1:$port/personalizer/v1.0/rank" >/dev/null
  wait "$perf_pid" || true
  perf report -i "$work/perf.data" --no-children --stdio --percent-limit 0.7 -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -60
fi
