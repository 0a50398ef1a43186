#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and benchmarks.
#   scripts/pg.sh start [--port N]  start one (or find the running one); print its URL
#   scripts/pg.sh url               print the running server's URL (exit 1 if none)
#   scripts/pg.sh stop [--all]      release it; the last user stops it and deletes
#                                   its directory (--all: stop it whoever uses it)
#   scripts/pg.sh down | up         stop / start it again keeping its data and port
#                                   (the store tests use these to test reconnects)
# The server lives in a fresh `mktemp -d` directory, listens on 127.0.0.1 on a
# free port with its unix socket in that directory, trusts local connections,
# and keeps fsync on so benchmarks measure real commits. It has a database
# `offerd_test`; the URL is postgresql://postgres@127.0.0.1:PORT/offerd_test.
#
# PostgreSQL refuses to run as root, and CI runs as root: then the server runs
# as the `postgres` user that the Debian package creates (via runuser).
# State (directory, port, users) is kept in $OFFERD_PG_STATE, default
# /tmp/offerd-pg.state, so that `stop` and `url` find the server. Runs that
# must not share a server set OFFERD_PG_STATE to a file of their own.
#
# Several engineers run `make test` in one tree at once, so the default
# server is shared: start and stop hold a lock ($state.lock), `start`
# records the calling process as a user, and `stop` removes it and stops the
# server only when no live user remains. A user that died without `stop`
# does not count. The user is $OFFERD_PG_OWNER_PID, or else the parent of
# this script: call it directly (url=$(scripts/pg.sh start) in run-tests.sh)
# rather than through a short-lived subshell, or set OFFERD_PG_OWNER_PID.
# `down`/`up` disturb every user: use them on a server of your own.
set -euo pipefail

state=${OFFERD_PG_STATE:-/tmp/offerd-pg.state}
caller=${OFFERD_PG_OWNER_PID:-$PPID}
[[ "$caller" =~ ^[0-9]+$ ]] || caller=$PPID
here=$(cd "$(dirname "$0")" && pwd)
dbname=offerd_test

die() { echo "pg.sh: $*" >&2; exit 1; }

# The newest installed server's binaries, installing PostgreSQL when missing.
find_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$d" || ! -x "$d/initdb" ]]; then
    echo "pg.sh: PostgreSQL server not found; installing it" >&2
    "$here/deps.sh" --test >&2 || die "could not install PostgreSQL (run scripts/deps.sh --test as root)"
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$d" && -x "$d/initdb" ]] || die "no initdb under /usr/lib/postgresql/*/bin"
  fi
  echo "$d"
}

# Deletes a server directory, and only that: the path comes from a state file
# in /tmp, which must not be able to point rm -rf anywhere else.
remove_dir() {
  case "$1" in
    */offerd-pg.??????) rm -rf -- "$1" ;;
    *) echo "pg.sh: not deleting unexpected directory '$1'" >&2 ;;
  esac
}

# Runs a server-side command as the server's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port nobody listens on. Another process may take it before the server
# does; start() then retries with another one.
# shellcheck source=scripts/port_lib.sh
source "$here/port_lib.sh" # free_port

# Serialises start and stop between concurrent callers.
lock() {
  exec 9>>"$state.lock"
  flock -w 120 9 || die "timed out waiting for $state.lock"
}

# Reads the state file into $dir, $port and $users; returns 1 when there is none.
load_state() {
  dir=
  port=
  users=()
  [[ -f "$state" ]] || return 1
  local k v
  while IFS='=' read -r k v; do
    case "$k" in
      dir) dir=$v ;;
      port) port=$v ;;
      user) [[ "$v" =~ ^[0-9]+$ ]] && users+=("$v") ;;
    esac
  done <"$state"
  [[ -n "$dir" && -n "$port" ]]
}

