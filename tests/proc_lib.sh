# shellcheck shell=bash
# tests/proc_lib.sh — the harness of the process-level tests (lifecycle,
# malformed, faults): they start offerd themselves, signal and kill it, stop
# PostgreSQL under it, and check every acknowledged episode. Kept apart from
# lib.sh (the HTTP tests' helpers), so that a change there never moves these.
#
#   set -uo pipefail; export LC_ALL=C; cd "$(dirname "$0")/.." || exit 2
#   PROC_NAME=faults PROC_TOOLS="curl jq wrk sqlite3 psql" [PROC_PG=private]
#   source tests/proc_lib.sh
#
# PROC_TOOLS: the commands the test needs (a missing one fails it); PROC_NAME
# names its temporary directory; PROC_PG=private: pg_init always starts a
# private PostgreSQL (scripts/pg.sh), even when $OFFERD_TEST_PG_URL is set.
# Exits 77 (skipped) when $OFFERD_BUILD/offerd has not been built.
#
# It gives: $root, $build, $tmp (deleted at exit unless OFFERD_TEST_KEEP=1);
# fail/ok/note, now, secs A B, le X Y; deadline SECONDS; gone PID SECONDS;
# free_port; start NAME DBURL [FLAGS...] (sets PID/URL/LOG[NAME]);
# stop_signal NAME SIGNAL LIMIT (sets STOP_RC, STOP_SECS); sql DBURL QUERY;
# pg_init, pg_new_db TAG; check_acked DESC DBURL PREFIX (sets ACKED);
# statuses PREFIX. At exit: every offerd and background pid stopped, the logs'
# last lines shown after a failure, databases dropped, PostgreSQL stopped.
root=$PWD
build=${OFFERD_BUILD:-build}
[[ $build == /* ]] || build=$root/$build
if [[ ! -x $build/offerd || ! -x $build/offerctl ]]; then
  echo "SKIP: $build/offerd or offerctl is not built"
  exit 77
fi
for c in $PROC_TOOLS; do
  command -v "$c" >/dev/null 2>&1 || { echo "FAIL: $c is missing (scripts/deps.sh --test installs the test tools)"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-$PROC_NAME.XXXXXX") || exit 2
fails=0
checks=0
declare -A PID=() URL=() LOG=()
pg_dbs=()
pg_private=0
bg_pids=()
watchdog=

fail() { fails=$((fails + 1)); checks=$((checks + 1)); printf 'FAIL: %s\n' "$*"; }
ok() { checks=$((checks + 1)); printf 'ok: %s\n' "$*"; }
note() { printf '%s\n' "$*"; }
now() { date +%s.%N; }
# secs A B: B - A with millisecond precision.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# le X Y: X <= Y for decimals.
le() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x <= y) }'; }

cleanup() {
  local rc=$? n p
  trap - EXIT TERM INT
  for p in "${bg_pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for n in "${!PID[@]}"; do [[ -n ${PID[$n]} ]] && kill -TERM "${PID[$n]}" 2>/dev/null; done
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    [[ -n $p ]] || continue
    gone "$p" 10 || kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [[ $rc -ne 0 ]]; then
    for f in "$tmp"/offerd-*.log; do
      [[ -f $f ]] || continue
      echo "--- last lines of $(basename "$f") ---"
      tail -n 12 "$f"
    done
  fi
  # A private server is stopped below with its databases.
  [[ $pg_private -eq 1 ]] && pg_dbs=()
  for n in "${pg_dbs[@]}"; do
    timeout 20 psql -X -q "$pg_admin" -c "DROP DATABASE IF EXISTS \"$n\" WITH (FORCE)" >/dev/null 2>&1
  done
  if [[ $pg_private -eq 1 ]]; then
    OFFERD_PG_STATE=$tmp/pg.state OFFERD_PG_OWNER_PID=$$ timeout 60 scripts/pg.sh stop --all >/dev/null 2>&1
  fi
  if [[ -n $watchdog ]]; then kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null; fi
  if [[ ${OFFERD_TEST_KEEP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf -- "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted or out of time"; exit 1' TERM INT

deadline() {
  local me=$$
  ( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep "$1" & s=$!; wait $s
    echo "FAIL: $(basename "$0") did not finish within $1 s"; kill -TERM "$me" ) &
  watchdog=$!
}

# gone PID SECONDS: waits until PID has exited; 1 on timeout.
gone() {
  local i
  for ((i = 0; i < $2 * 50; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.02
  done
  return 1
}

source scripts/port_lib.sh # free_port, listen_url

# start NAME DBURL [FLAGS...]: offerd on a free loopback port; sets PID/URL/LOG.
# offerd logs the port it bound (--port 0) at level info; with a higher
# --log-level the port is chosen here instead.
start() {
  local name=$1 db=$2 i u='' log port=0
  shift 2
  log=$tmp/offerd-$name.log
  [[ -e $log ]] && log=$tmp/offerd-$name.$RANDOM.log
  LOG[$name]=$log
  [[ " $* " == *" --log-level warn "* || " $* " == *" --log-level error "* ]] && port=$(free_port)
  "$build/offerd" --host 127.0.0.1 --port "$port" --database-url "$db" "$@" </dev/null >"$log" 2>&1 &
  PID[$name]=$!
  if [[ $port != 0 ]]; then
    u=http://127.0.0.1:$port
  else
    u=$(listen_url "$log" "${PID[$name]}")
  fi
  if [[ -z $u ]]; then
    fail "offerd $name did not start; its log:"
    cat "$log"
    exit 1
  fi
  URL[$name]=$u
  # Up to 30 s: on a loaded machine (CI beside other work) the first
  # migration's fsyncs alone can take seconds.
  for ((i = 0; i < 600; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$u/is-alive") == 200 ]] && return 0
    sleep 0.05
  done
  fail "offerd $name: /is-alive never answered 200"
  exit 1
}

# stop_signal NAME SIGNAL LIMIT: sends SIGNAL, waits up to LIMIT+10 s;
# sets STOP_RC (the exit status, or "timeout") and STOP_SECS.
# shellcheck disable=SC2034 # STOP_RC and STOP_SECS are for the callers
stop_signal() {
  local name=$1 sig=$2 limit=$3 p=${PID[$1]:-} t0 t1
  [[ -n $p ]] || { STOP_RC=gone; STOP_SECS=0; return 0; }
  t0=$(now)
  kill "-$sig" "$p"
  if gone "$p" $((limit + 10)); then
    t1=$(now)
    wait "$p" 2>/dev/null
    STOP_RC=$?
  else
    t1=$(now)
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    STOP_RC=timeout
  fi
  STOP_SECS=$(secs "$t0" "$t1")
  PID[$name]=
}

# sql DBURL QUERY: rows as a|b lines.
sql() {
  case $1 in
    sqlite:*) timeout 20 sqlite3 -batch -separator '|' -cmd '.timeout 5000' "${1#sqlite:}" "$2" ;;
    *) timeout 20 psql -X -q -At -F '|' -v ON_ERROR_STOP=1 "$1" -c "$2" ;;
  esac
}

pg_admin=
pg_init() {
  if [[ -n ${OFFERD_TEST_PG_URL:-} && ${PROC_PG:-} != private ]]; then
    pg_admin=$OFFERD_TEST_PG_URL
  else
    [[ ${PROC_PG:-} == private ]] ||
      note "OFFERD_TEST_PG_URL is unset: starting a private PostgreSQL (scripts/pg.sh)"
    pg_private=1
    pg_admin=$(OFFERD_PG_STATE=$tmp/pg.state OFFERD_PG_OWNER_PID=$$ scripts/pg.sh start) ||
      { fail "scripts/pg.sh start failed"; exit 1; }
  fi
  timeout 20 psql -X -q -At "$pg_admin" -c 'SELECT 1' >/dev/null ||
    { fail "cannot connect to PostgreSQL at $pg_admin"; exit 1; }
}

# pg_new_db TAG: prints the URL of a fresh database, dropped at exit.
pg_new_db() {
  local name="offerd_t_${1}_$$_$RANDOM" base query
  timeout 30 psql -X -q "$pg_admin" -c "CREATE DATABASE \"$name\"" >/dev/null ||
    { fail "CREATE DATABASE $name failed"; exit 1; }
  pg_dbs+=("$name")
  base=${pg_admin%%\?*}
  query=${pg_admin#"$base"}
  echo "${base%/*}/$name$query"
}

# check_acked DESC DBURL PREFIX: every 200 in PREFIX.* is in tb_episodes.
# shellcheck disable=SC2034 # ACKED is for the callers
check_acked() {
  local desc=$1 db=$2 prefix=$3 n_ack n_missing n_bad
  cat "$prefix".* 2>/dev/null | awk '$2 == 200 { print $3 "|" $4 }' | sort -u >"$prefix.acked"
  n_ack=$(wc -l <"$prefix.acked")
  n_bad=$(grep -c '?' "$prefix.acked")
  sql "$db" "SELECT id, customer_id FROM tb_episodes" | sort -u >"$prefix.stored" ||
    { fail "$desc: cannot read tb_episodes"; return; }
  comm -23 "$prefix.acked" "$prefix.stored" >"$prefix.missing"
  n_missing=$(wc -l <"$prefix.missing")
  ACKED=$n_ack
  if [[ $n_ack -eq 0 ]]; then
    fail "$desc: no request was answered 200 (no load?)"
  elif [[ $n_bad -gt 0 ]]; then
    fail "$desc: $n_bad answers 200 without episode_id or customer_id"
  elif [[ $n_missing -gt 0 ]]; then
    fail "$desc: $n_missing of $n_ack acknowledged episodes are not in tb_episodes, e.g. $(head -n 3 "$prefix.missing" | tr '\n' ' ')"
  else
    ok "$desc: all $n_ack acknowledged episodes (id and customer_id) are in tb_episodes ($(wc -l <"$prefix.stored") rows)"
  fi
}

# statuses PREFIX: "200:N 503:N ..." over PREFIX.*
statuses() {
  cat "$1".[0-9]* 2>/dev/null | awk '{ n[$2]++ } END { for (s in n) printf "%s:%d ", s, n[s] }' | tr ' ' '\n' | sort | tr '\n' ' '
}
