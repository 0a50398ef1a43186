#!/usr/bin/env bash
# Lifecycle and logs of the real offerd (issue 5, items 4 and 5).
#  1. SIGTERM under load, on SQLite and on PostgreSQL: 32 connections send
#     /predict (wrk + bench/predict-ids.lua, which records every answer);
#     SIGTERM mid-run; offerd must exit 0 within 5 s, answer no 200 later
#     than 1.5 s after the signal (it stops accepting; in-flight requests
#     take milliseconds), and every episode_id that was answered 200 must be
#     in tb_episodes with its customer_id.
#  2. SIGINT: the same clean exit (status 0).
#  3. Logs: one access line per request with method, path, status, duration
#     and request id; with --log-format json every line is a JSON object and
#     valid UTF-8 (even for request paths that are not); X-Request-Id is
#     echoed when safe, generated otherwise, and is the id in the log line;
#     --log-level warn drops the info lines.
#  4. SIGHUP: a release made with `offerctl agent release` is served by
#     /is-alive at once after SIGHUP (with --refresh 3600, so only the signal
#     can have done it), and offerd keeps running.
# PostgreSQL: a fresh database on $OFFERD_TEST_PG_URL's server, or, when that
# is unset, a private server (scripts/pg.sh with a state file of our own).
# Loopback only; the whole test stops itself after 150 s.
# Exits 77 (skipped) when $OFFERD_BUILD/offerd has not been built.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2
PROC_NAME=lifecycle PROC_TOOLS="curl jq wrk sqlite3 psql iconv"
# shellcheck source=tests/proc_lib.sh
source tests/proc_lib.sh

deadline 150
# OFFERD_TEST_PARTS="term int log hup" runs a subset (for debugging).
parts=" ${OFFERD_TEST_PARTS:-term int log hup} "
part() { [[ $parts == *" $1 "* ]]; }

# --- 1. SIGTERM under load ------------------------------------------------------

sigterm_under_load() {
  local tag=$1 db=$2 prefix=$tmp/ids-$1 wpid i t_sig n late
  start "term-$tag" "$db" --auth off --access-log off --log-format json
  PREDICT_IDS_OUT=$prefix PREDICT_IDS_RUN=$tag wrk -t4 -c32 -d30s --timeout 10s \
    -s bench/predict-ids.lua "${URL[term-$tag]}/predict" >"$prefix.wrk" 2>&1 &
  wpid=$!
  bg_pids+=("$wpid")
  # SIGTERM once the load is really on: 200 answers are coming in.
  for ((i = 0; i < 100; i++)); do
    n=$(cat "$prefix".[0-9]* 2>/dev/null | wc -l)
    [[ $n -ge 500 ]] && break
    sleep 0.05
  done
  sleep 1
  t_sig=$(now)
  stop_signal "term-$tag" TERM 5
  # A little more load against the closed port, then stop wrk (SIGINT: it
  # prints its summary and exits).
  sleep 0.3
  kill -INT "$wpid" 2>/dev/null
  wait "$wpid" 2>/dev/null
  bg_pids=()
  note "$tag: SIGTERM after $(cat "$prefix".[0-9]* | awk -v t="$t_sig" '$1 < t' | wc -l) answers; offerd exited in $STOP_SECS s with status $STOP_RC"
  note "$tag: answers by status: $(statuses "$prefix"); after SIGTERM: $(cat "$prefix".[0-9]* | awk -v t="$t_sig" '$1 >= t { n[$2]++ } END { for (s in n) printf "%s:%d ", s, n[s] }')"
  note "$tag: wrk: $(grep -a '^PREDICT_IDS' "$prefix.wrk" | cut -d' ' -f2-)"
  # In-flight requests finish within milliseconds: 200s long after the
  # signal mean new requests were still being accepted on open connections.
  late=$(cat "$prefix".[0-9]* | awk -v t="$t_sig" '$1 >= t + 1.5 && $2 == 200' | wc -l)
  if [[ $STOP_RC == 0 ]]; then
    ok "$tag: offerd exited with status 0 after SIGTERM under load"
  else
    fail "$tag: offerd exit status after SIGTERM under load: $STOP_RC (expected 0)"
  fi
  if [[ $STOP_RC != timeout ]] && le "$STOP_SECS" 5; then
    ok "$tag: offerd stopped within 5 s of SIGTERM ($STOP_SECS s)"
  else
    fail "$tag: offerd took $STOP_SECS s to stop after SIGTERM (limit 5 s)"
  fi
  # "Stop accepting, finish in-flight requests": the requests in flight at
  # the signal are done within milliseconds; 200s long after it are new
  # requests accepted on connections that were kept open.
  if [[ $late -eq 0 ]]; then
    ok "$tag: no request answered 200 later than 1.5 s after SIGTERM (it stopped accepting)"
  else
    fail "$tag: $late requests answered 200 later than 1.5 s after SIGTERM: new requests on kept-alive connections are still served while draining"
  fi
  grep -aq 'SIGTERM: finishing in-flight requests' "${LOG[term-$tag]}" && grep -aq 'offerd stopped' "${LOG[term-$tag]}" &&
    ok "$tag: the log says it drained and stopped" ||
    fail "$tag: the log lacks 'SIGTERM: finishing in-flight requests' / 'offerd stopped'"
  check_acked "$tag: SIGTERM under load" "$db" "$prefix"
  TERM_FIG[$tag]="exit $STOP_RC in $STOP_SECS s; $ACKED answers 200, $late of them more than 1.5 s after the signal; every acknowledged episode stored: $([[ -s $prefix.missing ]] && echo no || echo yes)"
}

