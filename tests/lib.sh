# shellcheck shell=bash
# tests/lib.sh — shared helpers for the HTTP-level tests (tests/*.test.sh).
#
#   source "$(dirname "$0")/lib.sh"     # sets -uo pipefail, cd to the repo root
#   lib_deadline 120                    # the whole test fails after 120 s
#   url=$(...)                          # see below
#
# What it gives a test:
#   $build               absolute path of $OFFERD_BUILD (default build)
#   $LIB_TMP             a private temporary directory, deleted at exit
#                        (kept when OFFERD_TEST_KEEP=1)
#   fail MSG / ok MSG / note MSG     report; fail counts and the exit status is 1
#   lib_relay FILE       counts a helper program's "ok: "/"FAIL: " lines as checks
#   lib_done             prints the summary and exits 0, or 1 after any fail
#   offerd_start NAME DBURL [FLAGS...]
#                        starts build/offerd on 127.0.0.1 with a free port
#                        (--port 0), waits until GET /is-alive answers 200, and
#                        sets OFFERD_URL[NAME] and OFFERD_PID[NAME]; its log is
#                        $LIB_TMP/offerd-NAME.N.log (N counts restarts)
#   offerd_stop NAME     SIGTERM, waits (10 s) and checks the exit status is 0
#   lib_stop_all         stops every offerd this shell started (done at exit)
#   offerd_log NAME      path of NAME's current log
#   pg_setup             makes $OFFERD_TEST_PG_URL usable: when it is unset,
#                        starts PostgreSQL with scripts/pg.sh and stops it at exit
#   pg_new_db TAG VAR    CREATE DATABASE of a unique name; sets VAR to its URL;
#                        the database is dropped at exit
#   backend_db BACKEND TAG VAR   sqlite_new_db or pg_new_db, as BACKEND says
#   sqlite_new_db TAG VAR
#                        VAR=sqlite:$LIB_TMP/TAG.N.db
#   http METHOD URL [CURL-ARGS...]
#                        one request with curl (10 s at most); sets HTTP_STATUS
#                        (000 when there was no answer), HTTP_BODY and
#                        HTTP_HEADERS (a file); HTTP_REQ describes the request
#   header_value NAME    a header of the last answer (case-insensitive name)
#   expect_status N DESC | expect_jq EXPR DESC | expect_header NAME VALUE DESC
#                        assertions on the last answer; a failure prints the
#                        request and the answer
#   expect_eq GOT WANT DESC
#   sql DBURL QUERY      rows as "a|b|c" lines, with psql or sqlite3
#   db_count DBURL TABLE count with `offerctl db count`
#   key_create DBURL COMPANY   prints a new API key
#   kc_open NAME URL / kc_req NAME METHOD PATH [BODY] / kc_close NAME
#                        a keep-alive HTTP/1.1 client in pure bash (no fork per
#                        request) for loops of hundreds of requests; sets
#                        KC_STATUS and KC_BODY; JSON bodies only
#   free_port / listen_url LOG PID
#                        a loopback port nothing listens on, for a program that
#                        cannot bind port 0; the URL offerd --port 0 logged
#                        (scripts/port_lib.sh)
#   lib_on_exit CMD      runs CMD at exit (before the temporary files go)
#   lib_bg NAME CMD... / lib_bg_wait
#                        parts of a test in parallel (see below)
#
# Everything listens on and talks to 127.0.0.1 only.
set -uo pipefail
export LC_ALL=C TZ=UTC

LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$LIB_ROOT" || exit 2
source scripts/port_lib.sh # free_port, listen_url
build=${OFFERD_BUILD:-build}
[[ $build == /* ]] || build=$LIB_ROOT/$build
LIB_START=$(date +%s.%N)
LIB_FAILS=0
LIB_CHECKS=0
declare -ga LIB_FAIL_MSGS=()
LIB_NAME=$(basename "$0")
declare -gA OFFERD_URL=() OFFERD_PID=() OFFERD_LOG=() OFFERD_RUNS=()
declare -ga LIB_PG_DBS=() LIB_EXIT_HOOKS=()
LIB_PG_STARTED=0
LIB_WATCHDOG=
LIB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/offerd-test.XXXXXX") || { echo "FAIL: mktemp"; exit 2; }

fail() {
  LIB_FAILS=$((LIB_FAILS + 1))
  LIB_CHECKS=$((LIB_CHECKS + 1))
  LIB_FAIL_MSGS+=("$*")
  printf 'FAIL: %s\n' "$*"
}
# LIB_QUIET=1 ok ... (or LIB_QUIET=1 expect_...) counts the check without a line.
ok() {
  LIB_CHECKS=$((LIB_CHECKS + 1))
  [[ ${LIB_QUIET:-0} == 1 ]] || printf 'ok: %s\n' "$*"
}
note() { printf '%s\n' "$*"; }
# lib_relay FILE: a helper program's report (lines "ok: ...", "FAIL: ...",
# anything else a note) counted as this test's checks.
lib_relay() {
  local line
  while IFS= read -r line; do
    case $line in
      ok:*) ok "${line#ok: }" ;;
      FAIL:*) fail "${line#FAIL: }" ;;
      *) note "$line" ;;
    esac
  done <"$1"
}
# Ends the test at once (for failures that make the rest meaningless).
die() {
  fail "$*"
  exit 1
}

lib_elapsed() { awk -v a="$LIB_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

lib_on_exit() { LIB_EXIT_HOOKS+=("$1"); }

lib_require() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 ||
      die "$c is missing (scripts/deps.sh --test installs the test tools)"
  done
}

# Ends the test: exit 0 when every check passed, else 1. The summary is
# printed last, after the servers' logs (lib_cleanup), so that the end of the
# output says what failed.
lib_done() {
  lib_not_found_fails
  [[ $LIB_FAILS -gt 0 ]] && exit 1
  exit 0
}

# A misspelt helper or a missing tool must fail the test, not print one line
# and go on: bash runs this handler in a subshell, so it leaves a file that
# lib_done turns into failures.
command_not_found_handle() {
  printf '%s\n' "$1" >>"$LIB_TMP/not-found"
  printf 'FAIL: command not found: %s\n' "$1" >&2
  return 127
}
lib_not_found_fails() {
  local c
  [[ -s $LIB_TMP/not-found ]] || return 0
  while IFS= read -r c; do fail "command not found: $c"; done <"$LIB_TMP/not-found"
  : >"$LIB_TMP/not-found"
}

lib_summary() {
  local m
  echo
  if [[ $LIB_FAILS -gt 0 ]]; then
    echo "$LIB_NAME: $LIB_FAILS of $LIB_CHECKS checks FAILED ($(lib_elapsed) s):"
    for m in "${LIB_FAIL_MSGS[@]}"; do
      printf '  FAIL: %s\n' "${m:0:400}"
    done
  elif [[ ${1:-0} -eq 0 ]]; then
    echo "$LIB_NAME: all $LIB_CHECKS checks passed ($(lib_elapsed) s)"
  else
    echo "$LIB_NAME: exit status $1 after $LIB_CHECKS checks ($(lib_elapsed) s)"
  fi
}

# --- cleanup ------------------------------------------------------------------

# Stops every offerd this shell started (SIGTERM, then SIGKILL after 10 s).
lib_stop_all() {
  local name
  for name in "${!OFFERD_PID[@]}"; do
    [[ -n ${OFFERD_PID[$name]} ]] || continue
    kill -TERM "${OFFERD_PID[$name]}" 2>/dev/null
  done
  for name in "${!OFFERD_PID[@]}"; do
    [[ -n ${OFFERD_PID[$name]} ]] || continue
    lib_wait_gone "${OFFERD_PID[$name]}" 10 || kill -KILL "${OFFERD_PID[$name]}" 2>/dev/null
    wait "${OFFERD_PID[$name]}" 2>/dev/null
    OFFERD_PID[$name]=
  done
}

lib_cleanup() {
  local rc=$? h pid
  trap - EXIT TERM INT
  for h in "${LIB_EXIT_HOOKS[@]}"; do
    eval "$h" || true
  done
  for pid in "${LIB_BG_PIDS[@]}"; do
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
  done
  local k
  for ((k = 0; k < ${#LIB_BG_PIDS[@]}; k++)); do
    [[ -n ${LIB_BG_PIDS[$k]} ]] || continue
    wait "${LIB_BG_PIDS[$k]}" 2>/dev/null
    # A part that did not finish: what it did so far.
    echo "--- output of the unfinished part ${LIB_BG_NAMES[$k]} ---"
    tail -n 30 "$LIB_TMP/bg-${LIB_BG_NAMES[$k]}.out" 2>/dev/null
    LIB_FAILS=$((LIB_FAILS + 1))
    LIB_CHECKS=$((LIB_CHECKS + 1))
    LIB_FAIL_MSGS+=("part ${LIB_BG_NAMES[$k]} did not finish")
  done
  lib_stop_all
  lib_not_found_fails
  [[ $rc -eq 0 && $LIB_FAILS -gt 0 ]] && rc=1
  if [[ $rc -ne 0 ]]; then
    # The server's side of the story, for whoever reads the failure.
    local f
    for f in "$LIB_TMP"/offerd-*.log; do
      [[ -f $f ]] || continue
      echo "--- last lines of $(basename "$f") ---"
      tail -n 8 "$f"
    done
  fi
  if [[ ${#LIB_PG_DBS[@]} -gt 0 && -n ${OFFERD_TEST_PG_URL:-} ]]; then
    local db
    for db in "${LIB_PG_DBS[@]}"; do
      timeout 20 psql -X -q "$OFFERD_TEST_PG_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
        >/dev/null 2>&1 ||
        timeout 20 psql -X -q "$OFFERD_TEST_PG_URL" -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1
    done
  fi
  if [[ $LIB_PG_STARTED -eq 1 ]]; then
    OFFERD_PG_OWNER_PID=$$ timeout 60 scripts/pg.sh stop >/dev/null 2>&1
  fi
  if [[ -n $LIB_WATCHDOG ]]; then
    kill -TERM "$LIB_WATCHDOG" 2>/dev/null
    wait "$LIB_WATCHDOG" 2>/dev/null
  fi
  if [[ ${OFFERD_TEST_KEEP:-0} == 1 ]]; then
    echo "kept $LIB_TMP"
  else
    rm -rf -- "$LIB_TMP"
  fi
  [[ $rc -eq 0 && $LIB_FAILS -gt 0 ]] && rc=1
  lib_summary "$rc"
  exit "$rc"
}
trap lib_cleanup EXIT
trap 'fail "$LIB_NAME was interrupted"; exit 1' INT
trap 'fail "$LIB_NAME ran out of time (lib_deadline) or was terminated"; exit 1' TERM

# Fails the whole test (SIGTERM to this shell) after SECONDS.
lib_deadline() {
  local secs=$1 me=$$
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$secs" &
    s=$!
    wait "$s"
    echo "FAIL: $LIB_NAME did not finish within $secs s" >&2
    kill -TERM "$me"
  ) &
  LIB_WATCHDOG=$!
}

# --- parts in parallel ----------------------------------------------------------------
# lib_bg NAME CMD...  runs CMD in a background subshell with its own temporary
#                     directory ($LIB_TMP/bg-NAME), counting its own checks and
#                     stopping its own offerd processes when it ends;
# lib_bg_wait         waits for every part, prints their outputs in the order
#                     they were started, and adds their checks and failures up.
# Start PostgreSQL (pg_setup) and create databases (pg_new_db) before lib_bg,
# so that the main shell drops them and stops the server.
declare -ga LIB_BG_NAMES=() LIB_BG_PIDS=()

lib_bg() {
  local name=$1
  shift
  mkdir -p "$LIB_TMP/bg-$name" || die "mkdir $LIB_TMP/bg-$name"
  (
    LIB_TMP=$LIB_TMP/bg-$name
    HTTP_HEADERS=$LIB_TMP/headers
    LIB_FAILS=0 LIB_CHECKS=0 LIB_FAIL_MSGS=() LIB_EXIT_HOOKS=() LIB_PG_DBS=() LIB_PG_STARTED=0
    LIB_WATCHDOG="" LIB_BG_PIDS=() LIB_BG_NAMES=()
    OFFERD_PID=() OFFERD_URL=() OFFERD_LOG=() OFFERD_RUNS=() KC_FD=() KC_HOSTPORT=()
    trap lib_bg_exit EXIT
    trap 'fail "interrupted"; exit 1' TERM INT
    "$@"
  ) >"$LIB_TMP/bg-$name.out" 2>&1 &
  LIB_BG_NAMES+=("$name")
  LIB_BG_PIDS+=("$!")
}

lib_bg_exit() {
  local rc=$? f
  trap - EXIT TERM INT
  lib_stop_all
  if [[ $rc -ne 0 ]]; then
    for f in "$LIB_TMP"/offerd-*.log; do
      [[ -f $f ]] || continue
      echo "--- last lines of $(basename "$f") ---"
      tail -n 8 "$f"
    done
  fi
  echo "$LIB_FAILS $LIB_CHECKS" >"$LIB_TMP.counts"
  [[ ${#LIB_FAIL_MSGS[@]} -gt 0 ]] && printf '%s\n' "${LIB_FAIL_MSGS[@]}" >"$LIB_TMP.fails"
  exit "$rc"
}

lib_bg_wait() {
  local k name pid rc f c m
  for ((k = 0; k < ${#LIB_BG_PIDS[@]}; k++)); do
    name=${LIB_BG_NAMES[$k]}
    pid=${LIB_BG_PIDS[$k]}
    wait "$pid"
    rc=$?
    LIB_BG_PIDS[$k]=
    cat "$LIB_TMP/bg-$name.out"
    f=0 c=0
    [[ -f $LIB_TMP/bg-$name.counts ]] && read -r f c <"$LIB_TMP/bg-$name.counts"
    LIB_FAILS=$((LIB_FAILS + f))
    LIB_CHECKS=$((LIB_CHECKS + c))
    if [[ -f $LIB_TMP/bg-$name.fails ]]; then
      while IFS= read -r m; do LIB_FAIL_MSGS+=("$m"); done <"$LIB_TMP/bg-$name.fails"
    fi
    [[ $rc -eq 0 || $f -gt 0 ]] || fail "part $name ended with status $rc"
  done
  LIB_BG_PIDS=()
  LIB_BG_NAMES=()
}

# Waits until PID is gone; returns 1 after SECONDS.
lib_wait_gone() {
  local pid=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}

# --- offerd processes -----------------------------------------------------------

offerd_log() { echo "${OFFERD_LOG[$1]}"; }

offerd_start() {
  local name=$1 db=$2 i u=
  shift 2
  [[ -x $build/offerd ]] || die "$build/offerd is not built (make build)"
  [[ -z ${OFFERD_PID[$name]:-} ]] || die "offerd_start $name: already running"
  OFFERD_RUNS[$name]=$((${OFFERD_RUNS[$name]:-0} + 1))
  local log="$LIB_TMP/offerd-$name.${OFFERD_RUNS[$name]}.log"
  OFFERD_LOG[$name]=$log
  "$build/offerd" --host 127.0.0.1 --port 0 --database-url "$db" "$@" </dev/null >"$log" 2>&1 &
  OFFERD_PID[$name]=$!
  if ! u=$(listen_url "$log" "${OFFERD_PID[$name]}"); then
    if ! kill -0 "${OFFERD_PID[$name]}" 2>/dev/null; then
      wait "${OFFERD_PID[$name]}" 2>/dev/null
      OFFERD_PID[$name]=
      echo "offerd $name exited at start; its log:"
      cat "$log"
      die "offerd $name ($db $*) did not start"
    fi
    cat "$log"
    die "offerd $name printed no 'listening on' line within 15 s"
  fi
  OFFERD_URL[$name]=$u
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$u/is-alive") == 200 ]] && return 0
    sleep 0.05
  done
  die "offerd $name at $u: GET /is-alive never answered 200"
}

# Stops NAME with SIGTERM and checks it exits 0 within 10 s (offerd commits
# what is queued first).
offerd_stop() {
  local name=$1 pid=${OFFERD_PID[$1]:-} rc
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  if ! lib_wait_gone "$pid" 10; then
    kill -KILL "$pid" 2>/dev/null
    fail "offerd $name did not stop within 10 s of SIGTERM (killed)"
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  OFFERD_PID[$name]=
  [[ $rc -eq 0 ]] || fail "offerd $name exited with status $rc after SIGTERM (expected 0); log $(offerd_log "$name")"
  return 0
}

# --- databases --------------------------------------------------------------------

pg_setup() {
  lib_require psql
  if [[ -z ${OFFERD_TEST_PG_URL:-} ]]; then
    note "OFFERD_TEST_PG_URL is unset: starting PostgreSQL with scripts/pg.sh"
    OFFERD_TEST_PG_URL=$(OFFERD_PG_OWNER_PID=$$ scripts/pg.sh start) ||
      die "scripts/pg.sh start failed: no PostgreSQL for the tests"
    LIB_PG_STARTED=1
    export OFFERD_TEST_PG_URL
  fi
  timeout 20 psql -X -q -At "$OFFERD_TEST_PG_URL" -c 'SELECT 1' >/dev/null ||
    die "cannot connect to PostgreSQL at $OFFERD_TEST_PG_URL"
}

# pg_new_db TAG VAR: a fresh database on the test server, dropped at exit.
pg_new_db() {
  local tag=$1 var=$2 name base query
  name="offerd_t_${tag}_$$_${RANDOM}${RANDOM}"
  name=$(tr -c 'a-z0-9_\n' '_' <<<"${name,,}")
  timeout 30 psql -X -q "$OFFERD_TEST_PG_URL" -c "CREATE DATABASE \"$name\"" >/dev/null ||
    die "CREATE DATABASE $name failed on $OFFERD_TEST_PG_URL"
  LIB_PG_DBS+=("$name")
  base=${OFFERD_TEST_PG_URL%%\?*}
  query=${OFFERD_TEST_PG_URL#"$base"}
  printf -v "$var" '%s/%s%s' "${base%/*}" "$name" "$query"
}

LIB_SQLITE_N=0
sqlite_new_db() {
  LIB_SQLITE_N=$((LIB_SQLITE_N + 1))
  printf -v "$2" 'sqlite:%s/%s.%d.db' "$LIB_TMP" "$1" "$LIB_SQLITE_N"
}

# backend_db BACKEND TAG VAR: a fresh database on BACKEND, as
# OFFERD_TEST_BACKENDS names them (sqlite, or pg/postgresql); sets VAR.
backend_db() {
  case $1 in
    sqlite) sqlite_new_db "$2" "$3" ;;
    pg | postgresql) pg_setup; pg_new_db "$2" "$3" ;;
    *) die "OFFERD_TEST_BACKENDS: unknown backend $1" ;;
  esac
}

# sql DBURL QUERY: prints the rows, columns separated by "|".
sql() {
  local db=$1 q=$2
  case $db in
    sqlite:*)
      lib_require sqlite3
      sqlite3 -batch -bail -separator '|' -cmd '.timeout 5000' "${db#sqlite:}" "$q"
      ;;
    postgres://* | postgresql://*)
      timeout 20 psql -X -q -At -F '|' -v ON_ERROR_STOP=1 "$db" -c "$q"
      ;;
    *) fail "sql: unknown database URL $db"; return 1 ;;
  esac
}

db_count() {
  timeout 30 "$build/offerctl" db count "$2" --database-url "$1" 2>/dev/null | tr -dc '0-9'
}

key_create() { # DB COMPANY [ROLE]: prints a new key (a client key unless ROLE is admin)
  local k
  k=$(timeout 30 "$build/offerctl" keys create --company "$2" --role "${3:-client}" \
    --database-url "$1" 2>/dev/null) ||
    die "offerctl keys create --company $2 --role ${3:-client} failed"
  [[ -n $k ]] || die "offerctl keys create --company $2 printed no key"
  echo "$k"
}

# --- one request with curl -------------------------------------------------------------

HTTP_STATUS=
HTTP_BODY=
HTTP_HEADERS=$LIB_TMP/headers
HTTP_REQ=
http() {
  local method=$1 url=$2
  shift 2
  local args=(-sS --max-time 10 -o "$LIB_TMP/body" -D "$HTTP_HEADERS" -w '%{http_code}')
  if [[ $method == HEAD ]]; then args+=(--head); else args+=(-X "$method"); fi
  HTTP_REQ="$method $url"
  : >"$LIB_TMP/body"
  : >"$HTTP_HEADERS"
  HTTP_STATUS=$(curl "${args[@]}" "$@" "$url" 2>"$LIB_TMP/curl.err")
  [[ -n $HTTP_STATUS ]] || HTTP_STATUS=000
  HTTP_BODY=
  IFS= read -r -d '' HTTP_BODY <"$LIB_TMP/body"
  if [[ $HTTP_STATUS == 000 ]]; then
    local err=
    IFS= read -r -d '' err <"$LIB_TMP/curl.err"
    HTTP_BODY="(no answer: ${err//$'\n'/ })"
  fi
  return 0
}

# The last value of header NAME in the last answer: printed, or with -v VAR
# stored in VAR (then no process is started).
header_value() {
  local _var=
  if [[ $1 == -v ]]; then _var=$2; shift 2; fi
  local want=${1,,} line k v=
  while IFS= read -r line; do
    line=${line%$'\r'}
    [[ $line == *:* ]] || continue
    k=${line%%:*}
    if [[ ${k,,} == "$want" ]]; then
      v=${line#*:}
      v=${v#"${v%%[! $'\t']*}"}
    fi
  done <"$HTTP_HEADERS"
  if [[ -n $_var ]]; then printf -v "$_var" '%s' "$v"; else printf '%s' "$v"; fi
}

lib_show_answer() {
  printf '      request: %s\n' "$HTTP_REQ"
  printf '      answer:  %s %s\n' "$HTTP_STATUS" "${HTTP_BODY:0:600}"
}

expect_status() {
  if [[ $HTTP_STATUS == "$1" ]]; then
    ok "$2 (status $1)"
    return 0
  fi
  fail "$2: expected status $1, got $HTTP_STATUS"
  lib_show_answer
  return 1
}

# expect_jq EXPR DESC [JQ-ARGS...]: EXPR on the last body must give true.
expect_jq() {
  local expr=$1 desc=$2 out
  shift 2
  out=$(jq -e "$@" "$expr" <<<"$HTTP_BODY" 2>&1)
  if [[ $? -eq 0 && $out == true ]]; then
    ok "$desc"
    return 0
  fi
  fail "$desc: expected jq '$expr' to be true, got: ${out:0:300}"
  lib_show_answer
  return 1
}

expect_header() {
  local got
  header_value -v got "$1"
  if [[ $got == "$2" ]]; then
    ok "$3 ($1: $2)"
    return 0
  fi
  fail "$3: expected header '$1: $2', got '${got:-<none>}'"
  lib_show_answer
  return 1
}

expect_eq() {
  if [[ $1 == "$2" ]]; then
    ok "$3"
    return 0
  fi
  fail "$3: expected '$2', got '$1'"
  return 1
}

# --- keep-alive client (pure bash) --------------------------------------------------

declare -gA KC_FD=() KC_HOSTPORT=()
KC_STATUS=
KC_BODY=

kc_open() {
  local name=$1 hp=${2#http://} fd
  hp=${hp%%/*}
  KC_HOSTPORT[$name]=$hp
  exec {fd}<>"/dev/tcp/${hp%:*}/${hp##*:}" || { fail "kc_open: cannot connect to $hp"; return 1; }
  KC_FD[$name]=$fd
}

kc_close() {
  local fd=${KC_FD[$1]:-}
  [[ -n $fd ]] && exec {fd}>&-
  KC_FD[$1]=
}

# One attempt: 0 = answered, 1 = the connection was closed before an answer.
kc_try() {
  local fd=$1 method=$2 path=$3 body=$4 line len=0 k v req
  # One write() per request: bash's echo writes up to the last newline at
  # once, so a body ends with one (JSON allows it). Two writes would meet
  # Nagle's algorithm and the server's delayed ACK: 40 ms per request.
  [[ -n $body ]] && body+=$'\n'
  printf -v req '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$method" "$path" "$5" "${#body}" "$body"
  echo -n "$req" 1>&"$fd" 2>/dev/null || return 1
  IFS= read -r -t 10 line <&"$fd" || return 1
  line=${line%$'\r'}
  [[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] || return 1
  KC_STATUS=${BASH_REMATCH[1]}
  while IFS= read -r -t 10 line <&"$fd"; do
    line=${line%$'\r'}
    [[ -z $line ]] && break
    k=${line%%:*}
    v=${line#*:}
    v=${v# }
    [[ ${k,,} == content-length ]] && len=$v
  done
  KC_BODY=
  if [[ $len -gt 0 ]]; then
    IFS= read -r -N "$len" -t 10 KC_BODY <&"$fd" || return 1
  fi
  return 0
}

# kc_req NAME METHOD PATH [BODY]; reconnects once when the server had closed
# the connection. Sets KC_STATUS (000 when there was no answer) and KC_BODY.
kc_req() {
  local name=$1 method=$2 path=$3 body=${4:-}
  KC_STATUS=000
  KC_BODY=
  if [[ -n ${KC_FD[$name]:-} ]] && kc_try "${KC_FD[$name]}" "$method" "$path" "$body" "${KC_HOSTPORT[$name]}"; then
    return 0
  fi
  kc_close "$name"
  kc_open "$name" "${KC_HOSTPORT[$name]}" || return 1
  kc_try "${KC_FD[$name]}" "$method" "$path" "$body" "${KC_HOSTPORT[$name]}" && return 0
  KC_STATUS=000
  return 1
}
