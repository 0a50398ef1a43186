# WebDriver helpers shared by the *-browser tests (sourced; not a test itself,
# so the name does not end in .test.sh). Needs curl and jq.
# The test sets wd (the driver's URL, http://127.0.0.1:PORT) and, once it has
# a session, sid.

# wd_wait_ready: waits up to ~10 s until chromedriver at $wd says it is ready.
wd_wait_ready() {
  local _i
  for _i in $(seq 100); do
    [[ $(curl -s -m 2 "$wd/status" | jq -r '.value.ready' 2>/dev/null) == true ]] && return 0
    sleep 0.1
  done
  return 0
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
