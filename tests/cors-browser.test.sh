#!/usr/bin/env bash
# CORS (issue 15, finding 12): Company A's website calls /predict-v2 from the
# browser. In Debian's headless Chromium, driven through chromedriver's W3C
# WebDriver API with curl and jq (as tests/docs-browser.test.sh does), a page
# served by another origin (python3 -m http.server on another port) POSTs to
# /predict-v2 with "Authorization: Bearer KEY", Content-Type application/json
# and an Idempotency-Key, so the browser sends a preflight first:
#  1. offerd --cors-origin <that page's origin>: the call succeeds (200, the
#     product names of Company A's catalogue, X-Request-Id readable by the
#     page); the same call with X-API-Key works too.
#  2. A page from an origin not listed (a third port): the browser blocks the
#     call (fetch rejects), and offerd stored no episode for it.
#  3. offerd without --cors-origin (the default): the listed page is blocked
#     too.
#  4. With curl: the preflight's answer (204, Access-Control-Allow-Origin,
#     -Methods, -Headers with Authorization, X-API-Key, Content-Type,
#     Idempotency-Key; Vary: Origin), and --cors-origin with a path is
#     refused at start.
# Bounded: the whole script stops after 180 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq python3
lib_deadline 180

source "$(dirname "$0")/webdriver_lib.sh" # wd_*, wdcall, js
wd_need_chromium || die "Chromium is not available (see above)"


# --- the pages: one directory, served on two ports (two origins) ------------------
mkdir -p "$LIB_TMP/site"
cat >"$LIB_TMP/site/shop.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>Company A shop</title></head>
<body><p id="out">idle</p>
<script>
window.result = null;
async function callOfferd(base, header, key) {
  window.result = null;
  const headers = {"Content-Type": "application/json", "Idempotency-Key": "shop-" + Math.random()};
  headers[header] = header === "Authorization" ? "Bearer " + key : key;
  const body = {customer_id: "cors-1", timestamp: "2022-01-01",
    states: {age: 30, gender: "F", "client-since": "2020-01-01", region: "Europa", last_offer: "OFFER_1"},
    offers: {OFFER_1: true, OFFER_2: true, OFFER_3: true, OFFER_4: true}};
  try {
    const r = await fetch(base + "/predict-v2", {method: "POST", headers: headers, body: JSON.stringify(body)});
    window.result = {status: r.status, body: await r.json(), rid: r.headers.get("X-Request-Id")};
  } catch (e) {
    window.result = {failed: String(e)};
  }
  document.getElementById("out").textContent = JSON.stringify(window.result);
}
</script></body></html>
HTML
page_port=$(free_port) || die "no free port"
other_port=$(free_port) || die "no free port"
for p in "$page_port" "$other_port"; do
  python3 -m http.server "$p" --bind 127.0.0.1 --directory "$LIB_TMP/site" >"$LIB_TMP/site-$p.log" 2>&1 &
  lib_on_exit "kill $! 2>/dev/null"
done
page=http://127.0.0.1:$page_port
other=http://127.0.0.1:$other_port
for _ in $(seq 50); do
  curl -sf -o /dev/null "$page/shop.html" && curl -sf -o /dev/null "$other/shop.html" && break
  sleep 0.1
done

# --- offerd --------------------------------------------------------------------------
sqlite_new_db cors db
timeout 60 "$build/offerctl" products import examples/company_A_products.csv --company A \
  --database-url "$db" >/dev/null || die "offerctl products import failed"
key=$(key_create "$db" A)
offerd_start cors "$db" --cors-origin "$page" --refresh 0.2
api=${OFFERD_URL[cors]}

# --- chromedriver + Chromium ------------------------------------------------------
lib_on_exit wd_stop
wd_start "$LIB_TMP/chromedriver.log" || { tail -n 30 "$LIB_TMP/chromedriver.log"; die "chromedriver did not start"; }
if ! wd_session "$LIB_TMP/profile" 1280,1024; then
  tail -n 30 "$LIB_TMP/chromedriver.log"
  die "Chromium did not start"
fi
ok "Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') started"