# Writes $dir, $port and the live $users (atomically: readers never see half).
save_state() {
  local u
  {
    printf 'dir=%s\nport=%s\n' "$dir" "$port"
    for u in "${users[@]}"; do
      [[ -d /proc/$u ]] && printf 'user=%s\n' "$u"
    done
  } >"$state.tmp"
  mv -f "$state.tmp" "$state"
}

# The live users other than $1.
others() {
  local u
  for u in "${users[@]}"; do
    [[ "$u" != "$1" && -d /proc/$u ]] && echo "$u"
  done
  return 0
}

running() {
  [[ -d "$dir/data" ]] && as_owner "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

print_url() {
  echo "postgresql://postgres@127.0.0.1:$port/$dbname"
}

# Starts the server in $dir on $port; returns non-zero when it did not come up.
# The server must not inherit the lock's descriptor, or it would hold the
# lock for its whole life.
server_start() {
  as_owner "$bin/pg_ctl" start -w -t 30 -D "$dir/data" -l "$dir/server.log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" >/dev/null 9>&-
}

cmd_start() {
  local want_port=
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) [[ $# -ge 2 ]] || die "--port needs a number"; want_port=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ -z "$want_port" || "$want_port" =~ ^[0-9]+$ ]] || die "bad port: $want_port"
  bin=$(find_bin)
  lock
  if load_state; then
    if running; then
      users+=("$caller")
      save_state
      print_url
      return 0
    fi
    # A stale state file (a reboot, a killed run): forget it.
    remove_dir "$dir"
    rm -f -- "$state"
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "user postgres missing (it comes with the postgresql package)"
  fi
  # As root the server's owner must reach the directory: /tmp, not a
  # $TMPDIR that may sit under /root.
  local parent=${TMPDIR:-/tmp}
  [[ $(id -u) -eq 0 ]] && parent=/tmp
  dir=$(mktemp -d "$parent/offerd-pg.XXXXXX")
  chmod 700 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  # --no-sync only skips initdb's own final sync of a throwaway cluster;
  # the server itself keeps fsync on.
  if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
      --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    remove_dir "$dir"
    die "initdb failed"
  fi
  local tries=0
  while :; do
    port=$want_port
    [[ -n $port ]] || port=$(free_port) || die "no free port found"
    if server_start; then
      break
    fi
    tries=$((tries + 1))
    if [[ -n "$want_port" || $tries -ge 5 ]]; then
      tail -n 20 "$dir/server.log" >&2 || true
      remove_dir "$dir"
      die "server did not start (port $port)"
    fi
  done
  users=("$caller")
  save_state
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$dbname" ||
    die "createdb failed; server log: $dir/server.log"
  print_url
}

cmd_stop() {
  local all=0 left
  [[ "${1:-}" == "--all" ]] && all=1
  bin=$(find_bin)
  lock
  load_state || return 0
  left=$(others "$caller")
  if [[ $all -eq 0 && -n "$left" ]]; then
    mapfile -t users <<<"$left"
    save_state
    echo "pg.sh: server still used by pid(s) ${users[*]}; left running (stop --all stops it)" >&2
    return 0
  fi
  if running; then
    as_owner "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null || true
  fi
  remove_dir "$dir"
  rm -f -- "$state"
}

cmd_url() {
  bin=$(find_bin)
  load_state || die "no server (run scripts/pg.sh start)"
  running || die "server in $dir is not running"
  print_url
}

cmd_down() {
  bin=$(find_bin)
  load_state || die "no server (run scripts/pg.sh start)"
  running || return 0
  as_owner "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null
}

cmd_up() {
  bin=$(find_bin)
  load_state || die "no server (run scripts/pg.sh start)"
  running && return 0
  server_start || die "server did not start again; log: $dir/server.log"
}

[[ $# -ge 1 ]] || die "usage: pg.sh start [--port N] | stop [--all] | url | down | up"
cmd=$1
shift
case "$cmd" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  url) cmd_url ;;
  down) cmd_down ;;
  up) cmd_up ;;
  *) die "usage: pg.sh start [--port N] | stop [--all] | url | down | up" ;;
esac
