#!/usr/bin/env bash
# The HTTP contract of issue 2 (and the tenant rules of issue 7), against the
# real build/offerd on SQLite AND on PostgreSQL, with ONE table of cases:
# tests/cases/http.json (its "about" says how a case is written).
#
# For each backend, on a fresh database (SQLite: a temporary file;
# PostgreSQL: CREATE DATABASE on $OFFERD_TEST_PG_URL, dropped at exit):
#  1. Company A's catalogue is imported, keys are created for A and B, and
#     offerd starts with auth on, --body-max 4096, --refresh 0.2.
#  2. Every case of the table runs in order (later cases use episode ids that
#     earlier ones saved), with automatic checks on every /predict answer
#     (1..3 distinct allowed offers, min(3, allowed) of them, today's UTC
#     response-date...) and on every error (JSON {status, error, message,
#     field}).
#  3. /metrics: the request counters move. Keys: one created while offerd
#     runs is accepted within ~1 s, and refused (401) once revoked.
#  4. The six customers of examples/company_A.json go through /predict and
#     /predict-v2 and are rewarded; then TB_EPISODES (6+6 rows, states as
#     received, offers among the allowed ones, the answers' offers),
#     TB_REWARDS (6 rows on the latest episode of each) and TB_PRODUCTS_A
#     (the CSV) are read back.
#  5. offerd stops with SIGTERM and exits 0.
# The two backends run side by side, each with its own offerd; their outputs
# are printed one after the other, and the failures again at the very end.
# Standalone: `make build && bash tests/http.test.sh` (starts PostgreSQL with
# scripts/pg.sh when $OFFERD_TEST_PG_URL is unset, and stops it at exit).
# Knobs: OFFERD_TEST_BACKENDS ("sqlite", "pg", default "sqlite pg"),
# OFFERD_TEST_SERIAL=1 (one backend after the other), OFFERD_TEST_HTTP_CASES
# (another case file), OFFERD_TEST_DEADLINE (seconds, default 300),
# OFFERD_TEST_KEEP=1 (keep the temporary directory and offerd logs).
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline "${OFFERD_TEST_DEADLINE:-300}"

cases_file=${OFFERD_TEST_HTTP_CASES:-tests/cases/http.json}  # another file: for testing this test
products_csv=examples/company_A_products.csv
company_a=examples/company_A.json
jq empty "$cases_file" || die "$cases_file is not valid JSON"
[[ -x $build/offerd && -x $build/offerctl ]] || die "$build/offerd or offerctl is not built (make build)"
backends=${OFFERD_TEST_BACKENDS:-sqlite pg}

# The catalogue as {"OFFER_1": "IPHONE 13 MAX", ...}, read from the CSV itself.
catalogue=$(tail -n +2 "$products_csv" | tr -d '\r' |
  jq -R -s -c 'split("\n") | map(select(length > 0) | split(",")) | map({(.[1]): .[2]}) | add')
[[ $(jq length <<<"$catalogue") -eq 10 ]] || die "could not read 10 products from $products_csv"
defaults=$(jq -c '.defaults' "$cases_file")

# "$name" strings in a body become saved values (with their JSON type),
# "PAD<n>" strings become n letters.
JQ_SUBST='def subst: walk(if type == "string" then
    (if test("^\\$[A-Za-z_0-9]+$") then $vars[.[1:]]
     elif test("^PAD[0-9]+$") then ("x" * (.[3:] | tonumber))
     else . end) else . end);'

# Checks on every 200 answer of /predict and /predict-v2 (expression, meaning).
JQ_OFFERS='(.["best-three-offers"] | if type == "object" then keys_unsorted else . end)'
JQ_PREDICT=(
  '(.customer_id | type) == "string" and ($cid == null or .customer_id == $cid)'
  '.["response-date"] == $today1 or .["response-date"] == $today2'
  '(.episode_id | type) == "number" and .episode_id > 0'
  '(.["agent-version"] | type) == "string" and (.["agent-version"] | length) > 0'
  '(.state | type) == "string" and (.state | length) > 0'
  '.["best-three-offers"] | type == (if $v2 then "object" else "array" end)'
  "$JQ_OFFERS"' | (length >= 1 and length <= 3) and (unique | length) == length'
  '$allowed == null or ('"$JQ_OFFERS"' | length == ([($allowed | length), 3] | min) and all(.[]; . as $x | $allowed | any(. == $x)))'
  'if $v2 then (.["best-three-offers"] | to_entries | all(.value == null or (.value | type) == "string")) else true end'
)
JQ_PREDICT_NAMES=(
  "customer_id echoes the request"
  "response-date is today (UTC)"
  "episode_id is a positive integer"
  "agent-version is given"
  "state is given"
  "best-three-offers has the right type (list; object on /predict-v2)"
  "1 to 3 distinct offers"
  "min(3, allowed) offers, all of them flagged true"
  "product names are strings or null"
)

