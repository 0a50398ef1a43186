# shellcheck shell=bash
# scripts/free_port.sh — free_port: a loopback TCP port nothing listens on.
# Sourced by the tests and scripts that hand a port to a program that cannot
# bind port 0 and report it (PostgreSQL, chromedriver, uvicorn, nginx, an
# offerd whose --log-level hides the "listening on" line). offerd itself is
# started with --port 0 wherever its log is read.
#
# The port is drawn below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default): a test run's many
# outgoing connections (curl, wrk, libpq) take their local ports from that
# range, and one of them holding the port between this check and the bind was
# what made tests fail with "address already in use". Another program may
# still take the port first; callers that can, retry.
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
