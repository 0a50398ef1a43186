# shellcheck shell=bash
# WebDriver helpers shared by the *-browser tests (sourced from the repository
# root; not a test itself, so the name does not end in .test.sh): Debian's
# headless Chromium driven through chromedriver's W3C WebDriver API with curl
# and jq, no npm package and no browser download. Needs curl and jq.
#
#   wd_need_chromium     Chromium and chromedriver are there (installed from
#                        Debian's packages when missing and running as root);
#                        1, with the reason on stderr, when they cannot be
#   wd_start LOG         chromedriver on a free port; sets wd, dport, driver_pid
#   wd_session DIR SIZE [CAPS]
#                        a Chromium session with its profile in DIR and window
#                        SIZE (e.g. 1280,1600); CAPS, a JSON object, is merged
#                        into the capabilities (jq's *: prefs, loggingPrefs);
#                        sets sid; 1 when Chromium did not start
#   wd_stop              ends the session and chromedriver (for the test's exit)
#   wdcall METHOD PATH [JSON]   one WebDriver command; prints its "value"
#   js 'script'          the script's return value, as JSON
#   until_js 'script' SECONDS   until the script returns true; 1 on timeout
#   wd_open URL          navigates
#   element CSS / click CSS / type_into CSS TEXT
#                        the first match's WebDriver id; a real click (scrolled
#                        into view); clearing a field, then real key strokes
#   wd_screenshot FILE   the page as a PNG
source scripts/port_lib.sh # free_port
source scripts/apt_lib.sh # apt_install
sid=
wd=
driver_pid=

wd_need_chromium() {
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] ||
    apt_install "the browser tests" chromium chromium-driver
}

# A port found free can be taken before chromedriver binds it (other tests or
# a benchmark on the machine): then chromedriver is started again on another
# port, up to five times.
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
  driver_pid=
  return 1
}

wd_session() {
  local caps
  caps=$(jq -nc --arg dir "$1" --arg size "$2" --argjson extra "${3:-{\}}" '{capabilities: {alwaysMatch: ({
    browserName: "chrome",
    "goog:chromeOptions": {binary: "/usr/bin/chromium", args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage", ("--window-size=" + $size), ("--user-data-dir=" + $dir)]}} * $extra)}}') ||
    return 1
  sid=$(wdcall POST /session "$caps" | jq -r '.sessionId') || sid=
  [[ -n $sid && $sid != null ]] || { sid=; return 1; }
}

wd_stop() {
  [[ -n $sid ]] && curl -s -m 5 -X DELETE "$wd/session/$sid" >/dev/null 2>&1
  sid=
  if [[ -n $driver_pid ]]; then
    kill "$driver_pid" 2>/dev/null
    wait "$driver_pid" 2>/dev/null
  fi
  driver_pid=
}

wdcall() {
  local out
  out=$(curl -s -m 60 -X "$1" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$wd$2") || return 1
  if jq -e '.value | type == "object" and has("error")' <<<"$out" >/dev/null 2>&1; then
    echo "webdriver $1 $2: $(jq -c .value <<<"$out" | cut -c1-400)" >&2
    return 1
  fi
  jq -c '.value' <<<"$out"
}

js() {
  wdcall POST "/session/$sid/execute/sync" "$(jq -nc --arg s "$1" '{script: $s, args: []}')"
}

until_js() {
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    [[ $(js "$1" 2>/dev/null) == true ]] && return 0
    sleep 0.25
  done
  return 1
}

wd_open() { wdcall POST "/session/$sid/url" "$(jq -nc --arg u "$1" '{url: $u}')" >/dev/null; }

element() {
  wdcall POST "/session/$sid/element" "$(jq -nc --arg v "$1" '{using: "css selector", value: $v}')" |
    jq -r 'to_entries[0].value'
}

click() {
  local eid
  eid=$(element "$1") || return 1
  wdcall POST "/session/$sid/element/$eid/click" '{}' >/dev/null
}

type_into() {
  local eid
  eid=$(element "$1") || return 1
  wdcall POST "/session/$sid/element/$eid/clear" '{}' >/dev/null || return 1
  [[ -z $2 ]] || wdcall POST "/session/$sid/element/$eid/value" "$(jq -nc --arg t "$2" '{text: $t}')" >/dev/null
}

wd_screenshot() { wdcall GET "/session/$sid/screenshot" | jq -r . | base64 -d >"$1" 2>/dev/null; }