declare -A TERM_FIG=()
if part term; then
  note "== SIGTERM under load (32 connections)"
  sigterm_under_load sqlite "sqlite:$tmp/term.db"
  pg_init
  sigterm_under_load pg "$(pg_new_db term)"
fi

# --- 2. SIGINT ----------------------------------------------------------------------

if part int; then
note "== SIGINT"
start int "sqlite:$tmp/int.db" --auth off --access-log off
curl -s -o /dev/null -X POST "${URL[int]}/predict" -H 'Content-Type: application/json' \
  -d '{"customer_id":"int1","timestamp":"2022-01-01","states":{},"offers":{"OFFER_1":true}}'
stop_signal int INT 5
[[ $STOP_RC == 0 ]] && le "$STOP_SECS" 5 && ok "SIGINT: exit status 0 in $STOP_SECS s" ||
  fail "SIGINT: exit status $STOP_RC after $STOP_SECS s (expected 0 within 5 s)"
fi

# --- 3. Logs and request ids ------------------------------------------------------------

if part log; then
note "== access log, JSON lines, X-Request-Id"
# With API keys on (the default), so the log is also checked for the key.
apikey=$(timeout 30 "$build/offerctl" keys create --company A --database-url "sqlite:$tmp/log.db" 2>/dev/null)
[[ -n $apikey ]] || fail "offerctl keys create printed no key"
start log "sqlite:$tmp/log.db" --log-format json --access-log on --log-level info
u=${URL[log]}
pred='{"customer_id":"log1","timestamp":"2022-01-01","states":{"age":30},"offers":{"OFFER_1":true,"OFFER_2":true}}'
# Each request: METHOD PATH EXPECTED-STATUS X-REQUEST-ID ("" = none sent) [BODY]
# Paths are sent as written (curl --path-as-is); %xx is decoded by the server.
reqs=(
  "GET|/is-alive|200|"
  "GET|/is-alive|200|client-id-1"
  "POST|/predict|200|pred.2026_x-1|$pred"
  "POST|/predict-v2|200||$pred"
  "POST|/predict|400|bad-json-1|{\"customer_id\": "
  "PUT|/rewards|200|rw-1|{\"customer_id\":\"log1\",\"accepted_one_of_the_three_offers\":true}"
  "DELETE|/predict|405|del-1|"
  "GET|/no/such/route|404|nf-1|"
  "GET|/metrics|403|m-1|" # a client key: /metrics takes an admin key
  "GET|/%ff%fe-not-utf8|404|utf8-1|"
  "GET|/quote%22back%5cslash|404|quote-1|"
  "GET|/ctl%01%1b[31m|404|ctl-1|"
  "GET|/is-alive|200|has space|"
  "GET|/is-alive|200|quote\"inside|"
  "GET|/is-alive|200|$(printf 'x%.0s' {1..60})|"
  "POST|/predict|401|nokey-1|$pred"
)
declare -A want_id=()
n_sent=1 # start()'s GET /is-alive readiness probe is logged too
for spec in "${reqs[@]}"; do
  IFS='|' read -r method path want rid body <<<"$spec"
  args=(-s -g --path-as-is --max-time 10 -o "$tmp/log.body" -D "$tmp/log.hdr" -w '%{http_code}' -X "$method")
  [[ -n $rid ]] && args+=(-H "X-Request-Id: $rid")
  [[ $rid != nokey-1 ]] && args+=(-H "Authorization: Bearer $apikey")
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  got=$(curl "${args[@]}" "$u$path")
  n_sent=$((n_sent + 1))
  hid=$(tr -d '\r' <"$tmp/log.hdr" | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }' | tail -n 1)
  [[ $got == "$want" ]] || fail "$method $path: status $got, expected $want"
  if [[ -z $rid ]]; then
    [[ $hid =~ ^[0-9a-f]{16}$ ]] && ok "$method $path without X-Request-Id: one generated ($hid)" ||
      fail "$method $path without X-Request-Id: got '${hid:-<none>}', expected a generated id"
  elif [[ $rid =~ ^[!-~]{1,39}$ && $rid != *'"'* && $rid != *'\'* ]]; then
    [[ $hid == "$rid" ]] && ok "$method $path: X-Request-Id '$rid' echoed" ||
      fail "$method $path: X-Request-Id '$rid' not echoed (got '${hid:-<none>}')"
  else
    [[ -n $hid && $hid != "$rid" && $hid =~ ^[!-~]+$ ]] &&
      ok "$method $path: unsafe X-Request-Id '${rid:0:20}...' replaced by a generated one ($hid)" ||
      fail "$method $path: unsafe X-Request-Id '${rid:0:20}' answered with '${hid:-<none>}'"
  fi
  [[ -n $hid ]] && want_id[$hid]="$method|$want"
done
# A request whose log line must come out intact even though the client
# vanished: nothing to check but the line count. Then stop cleanly.
stop_signal log TERM 5
[[ $STOP_RC == 0 ]] || fail "log server: exit status $STOP_RC after SIGTERM"
logf=${LOG[log]}
nl=$(grep -c '' "$logf")
# One jq pass over the raw lines: which are not JSON objects with ts and level.
jq -R -r '. as $l | (try (fromjson | if type == "object" and (.ts | type == "string") and
  (.level | type == "string") then empty else $l end) catch $l)' "$logf" >"$tmp/log.bad" 2>&1
