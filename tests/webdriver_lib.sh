# WebDriver helpers shared by the *-browser tests (sourced; not a test itself,
# so the name does not end in .test.sh). Needs curl and jq.
# free_port comes from scripts/free_port.sh; wd_start sets wd (the driver's
# URL); the test sets sid once it has a session.

# wd_start LOG: chromedriver on a free loopback port (free_port),
# ready for commands; sets wd, dport and driver_pid, and returns 1 when it
# could not start. A port found free can be taken before chromedriver binds
# it (other tests or a benchmark on the machine): then chromedriver is
# started again on another port, up to five times.
wd_start() {
  local log=$1 _try _i
  for _try in 1 2 3 4 5; do
    dport=$(free_port) || return 1
    rm -f "$log"
    /usr/bin/chromedriver --port="$dport" --log-path="$log" >/dev/null 2>&1 &
    driver_pid=$!
    wd=http://127.0.0.1:$dport
    for _i in $(seq 100); do
      [[ $(curl -s -m 2 "$wd/status" | jq -r '.value.ready' 2>/dev/null) == true ]] && return 0
      kill -0 "$driver_pid" 2>/dev/null || break
      grep -q ERR_ADDRESS_IN_USE "$log" 2>/dev/null && break
      sleep 0.1
    done
    kill "$driver_pid" 2>/dev/null
    wait "$driver_pid" 2>/dev/null
  done
  return 1
}

# wdcall METHOD PATH [JSON]: one WebDriver command; prints its "value".
wdcall() {
  local out
  out=$(curl -s -m 60 -X "$1" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$wd$2") || return 1
  if jq -e '.value | type == "object" and has("error")' <<<"$out" >/dev/null 2>&1; then
    echo "webdriver $1 $2: $(jq -c .value <<<"$out" | cut -c1-400)" >&2
    return 1
  fi
  jq -c '.value' <<<"$out"
}

js() {  # js 'script' -> the script's return value, as JSON
  wdcall POST "/session/$sid/execute/sync" "$(jq -nc --arg s "$1" '{script: $s, args: []}')"
}
