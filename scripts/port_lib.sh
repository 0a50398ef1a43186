# shellcheck shell=bash
# scripts/port_lib.sh — where a test's or a benchmark's servers listen
# (sourced from the repository root, or by path):
#
#   listen_url LOG PID   the URL an offerd started with --port 0 logged
#                        ("listening on http://HOST:PORT"), once it is in LOG;
#                        waits up to 15 s while PID runs; 1 when PID exited
#                        first or the line never came
#   free_port            a loopback TCP port nothing listens on, for a program
#                        that cannot bind port 0 and report it (PostgreSQL,
#                        chromedriver, uvicorn, nginx, an offerd whose
#                        --log-level hides the "listening on" line)
#
# free_port draws below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default): a test run's many
# outgoing connections (curl, wrk, libpq) take their local ports from that
# range, and one of them holding the port between this check and the bind was
# what made tests fail with "address already in use". Another program may
# still take the port first; callers that can, retry.

listen_url() {
  local u i
  for ((i = 0; i < 300; i++)); do
    u=$(grep -ao 'listening on http://[0-9.]*:[0-9]*' "$1" 2>/dev/null | head -n 1 | cut -d' ' -f3)
    [[ -n $u ]] && { echo "$u"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

free_port() {
  local low p i
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  ((low > 11024)) || low=32768 # no room below the range: the old default
  for ((i = 0; i < 100; i++)); do
    p=$((10000 + RANDOM % (low - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