# from PAGE-ORIGIN API HEADER: runs callOfferd on the page, prints window.result.
from() {
  local r i
  wd_open "$1/shop.html" || { fail "could not open $1/shop.html"; return 1; }
  js "callOfferd('$2', '$3', '$key'); return true" >/dev/null
  for ((i = 0; i < 60; i++)); do
    r=$(js 'return window.result' 2>/dev/null)
    [[ -n $r && $r != null ]] && { echo "$r"; return 0; }
    sleep 0.25
  done
  echo '{"noresult":"no result within 15 s"}'
}

res=$(from "$page" "$api" Authorization)
if jq -e '.status == 200 and (.body["best-three-offers"] | type == "object" and length == 3)
          and ([.body["best-three-offers"][]] | all(type == "string" and length > 0))
          and (.rid | length) > 0' <<<"$res" >/dev/null; then
  ok "a page from $page calls /predict-v2 with a Bearer key: 200, names, X-Request-Id readable"
else
  fail "the page from the listed origin could not call /predict-v2: $res"
fi
res=$(from "$page" "$api" X-API-Key)
jq -e '.status == 200' <<<"$res" >/dev/null && ok "... and with X-API-Key" ||
  fail "the call with X-API-Key failed: $res"
before=$(sql "$db" "SELECT COUNT(*) FROM tb_episodes")
res=$(from "$other" "$api" Authorization)
jq -e '.failed == "TypeError: Failed to fetch"' <<<"$res" >/dev/null &&
  ok "a page from $other (not listed) is blocked by the browser: $(jq -r .failed <<<"$res")" ||
  fail "a page from an origin not listed could call /predict-v2: $res"
sleep 0.3
expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_episodes")" "$before" "the blocked call stored no episode (its preflight failed)"

# The preflight as the browser sends it, with curl.
http OPTIONS "$api/predict-v2" -H "Origin: $page" -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: authorization,content-type,idempotency-key'
expect_status 204 "preflight from the listed origin"
expect_header Access-Control-Allow-Origin "$page" "preflight: the origin is allowed"
allowh=$(header_value Access-Control-Allow-Headers)
for h in Authorization X-API-Key Content-Type Idempotency-Key; do
  [[ ",${allowh// /}," == *",$h,"* ]] && LIB_QUIET=1 ok "allow $h" || fail "Access-Control-Allow-Headers lacks $h: $allowh"
done
[[ $(header_value Access-Control-Allow-Methods) == *POST* && $(header_value Access-Control-Allow-Methods) == *PUT* ]] &&
  ok "preflight: POST and PUT allowed" || fail "Access-Control-Allow-Methods: $(header_value Access-Control-Allow-Methods)"
expect_header Vary Origin "preflight: Vary: Origin"
http OPTIONS "$api/predict-v2" -H "Origin: $other" -H 'Access-Control-Request-Method: POST'
[[ -z $(header_value Access-Control-Allow-Origin) && $HTTP_STATUS != 2* ]] &&
  ok "preflight from an origin not listed: no Access-Control-Allow-Origin ($HTTP_STATUS)" ||
  fail "preflight from $other was allowed ($HTTP_STATUS, $(header_value Access-Control-Allow-Origin))"
offerd_stop cors

# The default: no origin is allowed.
offerd_start plain "$db" --refresh 0.2
res=$(from "$page" "${OFFERD_URL[plain]}" Authorization)
jq -e '.failed == "TypeError: Failed to fetch"' <<<"$res" >/dev/null &&
  ok "without --cors-origin the page is blocked (the default): $(jq -r .failed <<<"$res")" ||
  fail "without --cors-origin the page could call /predict-v2: $res"
offerd_stop plain

if "$build/offerd" --port 0 --database-url "$db" --cors-origin "$page/shop" >"$LIB_TMP/bad.log" 2>&1; then
  fail "--cors-origin with a path was accepted"
else
  grep -q 'cors-origin' "$LIB_TMP/bad.log" && ok "--cors-origin with a path is refused at start" ||
    fail "--cors-origin with a path: no message naming the flag"
fi
lib_done