bad=$(grep -c '' "$tmp/log.bad")
if [[ $bad -eq 0 && $nl -gt 0 ]]; then
  ok "--log-format json: all $nl lines are JSON objects with ts and level"
else
  fail "--log-format json: $bad of $nl lines are not JSON objects, e.g. $(head -c 300 "$tmp/log.bad")"
fi
if iconv -f UTF-8 -t UTF-8 "$logf" >/dev/null 2>&1; then
  ok "--log-format json: the log is valid UTF-8 (as JSON text must be), even for request paths that are not"
else
  fail "--log-format json: the log is not valid UTF-8: the request path /%ff%fe-not-utf8 is copied raw into the JSON line: $(grep -a "not-utf8" "$logf" | head -n 1 | cat -v)"
fi
[[ -n $apikey ]] && { grep -aqF "$apikey" "$logf" && fail "the API key appears in the log" || ok "the API key never appears in the log"; }
# Access lines: by structured keys if offerd has them, else from the message
# "METHOD PATH STATUS DURATIONms id=ID".
jq -c 'select(.msg? | type == "string") |
  if has("method") and has("status") then
    {method, path, status: (.status | tostring), ms: ((.duration_ms // .duration // "") | tostring), id: (.request_id // .id)}
  else
    (.msg | capture("^(?<method>[A-Z]+) (?<path>.*) (?<status>[0-9]{3}) (?<ms>[0-9.]+)ms id=(?<id>[!-~]+)$")?)
  end' "$logf" 2>/dev/null >"$tmp/access.jsonl"
n_access=$(grep -c '' "$tmp/access.jsonl")
[[ $n_access -eq $n_sent ]] && ok "one access line per request ($n_access for $n_sent requests)" ||
  fail "$n_access access lines for $n_sent requests"
want_json=$(for id in "${!want_id[@]}"; do
  IFS='|' read -r method want <<<"${want_id[$id]}"
  printf '%s\t%s\t%s\n' "$id" "$method" "$want"
done | jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: {method: .[1], status: .[2]}}) | from_entries')
jq -r -s --argjson want "$want_json" '
  . as $lines | $want | to_entries[] | .key as $id | .value as $w |
  [$lines[] | select(.id == $id)] as $m |
  if ($m | length) != 1 then "request id \($id): \($m | length) access lines"
  elif ($m[0].method == $w.method and $m[0].status == $w.status and ($m[0].path | startswith("/"))
        and ($m[0].ms | test("^[0-9]+([.][0-9]+)?$"))) | not then "request id \($id): wrong access line \($m[0])"
  else empty end' "$tmp/access.jsonl" >"$tmp/access.bad"
if [[ -s $tmp/access.bad ]]; then
  fail "$(grep -c '' "$tmp/access.bad") requests without a correct access line: $(head -n 3 "$tmp/access.bad" | tr '\n' ';')"
else
  ok "each of the ${#want_id[@]} requests has one access line with its method, path, status, duration and the request id the client got"
fi
note "  sample access line: $(grep -a '"msg":"POST /predict 200' "$logf" | head -n 1)"

# Text format and level: the default text line, and --log-level warn drops info.
start logtext "sqlite:$tmp/log.db" --auth off --log-format text --access-log on
curl -s -o /dev/null -H 'X-Request-Id: text-1' "${URL[logtext]}/is-alive"
# A path with an encoded newline must not forge a second, genuine-looking line.
curl -s -o /dev/null --path-as-is -H 'X-Request-Id: text-2' \
  "${URL[logtext]}/x%0a2001-01-01T00:00:00.000Z%20info%20%20GET%20/forged%20200%200.1ms%20id=forged"
stop_signal logtext TERM 5
grep -aEq '^[0-9T:.-]+Z info +GET /is-alive 200 [0-9.]+ms id=text-1$' "${LOG[logtext]}" &&
  ok "--log-format text: access line 'GET /is-alive 200 <ms> id=text-1'" ||
  fail "--log-format text: no access line for id=text-1 in: $(tail -n 3 "${LOG[logtext]}")"
if grep -aq '^2001-01-01T00:00:00.000Z' "${LOG[logtext]}"; then
  fail "--log-format text: a request path with %0a forges a log line (one request, two lines): $(grep -a -B1 '^2001-01-01' "${LOG[logtext]}" | tr '\n' '|')"
else
  ok "--log-format text: a request path with %0a stays on its request's line"
fi
start logwarn "sqlite:$tmp/log.db" --auth off --log-format json --access-log on --log-level warn
curl -s -o /dev/null -H 'X-Request-Id: warn-1' "${URL[logwarn]}/is-alive"
stop_signal logwarn TERM 5
if grep -aq '"level":"info"' "${LOG[logwarn]}"; then
  fail "--log-level warn: info lines were still written"
else
  ok "--log-level warn: no info line (access lines included)"
fi
fi

# --- 4. SIGHUP reloads ----------------------------------------------------------------------

if part hup; then
note "== SIGHUP"
hdb="sqlite:$tmp/hup.db"
start hup "$hdb" --auth off --access-log off --refresh 3600
alive() { curl -s --max-time 5 "${URL[hup]}/is-alive" | jq -r '."agent-version"'; }
v0=$(alive)
timeout 30 "$build/offerctl" agent release 7.7.7 --policy thompson --database-url "$hdb" >"$tmp/release.out" 2>&1 ||
  fail "offerctl agent release 7.7.7 failed: $(cat "$tmp/release.out")"
sleep 1.2
v1=$(alive)
[[ $v1 == "$v0" && $v0 == 1.0.0-API ]] && ok "before SIGHUP (--refresh 3600): still $v1" ||
  fail "before SIGHUP: is-alive says '$v1' (started with '$v0', expected 1.0.0-API until the signal)"
t0=$(now)
kill -HUP "${PID[hup]}"
seen=
for ((i = 0; i < 100; i++)); do
  v=$(alive)
  if [[ $v == 7.7.7-API ]]; then seen=$(secs "$t0" "$(now)"); break; fi
  sleep 0.02
done
if [[ -n $seen ]] && le "$seen" 1; then
  ok "SIGHUP: /is-alive shows 7.7.7-API ${seen} s after the signal"
else
  fail "SIGHUP: /is-alive still says '$v' 2 s after SIGHUP (expected 7.7.7-API at once)"
fi
HUP_FIG=${seen:-none}
kill -0 "${PID[hup]}" 2>/dev/null && [[ $(curl -s -o /dev/null -w '%{http_code}' "${URL[hup]}/is-alive") == 200 ]] &&
  ok "SIGHUP: offerd is still serving" || fail "SIGHUP: offerd is gone"
stop_signal hup TERM 5
[[ $STOP_RC == 0 ]] || fail "hup server: exit status $STOP_RC after SIGTERM"
fi

# --- summary --------------------------------------------------------------------------

echo
note "FIGURES sigterm-sqlite: ${TERM_FIG[sqlite]:-n/a}"
note "FIGURES sigterm-postgresql: ${TERM_FIG[pg]:-n/a}"
note "FIGURES sighup-visible-after: ${HUP_FIG:-n/a} s"
if [[ $fails -gt 0 ]]; then
  echo "$(basename "$0"): $fails of $checks checks FAILED"
  exit 1
fi
echo "$(basename "$0"): all $checks checks passed"
exit 0