# --- the table, read once ------------------------------------------------------------
# One jq pass turns every case into bash arrays C_<FIELD>[i]; a body that uses
# no saved value is built here, the others at run time (C_TEMPLATE).
declare -a C_NAME C_METHOD C_PATH C_AUTH C_STATUS C_FIELD C_JSON C_CHUNKED C_BIG C_CT_MODE C_CT
declare -a C_EXACT C_HAS_EXACT C_HAS_BODY C_BODY C_TEMPLATE C_ALLOWED C_CID C_HEADERS C_HEADERS_OUT
declare -a C_SAVE C_SQL C_JQ
table=$(jq -r --argjson defaults "$defaults" --argjson vars '{}' "$JQ_SUBST"'
  def uses_vars: [.. | strings | select(test("^\\$[A-Za-z_0-9]+$"))] | length > 0;
  def flagged: if (.offers | type) == "object" then [.offers | to_entries[]
      | select(.value == true or .value == 1
               or ((.value | type) == "string" and ((.value | ascii_downcase) == "true" or .value == "1")))
      | .key] else null end;
  .cases | to_entries[] | .key as $i | .value as $c
  | (if $c | has("body") then $c.body
     elif $c | has("base") then ((($defaults[$c.base] + ($c.set // {})) as $b
          | reduce ($c.unset // [])[] as $k ($b; del(.[$k]))))
     else null end) as $tmpl
  | ($tmpl != null and ($c | has("raw") | not)) as $is_json
  | ($is_json and ($tmpl | uses_vars)) as $late
  | [ "C_NAME[\($i)]=\($c.name | @sh)",
      "C_METHOD[\($i)]=\($c.method | @sh)",
      "C_PATH[\($i)]=\($c.path | @sh)",
      "C_AUTH[\($i)]=\(($c.auth // "A") | @sh)",
      "C_STATUS[\($i)]=\($c.status | tostring | @sh)",
      "C_FIELD[\($i)]=\(($c.field // "") | @sh)",
      "C_JSON[\($i)]=\(if $c.json == false then 0 else 1 end)",
      "C_CHUNKED[\($i)]=\(if $c.chunked then 1 else 0 end)",
      "C_BIG[\($i)]=\($c.big // 0)",
      "C_CT_MODE[\($i)]=\(if ($c | has("content_type")) and $c.content_type == null then "none" else "set" end)",
      "C_CT[\($i)]=\(($c.content_type // "application/json") | @sh)",
      "C_EXACT[\($i)]=\(($c.body_exact // "") | @sh)",
      "C_HAS_EXACT[\($i)]=\(if $c | has("body_exact") then 1 else 0 end)",
      "C_HAS_BODY[\($i)]=\(if ($c | has("raw")) or $tmpl != null or ($c.big // 0) > 0 then 1 else 0 end)",
      "C_BODY[\($i)]=\((if $c | has("raw") then $c.raw elif $is_json and ($late | not) then ($tmpl | subst | tojson) else "" end) | @sh)",
      "C_TEMPLATE[\($i)]=\((if $late then ($tmpl | tojson) else "" end) | @sh)",
      "C_ALLOWED[\($i)]=\((if $c.allowed then $c.allowed elif $is_json then ($tmpl | flagged) else null end) | tojson | @sh)",
      "C_CID[\($i)]=\((if $is_json and ($tmpl | type) == "object" and $tmpl.customer_id != null then ($tmpl.customer_id | tostring) else null end) | tojson | @sh)",
      "C_HEADERS[\($i)]=\(([($c.headers // {}) | to_entries[] | "\(.key): \(.value)"] | join("\n")) | @sh)",
      "C_HEADERS_OUT[\($i)]=\(([($c.headers_out // {}) | to_entries[] | "\(.key)\t\(.value)"] | join("\n")) | @sh)",
      "C_SAVE[\($i)]=\(([($c.save // {}) | to_entries[] | "\(.key | tojson): (try (\(.value)) catch null)"] | join(", ")) | @sh)",
      "C_SQL[\($i)]=\(([($c.sql // [])[] | "\(.[0])\t\(.[1] | gsub("\n"; "\\n"))"] | join("\n")) | @sh)",
      "C_JQ[\($i)]=\(($c.jq // [] | join("\n")) | @sh)"
    ] | join("\n")' "$cases_file") || die "cannot read the cases of $cases_file"
eval "$table" || die "cannot load the cases of $cases_file"
NCASES=${#C_NAME[@]}
[[ $NCASES -gt 0 ]] || die "no cases in $cases_file"

# Per backend: the collected checks (D_*), each case's problems and exchange (R_*).
declare -a D_PROG D_NAMES D_CASE R_PROBLEMS R_REQ R_ANSWER
declare -A jqnames=()

# Saved values: name -> JSON text. vars_json and subst_vars set VARS_JSON
# and SUBST (no subshell per call).
declare -A VARS=()
VARS_JSON='{}'
vars_json() {
  local k sep=
  VARS_JSON="{"
  for k in "${!VARS[@]}"; do
    VARS_JSON+="$sep\"$k\":${VARS[$k]}"
    sep=,
  done
  VARS_JSON+="}"
}
# Replaces $name by the saved value (raw text), longest names first.
SUBST=
subst_vars() {
  local k v len
  SUBST=$1
  for ((len = 40; len > 0; len--)); do
    for k in "${!VARS[@]}"; do
      [[ ${#k} -eq $len ]] || continue
      v=${VARS[$k]}
      v=${v#\"}
      v=${v%\"}
      SUBST=${SUBST//"\$$k"/$v}
    done
  done
}

# --- one case -----------------------------------------------------------------------

# run_case LABEL DBURL INDEX: runs case INDEX of the table against $base_url.
run_case() {
  local label=$1 db=$2 i=$3 problems=() body_file="$LIB_TMP/req.body"
  local name=${C_NAME[$i]} method=${C_METHOD[$i]} path=${C_PATH[$i]} status=${C_STATUS[$i]}

  # The body.
  : >"$body_file"
  if [[ ${C_BIG[$i]} -gt 0 ]]; then
    { printf '{"customer_id": "'; head -c "${C_BIG[$i]}" /dev/zero | tr '\0' x; printf '"}'; } >"$body_file"
  elif [[ -n ${C_TEMPLATE[$i]} ]]; then
    vars_json
    jq -j --argjson vars "$VARS_JSON" "$JQ_SUBST"'subst | tojson' <<<"${C_TEMPLATE[$i]}" >"$body_file" ||
      { fail "[$label] $name: cannot build the body"; return; }
  else
    printf '%s' "${C_BODY[$i]}" >"$body_file"
  fi

  # The request.
  local args=()
  case ${C_AUTH[$i]} in
    A) args+=(-H "Authorization: Bearer $key_a") ;;
    admin) args+=(-H "Authorization: Bearer $key_admin") ;;
    A-x-api-key) args+=(-H "X-API-Key: $key_a") ;;
    B) args+=(-H "Authorization: Bearer $key_b") ;;
    wrong) args+=(-H "Authorization: Bearer ofk_this-is-not-a-key-0123456789") ;;
    wrong-x-api-key) args+=(-H "X-API-Key: wrong-key") ;;
    basic) args+=(-H "Authorization: Basic dXNlcjpwYXNz") ;;
    none) ;;
    *) fail "[$label] $name: unknown auth '${C_AUTH[$i]}' in the table"; return ;;
  esac
  if [[ ${C_HAS_BODY[$i]} -eq 1 ]]; then
    args+=(--data-binary "@$body_file")
    if [[ ${C_CT_MODE[$i]} == none ]]; then args+=(-H "Content-Type:"); else args+=(-H "Content-Type: ${C_CT[$i]}"); fi
    [[ ${C_CHUNKED[$i]} -eq 1 ]] && args+=(-H "Transfer-Encoding: chunked")
  fi
  local h
  while IFS= read -r h; do
    [[ -n $h ]] && args+=(-H "$h")
  done <<<"${C_HEADERS[$i]}"

  local today1 today2 sent=
  printf -v today1 '%(%F)T' -1
  http "$method" "$base_url$path" "${args[@]}"
  printf -v today2 '%(%F)T' -1
  if [[ ${C_HAS_BODY[$i]} -eq 1 ]]; then
    IFS= read -r -d '' -n 300 sent <"$body_file"
    HTTP_REQ="$HTTP_REQ  body: ${sent//$'\n'/ }"
  fi

  # Status, exact body, headers.
  [[ $HTTP_STATUS == "$status" ]] || problems+=("expected status $status, got $HTTP_STATUS")
  if [[ ${C_HAS_EXACT[$i]} -eq 1 && $HTTP_BODY != "${C_EXACT[$i]}" ]]; then
    problems+=("expected the body to be exactly ${C_EXACT[$i]}")
  fi
  local k v got
  while IFS=$'\t' read -r k v; do
    [[ -n $k ]] || continue
    header_value -v got "$k"
    [[ $got =~ ^($v)$ ]] || problems+=("expected header $k matching '$v', got '${got:-<none>}'")
  done <<<"${C_HEADERS_OUT[$i]}"

  # Assertions on the JSON answer: collected here, evaluated for all cases
  # in one jq run by finish_cases (jq takes ~30 ms to start).
  local exprs=() names=() e
  while IFS= read -r e; do
    [[ -n $e ]] && { exprs+=("$e"); names+=("$e"); }
  done <<<"${C_JQ[$i]}"
  if [[ ${HTTP_STATUS:0:1} == 4 ]]; then
    exprs+=("(.status == $HTTP_STATUS) and ((.error | type) == \"string\") and ((.message | type) == \"string\" and (.message | length) > 0)")
    names+=("the error is JSON {status: $HTTP_STATUS, error, message}")
    header_value -v got Content-Type
    [[ $got == application/json* ]] || problems+=("expected Content-Type application/json on an error, got '$got'")
    if [[ -n ${C_FIELD[$i]} ]]; then
      exprs+=(".field == \"${C_FIELD[$i]}\"")
      names+=("the error names the field ${C_FIELD[$i]}")
    fi
  fi
  local v2=false
  if [[ $HTTP_STATUS == 200 && ( $path == /predict || $path == /predict-v2 ) && $method == POST ]]; then
    [[ $path == /predict-v2 ]] && v2=true
    [[ ${C_ALLOWED[$i]} == null ]] && problems+=("table: give \"allowed\" for this case (its offers are not a JSON object)")
    exprs+=("${JQ_PREDICT[@]}")
    names+=("${JQ_PREDICT_NAMES[@]}")
  fi
  vars_json
  if [[ ${C_JSON[$i]} -eq 1 && $method != HEAD ]]; then
    local prog j sep=
    prog="(try fromjson catch \"__not_json__\") as \$x | if \$x == \"__not_json__\" then \"R X\" else"
    prog+=" ($VARS_JSON) as \$vars | \"$today1\" as \$today1 | \"$today2\" as \$today2"
    prog+=" | (${C_ALLOWED[$i]}) as \$allowed | (${C_CID[$i]}) as \$cid | $v2 as \$v2 | \$x | ["
    for ((j = 0; j < ${#exprs[@]}; j++)); do
      prog+="$sep(try (${exprs[$j]}) catch \"error\")"
      sep=,
    done
    prog+="] | map(if . == true then \"1\" else \"0\" end) | \"R \" + join(\" \") end"
    D_PROG+=("$prog")
    if [[ ${#names[@]} -gt 0 ]]; then D_NAMES+=("$(printf '%s\x1f' "${names[@]}")"); else D_NAMES+=(""); fi
    D_CASE+=("$i")
    printf '%s\x1e' "$HTTP_BODY" >>"$LIB_TMP/answers"
  fi

  # Saved values, at once (later cases need them).
  if [[ -n ${C_SAVE[$i]} ]]; then
    local out
    if out=$(jq -r "{${C_SAVE[$i]}} | to_entries[] | \"\\(.key)\\t\\(.value | tojson)\"" <<<"$HTTP_BODY" 2>&1); then
      while IFS=$'\t' read -r k v; do
        [[ -n $k ]] || continue
        [[ -n $v && $v != null ]] || problems+=("could not save $k from the answer")
        VARS[$k]=${v:-null}
      done <<<"$out"
    else
      problems+=("could not save values from the answer: ${out:0:200}")
    fi
  fi

  # Rows in the database, now.
  local q want have
  while IFS=$'\t' read -r q want; do
    [[ -n $q ]] || continue
    subst_vars "$q"
    q=$SUBST
    subst_vars "$want"
    want=$SUBST
    want=${want//\\n/$'\n'}
    have=$(sql "$db" "$q" 2>&1)
    [[ $have == "$want" ]] || problems+=("SQL $q: expected rows [${want//$'\n'/; }], got [${have//$'\n'/; }]")
  done <<<"${C_SQL[$i]}"

  R_PROBLEMS[$i]=
  [[ ${#problems[@]} -gt 0 ]] && R_PROBLEMS[$i]=$(printf '%s\x1f' "${problems[@]}")
  R_REQ[$i]=$HTTP_REQ
  R_ANSWER[$i]="$HTTP_STATUS ${HTTP_BODY:0:600}"
}

# finish_cases LABEL: evaluates the collected jq checks and reports each case.
finish_cases() {
  local label=$1 k i n results=() line j names=() p problems=()
  declare -A jqres=()
  n=${#D_PROG[@]}
  if [[ $n -gt 0 ]]; then
    {
      # One function per answer: jq limits the size of one function.
      for ((k = 0; k < n; k++)); do
        echo "def c$k: ${D_PROG[$k]};"
      done
      echo 'split("\u001e") as $a | '
      for ((k = 0; k < n; k++)); do
        [[ $k -gt 0 ]] && echo ','
        echo "(\$a[$k] | c$k)"
      done
    } >"$LIB_TMP/checks.jq"
    local out
    if out=$(jq -R -s -r --argjson cat "$catalogue" -f "$LIB_TMP/checks.jq" "$LIB_TMP/answers" 2>&1); then
      k=0
      while IFS= read -r line; do
        [[ $line == R* ]] || continue
        line=${line#R}
        line=${line# }
        jqres[${D_CASE[$k]}]=$line
        jqnames[${D_CASE[$k]}]=${D_NAMES[$k]}
        k=$((k + 1))
      done <<<"$out"
      [[ $k -eq $n ]] || fail "[$label] the checks gave $k results for $n answers"
    else
      fail "[$label] jq could not run the checks: ${out:0:500}"
    fi
  fi
  for ((i = 0; i < NCASES; i++)); do
    problems=()
    IFS=$'\x1f' read -r -a problems <<<"${R_PROBLEMS[$i]:-}"
    if [[ -n ${jqres[$i]+x} ]]; then
      if [[ ${jqres[$i]} == X ]]; then
        problems+=("the answer is not JSON")
      else
        read -r -a results <<<"${jqres[$i]}"
        IFS=$'\x1f' read -r -a names <<<"${jqnames[$i]}"
        for ((j = 0; j < ${#names[@]}; j++)); do
          [[ ${results[$j]:-0} == 1 ]] || problems+=("expected: ${names[$j]}")
        done
      fi
    fi
    if [[ ${#problems[@]} -eq 0 ]]; then
      ok "[$label] ${C_NAME[$i]}"
    else
      fail "[$label] ${C_NAME[$i]}: ${problems[0]}"
      for p in "${problems[@]}"; do printf '      - %s\n' "$p"; done
      printf '      request: %s\n      answer:  %s\n' "${R_REQ[$i]}" "${R_ANSWER[$i]}"
    fi
  done
}

# --- /metrics ---------------------------------------------------------------------------

metric() {  # metric NAME-WITH-LABELS: its value on $base_url/metrics (an admin key), 0 when absent
  curl -s --max-time 10 -H "Authorization: Bearer $key_admin" "$base_url/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}

check_metrics() {
  local label=$1 ok200 ok422 alive p200 p422 a200 eps e0 bcount b0 bsum s0 r0 o0 z0
  ok200='offerd_http_requests_total{route="/predict",status="200"}'
  ok422='offerd_http_requests_total{route="/predict",status="422"}'
  alive='offerd_http_requests_total{route="/is-alive",status="200"}'
  eps=offerd_episodes_written_total
  bcount=offerd_db_batch_size_count
  bsum=offerd_db_batch_size_sum
  p200=$(metric "$ok200")
  p422=$(metric "$ok422")
  a200=$(metric "$alive")
  e0=$(metric "$eps")
  b0=$(metric "$bcount")
  s0=$(metric "$bsum")
  [[ $p200 -gt 0 ]] || fail "[$label] metrics: $ok200 should count the table's requests, got '$p200'"
  http POST "$base_url/predict" -H "Authorization: Bearer $key_a" -H 'Content-Type: application/json' \
    --data-binary "$(jq -c '.predict + {customer_id: "c-metrics"}' <<<"$defaults")"
  LIB_QUIET=1 expect_status 200 "[$label] metrics: a /predict"
  http POST "$base_url/predict" -H "Authorization: Bearer $key_a" -H 'Content-Type: application/json' \
    --data-binary '{"customer_id": "c-metrics"}'
  LIB_QUIET=1 expect_status 422 "[$label] metrics: a 422 /predict"
  http GET "$base_url/is-alive"
  expect_eq "$(metric "$ok200")" $((p200 + 1)) "[$label] metrics: /predict 200 counter moved by one"
  expect_eq "$(metric "$ok422")" $((p422 + 1)) "[$label] metrics: /predict 422 counter moved by one"
  expect_eq "$(metric "$alive")" $((a200 + 1)) "[$label] metrics: /is-alive 200 counter moved by one"
  expect_eq "$(metric "$eps")" $((e0 + 1)) "[$label] metrics: episodes written moved by one"
  expect_eq "$(metric "$bcount")" $((b0 + 1)) "[$label] metrics: one more writer batch in the histogram"
  expect_eq "$(metric "$bsum")" $((s0 + 1)) "[$label] metrics: batch sizes sum moved by the one episode"
  # Every route of the table has its own label (once only eight had, the rest
  # were "other"); a path no route takes is "other".
  local ready other pz
  ready='offerd_http_requests_total{route="/ready",status="200"}'
  other='offerd_http_requests_total{route="other",status="404"}'
  pz='offerd_http_requests_total{route="/personalizer/v1.0/rank",status="401"}'
  r0=$(metric "$ready")
  o0=$(metric "$other")
  z0=$(metric "$pz")
  http GET "$base_url/ready"
  http GET "$base_url/no-such-route"
  http POST "$base_url/personalizer/v1.0/rank" -H 'Content-Type: application/json' --data-binary '{}'
  expect_eq "$(metric "$ready")" $((r0 + 1)) "[$label] metrics: GET /ready counted under route=\"/ready\""
  expect_eq "$(metric "$other")" $((o0 + 1)) "[$label] metrics: a path no route takes counted under route=\"other\""
  expect_eq "$(metric "$pz")" $((z0 + 1)) "[$label] metrics: a Personalizer rank without a key counted under its route"
}

# --- a revoked key ----------------------------------------------------------------------

check_revoke() {
  local label=$1 db=$2 key i t0 body
  key=$(key_create "$db" A)
  body=$(jq -c '.predict + {customer_id: "c-revoke"}' <<<"$defaults")
  # offerd loads new keys within its refresh interval (0.2 s here).
  for ((i = 0; i < 50; i++)); do
    http POST "$base_url/predict" -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary "$body"
    [[ $HTTP_STATUS == 200 ]] && break
    sleep 0.05
  done
  expect_status 200 "[$label] keys: a key created while offerd runs works within ~1 s" || return
  timeout 30 "$build/offerctl" keys revoke "${key:0:12}" --database-url "$db" >/dev/null ||
    { fail "[$label] keys: offerctl keys revoke ${key:0:12} failed"; return; }
  t0=$EPOCHREALTIME
  for ((i = 0; i < 50; i++)); do
    http POST "$base_url/predict" -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary "$body"
    [[ $HTTP_STATUS == 401 ]] && break
    sleep 0.05
  done
  expect_status 401 "[$label] keys: a revoked key is refused ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after offerctl keys revoke)"
}

# --- company_A.json end to end --------------------------------------------------------

replay_company_a() {
  local label=$1 db=$2 n i rec cust path ep offers allowed e0 r0 want have
  local -a custs=() ep1=() ep2=() off1=() off2=()
  n=$(jq length "$company_a")
  [[ $n -eq 6 ]] || fail "[$label] $company_a should hold six customers, has $n"
  e0=$(db_count "$db" tb_episodes)
  r0=$(db_count "$db" tb_rewards)
  for ((i = 0; i < n; i++)); do
    rec=$(jq -c ".[$i]" "$company_a")
    cust=$(jq -r .customer_id <<<"$rec")
    custs+=("$cust")
    allowed=$(jq -c '[.offers | to_entries[] | select(.value == "True" or .value == true) | .key]' <<<"$rec")
    for path in /predict /predict-v2; do
      http POST "$base_url$path" -H "Authorization: Bearer $key_a" -H 'Content-Type: application/json' \
        --data-binary "$rec"
      LIB_QUIET=1 expect_status 200 "[$label] company_A.json: $cust through $path" || continue
      LIB_QUIET=1 expect_jq '
        (.customer_id == $c)
        and (.["best-three-offers"] | (if type == "object" then keys_unsorted else . end)
             | length == ([($al | length), 3] | min) and (unique | length) == length
               and all(.[]; . as $x | $al | any(. == $x)))
        and (if $v2 == "/predict-v2" then (.["best-three-offers"] | to_entries | all(.value == $cat[.key]))
             else true end)' \
        "[$label] company_A.json: $cust on $path: min(3, allowed) distinct allowed offers${path/\/predict-v2/, names from TB_PRODUCTS_A}" \
        --argjson al "$allowed" --argjson cat "$catalogue" --arg c "$cust" --arg v2 "$path" || continue
      ep=$(jq .episode_id <<<"$HTTP_BODY")
      offers=$(jq -r '.["best-three-offers"] | (if type == "object" then keys_unsorted else . end) | join(",")' <<<"$HTTP_BODY")
      if [[ $path == /predict ]]; then ep1+=("$ep"); off1+=("$offers"); else ep2+=("$ep"); off2+=("$offers"); fi
    done
  done
  [[ ${#ep1[@]} -eq 6 && ${#ep2[@]} -eq 6 ]] || fail "[$label] company_A.json: not every customer got two answers"
  ok "[$label] company_A.json: 6 customers answered on /predict and /predict-v2 with allowed offers"
  expect_eq "$(db_count "$db" tb_episodes)" $((e0 + 12)) "[$label] TB_EPISODES has 6+6 more rows (offerctl db count)"

  # The rows, read in one query: each customer has the two episodes of its
  # answers, in order, with the answers' offers; states as received (the
  # same JSON); offers all flagged "True" in company_A.json.
  local inlist rows c id o1 o2 o3 st line verdict
  local -A got=() verdicts=()
  inlist=$(printf "'%s'," "${custs[@]}")
  inlist=${inlist%,}
  rows=$(sql "$db" "SELECT customer_id, id, predicted_offer_1, COALESCE(predicted_offer_2, ''), COALESCE(predicted_offer_3, ''), states FROM tb_episodes WHERE company = 'A' AND customer_id IN ($inlist) ORDER BY id")
  while IFS="|" read -r c id o1 o2 o3 _; do
    [[ -n $c ]] && got[$c]+="$id|$o1|$o2|$o3;"
  done <<<"$rows"
  while read -r c verdict; do
    [[ -n $c ]] && verdicts[$c]+="$verdict;"
  done < <(jq -R -s -r --slurpfile recs "$company_a" '
    ($recs[0] | map({(.customer_id): .}) | add) as $by
    | split("\n")[] | select(length > 0) | split("|")
    | .[0] as $c | $by[$c] as $r | (.[5:] | join("|")) as $st
    | "\($c) \(if ($st | try fromjson catch null) == $r.states then "states" else "STATES" end)-\(
        if all(.[2:5][] | select(length > 0); . as $x | $r.offers[$x] == "True") then "offers" else "OFFERS" end)"' <<<"$rows")
  for ((i = 0; i < ${#custs[@]} && i < ${#ep1[@]} && i < ${#ep2[@]}; i++)); do
    c=${custs[$i]}
    want="${ep1[$i]}|${off1[$i]//,/|};${ep2[$i]}|${off2[$i]//,/|};"
    expect_eq "${got[$c]:-}" "$want" "[$label] TB_EPISODES: $c has two rows with the answers' offers, in order"
    expect_eq "${verdicts[$c]:-}" "states-offers;states-offers;" \
      "[$label] TB_EPISODES: $c's rows keep the states as received and only offers flagged True"
  done

  # Rewards: the brief's spelling for even customers (accepted), ours for odd ones (not).
  local acc field
  for ((i = 0; i < ${#custs[@]}; i++)); do
    cust=${custs[$i]}
    if ((i % 2 == 0)); then acc=true; field='accepted_one_of the_three_offers'; else acc=false; field=accepted_one_of_the_three_offers; fi
    http PUT "$base_url/rewards" -H "Authorization: Bearer $key_a" -H 'Content-Type: application/json' \
      --data-binary "$(jq -c -n --arg c "$cust" --arg f "$field" --argjson a "$acc" '{customer_id: $c, timestamp: "2022-04-05", ($f): $a}')"
    LIB_QUIET=1 expect_status 200 "[$label] company_A.json: reward $cust" && expect_eq "$HTTP_BODY" '"Sucess"' "[$label] company_A.json: reward $cust answers \"Sucess\""
  done
  expect_eq "$(db_count "$db" tb_rewards)" $((r0 + 6)) "[$label] TB_REWARDS has 6 more rows (offerctl db count)"
  local -A rewarded=()
  rows=$(sql "$db" "SELECT customer_id, episode_id, CASE WHEN accepted_offer THEN 1 ELSE 0 END, company FROM tb_rewards WHERE customer_id IN ($inlist) ORDER BY id")
  while IFS='|' read -r c line; do
    [[ -n $c ]] && rewarded[$c]+="$line;"
  done <<<"$rows"
  for ((i = 0; i < ${#custs[@]} && i < ${#ep2[@]}; i++)); do
    c=${custs[$i]}
    ((i % 2 == 0)) && acc=1 || acc=0
    expect_eq "${rewarded[$c]:-}" "${ep2[$i]}|$acc|A;" "[$label] TB_REWARDS: $c's one reward is on its latest episode (${ep2[$i]}), accepted=$acc"
  done

  # The catalogue, as imported.
  want=$(tail -n +2 "$products_csv" | tr -d '\r' | grep -v '^$' | cut -d, -f2,3 | tr ',' '|')
  have=$(sql "$db" "SELECT offer_id, product_name FROM tb_products_a ORDER BY id")
  expect_eq "$have" "$want" "[$label] TB_PRODUCTS_A holds $products_csv"
  expect_eq "$(db_count "$db" tb_products_a)" 10 "[$label] TB_PRODUCTS_A has 10 rows (offerctl db count)"
}

# --- one backend ---------------------------------------------------------------------------

run_backend() {
  local label=$1 db=$2 t0 ncases i
  t0=$(date +%s.%N)
  note "=== $label: $db"
  timeout 60 "$build/offerctl" products import "$products_csv" --company A --database-url "$db" >/dev/null ||
    die "[$label] offerctl products import $products_csv failed"
  key_a=$(key_create "$db" A)
  key_b=$(key_create "$db" B)
  key_admin=$(key_create "$db" A admin)
  offerd_start "$label" "$db" --body-max 4096 --refresh 0.2 --threads 4
  base_url=${OFFERD_URL[$label]}
  VARS=()
  D_PROG=() D_NAMES=() D_CASE=() R_PROBLEMS=() R_REQ=() R_ANSWER=() jqnames=()
  : >"$LIB_TMP/answers"
  ncases=$NCASES
  for ((i = 0; i < ncases; i++)); do
    run_case "$label" "$db" "$i"
  done
  finish_cases "$label"
  check_metrics "$label"
  check_revoke "$label" "$db"
  replay_company_a "$label" "$db"
  offerd_stop "$label"
  note "=== $label: $ncases cases and the replay in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

# The backends run side by side (OFFERD_TEST_SERIAL=1: one after the other).
for b in $backends; do
  [[ $b == sqlite ]] && lib_require sqlite3
  backend_db "$b" http db
  [[ $b == pg ]] && b=postgresql
  set -- "$b" "$db"
  if [[ ${OFFERD_TEST_SERIAL:-0} == 1 ]]; then
    run_backend "$@"
  else
    lib_bg "$1" run_backend "$@"
  fi
done
lib_bg_wait
lib_done
