#!/usr/bin/env bash
# /docs in a real browser, offline: Debian's headless Chromium, driven through
# chromedriver's W3C WebDriver API with curl and jq (no npm package, no
# browser download), loads /docs from a running offerd, and
#  - every operation of share/openapi.json renders,
#  - the page fetched nothing but offerd's own URLs,
#  - "Try it out" → Execute on GET /is-alive shows a 200 and the brief's answer.
# A screenshot is left in $OFFERD_BUILD/tests/docs-browser.png.
#
# Exit 77 (skipped) only when $OFFERD_BUILD/offerd does not exist or does not
# serve /docs yet; any other problem fails.
# Runs from the repository root with $OFFERD_BUILD (scripts/run-tests.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
build=${OFFERD_BUILD:-build}
bin=$build/offerd
doc=share/openapi.json
shot=$build/tests/docs-browser.png

[[ -x $bin ]] || { echo "SKIP: $bin does not exist (make build)"; exit 77; }
command -v jq >/dev/null && command -v curl >/dev/null ||
  { echo "FAIL: curl and jq are needed: scripts/deps.sh --test installs them"; exit 1; }

source "$(dirname "$0")/webdriver_lib.sh" # wd_*, wdcall, js, until_js, click
wd_need_chromium || { echo "FAIL: Chromium is not available (see above)"; exit 1; }

tmp=$(mktemp -d)
server_pid=
cleanup() {
  wd_stop
  [[ -z $server_pid ]] || { kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; }
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- offerd ------------------------------------------------------------------
# --port 0: offerd binds a port of its own and logs it (listen_url), so no
# other program can take the port between a check and the bind.
args=(--host 127.0.0.1 --port 0 --database-url "sqlite:$tmp/offerd.db")
# --auth off: the docs page calls /is-alive only, which is public anyway, but
# the flag keeps "Try it out" usable on every route. Older builds lack it.
[[ $("$bin" --help 2>&1) == *--auth* ]] && args+=(--auth off)
echo "starting: $bin ${args[*]}"
"$bin" "${args[@]}" >"$tmp/offerd.log" 2>&1 &
server_pid=$!
base=$(listen_url "$tmp/offerd.log" "$server_pid")
for _ in $(seq 100); do
  [[ -n $base ]] || break
  curl -sf -m 2 -o /dev/null "$base/is-alive" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -sf -m 2 -o /dev/null "$base/is-alive"; then
  echo "FAIL: offerd did not answer /is-alive; its log:"
  cat "$tmp/offerd.log"
  exit 1
fi
code=$(curl -s -m 5 -o "$tmp/docs.html" -w '%{http_code}' "$base/docs")
if [[ $code != 200 ]]; then
  echo "SKIP: offerd does not serve /docs yet (HTTP $code)"
  exit 77
fi

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Plain HTTP first: what the browser is about to load.
curl -s -m 5 "$base/openapi.json" | jq -S . >"$tmp/served.json" 2>/dev/null
if jq -S . "$doc" | cmp -s - "$tmp/served.json"; then ok "/openapi.json is share/openapi.json"
else fail "/openapi.json differs from share/openapi.json"; fi
for a in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png; do
  c=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{content_type}' "$base/docs/assets/$a")
  [[ $c == 200* ]] && ok "/docs/assets/$a: $c" || fail "/docs/assets/$a: $c"
done

# --- chromedriver + Chromium -------------------------------------------------
wd_start "$tmp/chromedriver.log" || { echo "FAIL: chromedriver did not start"; tail -n 30 "$tmp/chromedriver.log"; exit 1; }
if ! wd_session "$tmp/profile" 1280,1800; then
  echo "FAIL: Chromium did not start; chromedriver's log:"
  tail -n 30 "$tmp/chromedriver.log"
  exit 1
fi
ok "Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') started"

wd_open "$base/docs" || fail "could not open $base/docs"

# Every operation of the document, as Swagger UI names its block:
# operations-<first tag>-<operationId>.
mapfile -t want < <(jq -r '.paths[][] | objects | select(has("operationId"))
                           | "operations-\(.tags[0])-\(.operationId)"' "$doc" | sort)
n=${#want[@]}
if until_js "return document.querySelectorAll('.opblock').length >= $n" 30; then
  ok "Swagger UI rendered $n operations"
else
  fail "Swagger UI did not render $n operations: $(js "return document.querySelectorAll('.opblock').length") found"
  js 'return document.body.innerText.slice(0, 600)'
fi
mapfile -t got < <(js "return Array.from(document.querySelectorAll('.opblock')).map(e => e.id)" | jq -r '.[]' | sort)
missing=$(comm -23 <(printf '%s\n' "${want[@]}") <(printf '%s\n' "${got[@]}"))
[[ -z $missing ]] && ok "every operation has its block" || fail "operations not rendered: $missing"
title=$(js "var t = document.querySelector('.info .title'); return t ? t.textContent : ''")
[[ $title == *offerd* ]] && ok "title: $title" || fail "the document's title is not shown (got $title)"

# Try it out on GET /is-alive. tryItOutEnabled shows Execute at once; an
# older configuration would need the "Try it out" button first.
op='#operations-service-isAlive'
click "$op .opblock-summary-control" || click "$op .opblock-summary" || fail "cannot open GET /is-alive"
until_js "return !!document.querySelector('$op .execute, $op .try-out__btn')" 10 ||
  fail "GET /is-alive shows neither Try it out nor Execute"
if [[ $(js "return !!document.querySelector('$op .execute')") != true ]]; then
  click "$op .try-out__btn" || fail "cannot click Try it out"
  until_js "return !!document.querySelector('$op .execute')" 10 || fail "no Execute button after Try it out"
fi
click "$op .execute" || fail "cannot click Execute"
if until_js "var s = document.querySelector('$op .live-responses-table tbody .response-col_status');
             return !!s && s.textContent.trim() === '200'" 15; then
  ok "Try it out → Execute on /is-alive: 200"
else
  fail "Try it out on /is-alive did not show 200 (status: $(js "var s = document.querySelector('$op .live-responses-table tbody .response-col_status'); return s ? s.textContent : null"))"
fi
body=$(js "var b = document.querySelector('$op .live-responses-table .response-col_description pre'); return b ? b.textContent : ''")
[[ $body == *"alive and running"* ]] && ok "the response body shows: $(jq -r . <<<"$body" | tr -d '\n' | cut -c1-120)" ||
  fail "the response body is not the /is-alive answer: $body"

# Offline: every resource the page fetched came from offerd itself.
outside=$(js "return performance.getEntriesByType('resource').map(e => e.name)
              .filter(u => !u.startsWith('$base/') && !u.startsWith('data:'))")
[[ $outside == "[]" ]] && ok "the page loaded nothing from outside offerd" || fail "the page fetched outside offerd: $outside"
errors=$(wdcall GET "/session/$sid/se/log/types" >/dev/null 2>&1 &&
         wdcall POST "/session/$sid/se/log" '{"type":"browser"}' 2>/dev/null |
         jq -c '[.[] | select(.level == "SEVERE") | .message]' 2>/dev/null) || errors=
[[ -z $errors || $errors == "[]" ]] || echo "note: browser console errors: $errors"

mkdir -p "$(dirname "$shot")"
wd_screenshot "$shot" && echo "screenshot: $shot"

echo
if [[ $fails -eq 0 ]]; then echo "docs-browser: all checks passed"; exit 0; fi
echo "docs-browser: $fails check(s) failed; offerd's log:"
tail -n 20 "$tmp/offerd.log"
exit 1
