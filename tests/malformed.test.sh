#!/usr/bin/env bash
# Malformed requests (issue 7 item 5, issue 2 item 7): a corpus of well over
# 200 bad requests, sent with curl to /predict, /predict-v2, /rewards and
# /batch of the real offerd (SQLite, API keys on as in production):
#  - the files in tests/malformed/ (TARGET--EXPECT--NAME.EXT; see its README):
#    the brief's own examples, broken Python literals, invalid UTF-8, NUL
#    bytes, UTF-16, SQL fragments where they are invalid, broken CSVs;
#  - generated here: truncations of a valid body, a wrong type for every
#    field, huge numbers, huge strings, deep nesting, duplicate keys, offers
#    with 65 and 1000 entries, bodies over the limit (plain and chunked),
#    bad methods, bad paths, wrong content types, missing and wrong API keys.
# Every answer must be a 4xx (the expected one where the contract names it)
# with a JSON body {"status": <the HTTP status>, "error", "message"} and
# Content-Type application/json (405 with Allow, 401 with WWW-Authenticate);
# none a 5xx, none a timeout; offerd must be alive and serving at the end.
# A summary count per status is printed.
# Then: protocol-level garbage that libmicrohttpd answers itself (reported;
# only "no 5xx except 505 for an HTTP/9.9 request line, and still alive" is
# asserted), and strings that look like SQL or PostgreSQL array syntax in
# valid fields, which must be stored verbatim, on SQLite and on PostgreSQL.
# Exits 77 (skipped) when $OFFERD_BUILD/offerd has not been built.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2
PROC_NAME=malformed PROC_TOOLS="curl jq sqlite3 psql iconv"
# shellcheck source=tests/proc_lib.sh
source tests/proc_lib.sh

deadline 150

# --- the server ---------------------------------------------------------------------

mdb="sqlite:$tmp/malformed.db"
key=$(timeout 30 "$build/offerctl" keys create --company A --database-url "$mdb" 2>/dev/null)
[[ -n $key ]] || { fail "offerctl keys create printed no key"; exit 1; }
start mal "$mdb" --access-log off --batch-body-max-mb 1
u=${URL[mal]}
AUTH="Authorization: Bearer $key"

# Setup: customer m-known has two episodes, the first rewarded; m-other has
# one; m-done has one, rewarded; m-offer, m-click, m-click4 and m-clickdup
# one each (OFFER_1 and OFFER_2 shown), each for one case below, so that a
# case wrongly accepted cannot change the answer to another. The valid bodies also prove the server and
# the key work, so that the 4xx below are about the bodies.
# req METHOD PATH BODY: sets CODE and BODY.
req() {
  CODE=$(curl -s --max-time 10 -o "$tmp/req.body" -w '%{http_code}' -X "$1" -H "$AUTH" \
    -H 'Content-Type: application/json' --data-binary "$3" "$u$2")
  BODY=$(cat "$tmp/req.body")
}
episode() {
  req POST /predict "{\"customer_id\": \"$1\", \"timestamp\": \"2022-01-01\", \"states\": {\"age\": 30}, \"offers\": {\"OFFER_1\": true, \"OFFER_2\": true}}"
  [[ $CODE == 200 ]] || { fail "setup: a valid /predict for $1 answered $CODE: $BODY"; exit 1; }
  jq -r .episode_id <<<"$BODY"
}
ep_rewarded=$(episode m-known)
episode m-known >/dev/null
ep_other=$(episode m-other)
episode m-done >/dev/null
episode m-offer >/dev/null
episode m-click >/dev/null
episode m-click4 >/dev/null
episode m-clickdup >/dev/null
req PUT /rewards "{\"customer_id\": \"m-known\", \"accepted_one_of_the_three_offers\": true, \"episode_id\": $ep_rewarded}"
[[ $CODE == 200 ]] || { fail "setup: reward of episode $ep_rewarded answered $CODE: $BODY"; exit 1; }
req PUT /rewards '{"customer_id": "m-done", "accepted_one_of_the_three_offers": false}'
[[ $CODE == 200 ]] || { fail "setup: reward of m-done answered $CODE: $BODY"; exit 1; }
req POST /predict-v2 "$(printf '{"customer_id": "m-v2", "timestamp": "2022-01-01", "states": %s, "offers": %s}' \
  '{"age": 18, "gender": "M", "client-since": "2020-01-01", "region": "Europa", "last_offer": "OFFER_5"}' \
  '{"OFFER_1": "True", "OFFER_2": "False", "OFFER_4": true}')"
[[ $CODE == 200 ]] && ok "setup: valid /predict, /predict-v2 and /rewards bodies answer 200" ||
  { fail "setup: the valid /predict-v2 body answered $CODE: $BODY"; exit 1; }

# --- the corpus -------------------------------------------------------------------------

corpus=$tmp/corpus
mkdir -p "$corpus"
n_static=0
for f in tests/malformed/*--*--*; do
  [[ -f $f ]] || continue
  cp -- "$f" "$corpus/"
  n_static=$((n_static + 1))
done

# rep STRING N: STRING repeated N times (no fork).
rep() { local s; printf -v s '%*s' "$2" ''; printf '%s' "${s// /$1}"; }

ST0='{"age": 18, "gender": "M", "client-since": "2020-01-01", "region": "Europa", "last_offer": "OFFER_5"}'
OF0='{"OFFER_1": "True", "OFFER_2": "False", "OFFER_4": true}'
# pbody [cid=JSON] [ts=JSON] [st=JSON] [of=JSON] [extra=MEMBERS]: a /predict
# body with those members replaced; the value OMIT leaves a member out.
pbody() {
  local cid='"m-1"' ts='"2022-01-01"' st=$ST0 of=$OF0 extra='' a out=''
  for a; do
    case $a in
      cid=*) cid=${a#cid=} ;; ts=*) ts=${a#ts=} ;; st=*) st=${a#st=} ;;
      of=*) of=${a#of=} ;; extra=*) extra=${a#extra=} ;;
    esac
  done
  [[ $cid != OMIT ]] && out+="\"customer_id\": $cid, "
  [[ $ts != OMIT ]] && out+="\"timestamp\": $ts, "
  [[ $st != OMIT ]] && out+="\"states\": $st, "
  [[ $of != OMIT ]] && out+="\"offers\": $of, "
  [[ -n $extra ]] && out+="$extra, "
  out=${out%, }
  printf '{%s}' "$out"
}
# Generated file names: a number (so that names never collide) and the
# case's name with anything but [A-Za-z0-9._-] made "_".
GEN=0
gen_file() {
  GEN=$((GEN + 1))
  local slug=${3//[^A-Za-z0-9._-]/_}
  printf -v GEN_FILE '%s/%s--%s--g%03d-%s.%s' "$corpus" "$1" "$2" "$GEN" "${slug:0:60}" "${4:-json}"
}
# P EXPECT NAME [member=JSON...]: a generated /predict case.
P() { local e=$1 n=$2; shift 2; gen_file predict "$e" "$n"; pbody "$@" >"$GEN_FILE"; }
# rbody [cid=JSON] [ts=JSON] [acc=JSON] [extra=MEMBERS]: a /rewards body.
rbody() {
  local cid='"m-known"' ts='"2022-04-05"' acc=true extra='' a out=''
  for a; do
    case $a in
      cid=*) cid=${a#cid=} ;; ts=*) ts=${a#ts=} ;; acc=*) acc=${a#acc=} ;; extra=*) extra=${a#extra=} ;;
    esac
  done
  [[ $cid != OMIT ]] && out+="\"customer_id\": $cid, "
  [[ $ts != OMIT ]] && out+="\"timestamp\": $ts, "
  [[ $acc != OMIT ]] && out+="\"accepted_one_of_the_three_offers\": $acc, "
  [[ -n $extra ]] && out+="$extra, "
  out=${out%, }
  printf '{%s}' "$out"
}
R() { local e=$1 n=$2; shift 2; gen_file rewards "$e" "$n"; rbody "$@" >"$GEN_FILE"; }
# RAW TARGET EXPECT NAME CONTENT [EXT]: a body as given.
RAW() { gen_file "$1" "$2" "$3" "${5:-json}"; printf '%s' "$4" >"$GEN_FILE"; }

valid=$(pbody)
# Syntax: truncations of a valid body at 14 places, and other broken JSON.
for n in 0 1 2 10 16 17 30 45 60 80 100 130 160 $((${#valid} - 2)) $((${#valid} - 1)); do
  RAW predict 400 "truncated-at-$n" "${valid:0:n}"
done
RAW predict 400 whitespace-only $'  \n\t '
for v in '[]' '"a string"' '152467' 'null' 'true' "[$valid]"; do
  RAW predict 400 "top-level-${v:0:8}" "$v"
done
RAW predict 400 two-objects "$valid$valid"
RAW predict 400 trailing-garbage "${valid}x"
RAW predict 400 unquoted-key "${valid/\"customer_id\"/customer_id}"
RAW predict 400 single-quoted-key "${valid/\"customer_id\"/\'customer_id\'}"
RAW predict 400 missing-comma "${valid/, \"timestamp\"/ \"timestamp\"}"
RAW predict 400 missing-colon "${valid/\"timestamp\": /\"timestamp\" }"
RAW predict 400 leading-bom $'\xef\xbb\xbf'"$valid"
RAW predict 400 form-encoded-body 'customer_id=152467&timestamp=2022-01-01&offers=OFFER_1'
RAW predict 400 deep-array "$(rep '[' 5000)"
RAW predict 400 deep-object "$(rep '{"a":' 3000)1$(rep '}' 3000)"
P 400 deep-nesting-in-states "st={\"a\": $(rep '[' 2100)$(rep ']' 2100)}"
P 400 duplicate-customer-id "extra=\"customer_id\": \"m-2\""
P 400 duplicate-offers "extra=\"offers\": {\"OFFER_2\": true}"
P 400 duplicate-key-in-states 'st={"age": 18, "age": 99}'
P 400 duplicate-key-in-offers 'of={"OFFER_1": false, "OFFER_1": true}'
P 400 huge-real-customer-id cid=1e400
P 400 huge-integer-customer-id cid=99999999999999999999999
P 400 huge-real-age 'st={"age": 1e999}'
P 400 huge-negative-integer-age 'st={"age": -99999999999999999999}'
P 400 huge-integer-flag 'of={"OFFER_1": 100000000000000000000000}'
P 400 huge-exponent-flag 'of={"OFFER_1": 1e99999}'
# Wrong type or value for every field.
for v in null true false 1.5 '[]' '{}' '""' '"   "' '["m-1"]' '{"id": "m-1"}'; do
  P 422 "customer-id-$v" "cid=$v"
done
P 422 customer-id-missing cid=OMIT
P 422 customer-id-129-chars "cid=\"$(rep x 129)\""
P 422 customer-id-60k-chars "cid=\"$(rep x 60000)\""
for v in null 1 true '[]' '{}' '""' '"not a date"' '"2022-13-01"' '"2022-02-30"' '"2021-02-29"' \
  '"0000-01-01"' '"2022-00-10"' '"2022-01-32"' '"2022-01-01T25:00"' '"2022-01-01T10:61"' \
  '"2022-01-01T10:00:61"' '"2022-01-01X10:00"' '"20220101"' '"2022/01/01"' '"01-01-2022"' '"2022-1-1"' \
  '"2022-01-01T10:00+24:00"' '"2022-01-01T10:00:00.Z"' '"2022-01-01T10:00:00Z extra"' '"2022-01-01T"' \
  '"-2022-01-01"' '"２０２２-01-01"' '1640995200' '"1640995200"'; do
  P 422 "timestamp-$v" "ts=$v"
done
P 422 timestamp-missing ts=OMIT
P 422 timestamp-1000-chars "ts=\"2022-01-01$(rep 0 990)\""
for v in null 1 true '[]' '""' '"not a dict"' '"[1, 2]"' '"null"' '"42"' '"{\"age\": 18"' \
  "\"{'age': }\"" "\"{'age': 18,, }\"" '"{age: 18}"' "\"{'age': 18} trailing\"" "\"{'age': True False}\"" \
  "\"'; DROP TABLE tb_episodes; --\"" "\"{'a': $(rep '[' 300)$(rep ']' 300)}\""; do
  P 422 "states-$v" "st=$v"
done
P 422 states-missing st=OMIT
P 422 states-nested-object 'st={"age": 18, "address": {"city": "Lisboa"}}'
P 422 states-array-value 'st={"age": 18, "region": ["Europa"]}'
P 422 states-python-nested "st=\"{'age': 18, 'region': {'name': 'Europa'}}\""
for v in '"abc"' true '[]' '{}' 151 -1 -0.5 1e308 '"1e999"' '"nan"' '"inf"' '"-5"' '"18 years"' '"0x10"' '"-1"'; do
  P 422 "age-$v" "st={\"age\": $v}"
done
fields='"age": 18'
for ((i = 0; i < 65; i++)); do fields+=", \"f$i\": $i"; done
P 422 states-65-fields "st={$fields}"
P 422 states-value-257-chars "st={\"age\": 18, \"region\": \"$(rep E 257)\"}"
P 422 states-key-257-chars "st={\"$(rep k 257)\": 1}"
P 422 states-value-60k-chars "st={\"age\": 18, \"region\": \"$(rep E 60000)\"}"
for v in null 1 true '[]' '{}' '""' '"{}"' '"not a dict"' '"[\"OFFER_1\"]"' '["OFFER_1"]' \
  "\"{'OFFER_1': Tru}\"" "\"{'OFFER_1': True\"" '"{\"OFFER_1\": true"'; do
  P 422 "offers-$v" "of=$v"
done
P 422 offers-missing of=OMIT
P 422 offers-all-false 'of={"OFFER_1": false, "OFFER_2": "False", "OFFER_3": 0}'
for v in '"maybe"' 2 -1 null 1.0 0.5 '[]' '{}' '"yes"' '""' '"T"' '"1.0"' '" true"'; do
  P 422 "offer-flag-$v" "of={\"OFFER_1\": $v}"
done
P 422 offer-name-empty 'of={"": true}'
P 422 offer-name-comma 'of={"OFFER_1,OFFER_2": true}'
P 422 offer-name-64-chars "of={\"$(rep O 64)\": true}"
P 422 offer-name-60k-chars "of={\"$(rep O 60000)\": true}"
P 422 offer-name-control-char 'of={"OFFER\u0001": true}'
P 422 offer-name-newline 'of={"OFFER\n1": true}'
offers=
for ((i = 1; i <= 65; i++)); do offers+="\"OFFER_$i\": true, "; done
P 422 offers-65-entries "of={${offers%, }}"
offers=
for ((i = 1; i <= 1000; i++)); do offers+="\"OFFER_$i\": true, "; done
P 422 offers-1000-entries "of={${offers%, }}"
offers=
for ((i = 1; i <= 1000; i++)); do offers+="'OFFER_$i': True, "; done
P 422 offers-1000-entries-python-string "of=\"{${offers%, }}\""
# Bodies over the 64 KiB limit (declared, and chunked: curl -H 'Transfer-Encoding: chunked').
# valid has customer_id "m-1": a customer_id of N characters makes the body
# ${#valid} - 3 + N bytes. 65536 is the limit: at it, a 422 (the id is too
# long); one byte over, a 413.
P 422 body-65536-bytes-at-the-limit "cid=\"$(rep x $((65536 - ${#valid} + 3)))\""
P 413 body-65537-bytes "cid=\"$(rep x $((65537 - ${#valid} + 3)))\""
P 413 body-1-mib "st={\"pad\": \"$(rep p 1048576)\"}"
gen_file predict 413 body-10-mib-of-spaces
head -c 10485760 /dev/zero | tr '\0' ' ' >"$GEN_FILE"

# /rewards: a customer with episodes (m-known) and one rewarded episode are made below.
for n in 0 1 20 40 60; do
  v=$(rbody)
  RAW rewards 400 "truncated-at-$n" "${v:0:n}"
done
RAW rewards 400 top-level-array "[$(rbody)]"
RAW rewards 400 top-level-string '"Sucess"'
R 400 duplicate-accepted 'extra="accepted_one_of_the_three_offers": false'
R 400 huge-episode-id 'extra="episode_id": 99999999999999999999'
R 400 deep-nesting "extra=\"clicked_offers\": $(rep '[' 3000)$(rep ']' 3000)"
for v in null true 1.5 '[]' '{}' '""' '"   "'; do R 422 "customer-id-$v" "cid=$v"; done
R 422 customer-id-missing cid=OMIT
R 422 customer-id-129-chars "cid=\"$(rep x 129)\""
for v in null '"maybe"' 2 -1 1.5 '[]' '{}' '""' '"yes"'; do R 422 "accepted-$v" "acc=$v"; done
R 422 accepted-missing acc=OMIT
for v in 5 true '"2022-13-45"' '"yesterday"' '"2022-04-05T99:00"'; do R 422 "timestamp-$v" "ts=$v"; done
for v in 0 -1 '"1"' 1.5 true '[]' 1e3; do R 422 "episode-id-$v" "extra=\"episode_id\": $v"; done
for v in 5 '""' '"A,B"' "\"$(rep O 64)\"" '[]' true; do R 422 "accepted-offer-$v" "extra=\"accepted_offer\": $v"; done
for v in '"OFFER_1"' '[1]' '[""]' '[["OFFER_1"]]' '{"OFFER_1": 1}' '["a,b"]'; do
  R 422 "clicked-offers-$v" "extra=\"clicked_offers\": $v"
done
clicked=
for ((i = 1; i <= 65; i++)); do clicked+="\"OFFER_$i\", "; done
R 422 clicked-offers-65 "extra=\"clicked_offers\": [${clicked%, }]"
R 404 unknown-customer 'cid="nobody-has-this-id"'
# Reward attribution errors (customers and episodes made by setup above).
R 404 unknown-episode-of-known-customer 'extra="episode_id": 999999999'
R 404 episode-of-another-customer "extra=\"episode_id\": $ep_other"
R 409 episode-already-rewarded "extra=\"episode_id\": $ep_rewarded"
R 409 every-episode-already-rewarded 'cid="m-done"'
# Credit for an offer the episode never showed (it showed OFFER_1 and OFFER_2).
R 422 accepted-offer-not-shown 'cid="m-offer"' 'extra="accepted_offer": "OFFER_9"'
R 422 clicked-offer-not-shown 'cid="m-click"' 'extra="clicked_offers": ["OFFER_1", "OFFER_7"]'
# share/openapi.json: clicked_offers has uniqueItems and maxItems 3.
R 422 clicked-offers-4 'cid="m-click4"' 'extra="clicked_offers": ["OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4"]'
R 422 clicked-offers-duplicate 'cid="m-clickdup"' 'extra="clicked_offers": ["OFFER_1", "OFFER_1"]'
R 413 body-over-limit "cid=\"$(rep x 70000)\""

# /batch (--batch-body-max-mb 1 on this server): whole-file errors only; a
# bad row is reported in the result CSV (200), by design.
H='customer_id;age;gender;region;timestamp;Offer_1;Offer_2'
RAW batch 400 empty '' csv
RAW batch 400 header-without-offers 'customer_id;age'$'\n''1;18'$'\n' csv
RAW batch 400 header-301-columns "customer_id;$(rep 'x;' 300)Offer_1"$'\n''1;2'$'\n' csv
RAW batch 400 header-2kib-column-name "customer_id;Offer_1;$(rep c 2048)"$'\n''1;1;x'$'\n' csv
RAW batch 400 binary-garbage $'\x01\x02\x03\x04\xff\xfe\xfd' csv
RAW batch 400 sql-as-header "'; DROP TABLE tb_episodes; --"$'\n' csv
rows="$H"$'\n'
row='c;18;M;Europa;2022-01-01;0;0'$'\n'
rows+=$(rep "$row" $((1100000 / ${#row})))
RAW batch 413 body-over-1-mib "$rows" csv

n_gen=$(($(find "$corpus" -type f | wc -l) - n_static))
note "corpus: $n_static files from tests/malformed/ and $n_gen generated"

# --- sending -----------------------------------------------------------------------------

results=$tmp/results.tsv
: >"$results"
declare -A EXP=() DESC=()
NCASE=0
# send EXPECT DESC METHOD PATH BODYFILE|- [-H HEADER | -F FORM]...: queues
# one request; run_all sends them all with one curl process (curl -K, one
# transfer per request, keep-alive where the server allows it: a process per
# request costs more than the request on a loaded machine). AUTH_HDR
# (default: the valid key) is sent unless empty.
cfg=$tmp/curl.cfg
rdir=$tmp/r
mkdir -p "$rdir"
: >"$cfg"
# cq VALUE: sets Q to VALUE quoted for a curl config file (no subshell).
cq() { Q=${1//\\/\\\\}; Q=${Q//\"/\\\"}; Q="\"$Q\""; }
send() {
  local exp=$1 desc=$2 method=$3 path=$4 bodyf=$5 id
  shift 5
  NCASE=$((NCASE + 1))
  id=$NCASE
  EXP[$id]="$exp|$method"
  DESC[$id]="$method ${path:0:80} ${bodyf##*/}"
  {
    cq "$u$path"
    printf 'url = %s\ngloboff\npath-as-is\nmax-time = 10\n' "$Q"
    printf 'output = "%s/%s.body"\ndump-header = "%s/%s.hdr"\n' "$rdir" "$id" "$rdir" "$id"
    printf 'write-out = "%s %%{http_code} %%{time_total}\\n"\n' "$id"
    if [[ $method == HEAD ]]; then
      echo head
    else
      cq "$method"
      printf 'request = %s\n' "$Q"
    fi
    if [[ -n ${AUTH_HDR-$AUTH} ]]; then
      cq "${AUTH_HDR-$AUTH}"
      printf 'header = %s\n' "$Q"
    fi
    if [[ $bodyf != - ]]; then
      cq "@$bodyf"
      printf 'data-binary = %s\n' "$Q"
    fi
    while [[ $# -ge 2 ]]; do
      cq "$2"
      case $1 in
        -H) printf 'header = %s\n' "$Q" ;;
        -F) printf 'form = %s\n' "$Q" ;;
      esac
      shift 2
    done
    echo next
  } >>"$cfg"
}

# run_all: sends the queued requests; writes $results, one line per request:
# ID, status, seconds, Allow, Content-Type, WWW-Authenticate, body (on one
# line), separated by \x1f (not white space, so that read keeps empty fields).
run_all() {
  local id code t line k v allow ctype wwwa body
  printf 'url = "%s/is-alive"\noutput = "/dev/null"\n' "$u" >>"$cfg"  # closes the last "next"
  timeout 300 curl -s -K "$cfg" >"$tmp/writeout" 2>"$tmp/curl.err"
  declare -gA CODE_OF=() T_OF=()
  while read -r id code t; do CODE_OF[$id]=$code; T_OF[$id]=$t; done <"$tmp/writeout"
  : >"$results"
  for ((id = 1; id <= NCASE; id++)); do
    code=${CODE_OF[$id]:-000}
    t=${T_OF[$id]:-0}
    allow='' ctype='' wwwa='' body=''
    if [[ -f $rdir/$id.hdr ]]; then
      while IFS= read -r line; do
        line=${line%$'\r'}
        k=${line%%:*}
        v=${line#*:}
        v=${v# }
        case ${k,,} in
          allow) allow=$v ;; content-type) ctype=$v ;; www-authenticate) wwwa=$v ;;
        esac
      done <"$rdir/$id.hdr"
    fi
    [[ -f $rdir/$id.body ]] && IFS= read -r -d '' body <"$rdir/$id.body"
    body=${body//[$'\n\r\t\x1f']/ }
    printf '%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\n' "$id" "$code" "$t" "$allow" "$ctype" "$wwwa" "$body" >>"$results"
  done
}

t_send=$(now)
# The corpus files.
for f in "$corpus"/*; do
  b=${f##*/}
  target=${b%%--*}
  rest=${b#*--}
  exp=${rest%%--*}
  case $target in
    predict)
      send "$exp" predict POST /predict "$f" -H 'Content-Type: application/json'
      send "$exp" predict POST /predict-v2 "$f" -H 'Content-Type: application/json'
      ;;
    rewards) send "$exp" rewards PUT /rewards "$f" -H 'Content-Type: application/json' ;;
    batch) send "$exp" batch POST /batch "$f" -H 'Content-Type: text/csv' ;;
    *) fail "tests/malformed/$b: unknown target '$target' (predict, rewards or batch)" ;;
  esac
done
n_body=$NCASE

# Chunked bodies over the limit (no Content-Length: the server must count).
gen_file predict 413 chunked-200k
printf '{"customer_id": "%s"}' "$(rep c 200000)" >"$GEN_FILE"
send 413 chunked POST /predict "$GEN_FILE" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked'
send 413 chunked PUT /rewards "$GEN_FILE" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked'
gen_file batch 413 chunked-over-1-mib csv
printf '%s' "$rows" >"$GEN_FILE"
send 413 chunked POST /batch "$GEN_FILE" -H 'Content-Type: text/csv' -H 'Transfer-Encoding: chunked'

# Wrong content types (a valid body otherwise).
vf=$tmp/valid.json
pbody >"$vf"
vr=$tmp/valid-reward.json
rbody >"$vr"
vc=$tmp/valid.csv
printf '%s\n%s\n' "$H" 'c1;18;M;Europa;2022-01-01;1;0' >"$vc"
for ct in text/plain application/x-www-form-urlencoded application/xml text/csv text/html \
  application/jsonx applicationjson 'application/json-patch+json' image/png 'multipart/form-data; boundary=x' \
  'text/json2' '*/*'; do
  send 415 ctype POST /predict "$vf" -H "Content-Type: $ct"
  send 415 ctype POST /predict-v2 "$vf" -H "Content-Type: $ct"
done
for ct in text/plain application/x-www-form-urlencoded text/csv; do
  send 415 ctype PUT /rewards "$vr" -H "Content-Type: $ct"
done
for ct in application/json text/plain application/octet-stream 'multipart/form-data; boundary=x'; do
  send 415 ctype POST /batch "$vc" -H "Content-Type: $ct"
done
send 415 ctype POST /predict - -F "file=@$vf;type=application/json"

# Bad methods: 405 with Allow.
for m in GET PUT DELETE PATCH OPTIONS TRACE FOO; do
  send 405 method "$m" /predict "$vf" -H 'Content-Type: application/json'
  send 405 method "$m" /predict-v2 "$vf" -H 'Content-Type: application/json'
done
for m in GET POST DELETE PATCH OPTIONS; do send 405 method "$m" /rewards "$vr" -H 'Content-Type: application/json'; done
for m in GET PUT DELETE PATCH; do send 405 method "$m" /batch "$vc" -H 'Content-Type: text/csv'; done
for m in POST PUT DELETE; do send 405 method "$m" /is-alive -; done
send 405 method POST /metrics -
send 405 method HEAD /predict -

# Bad paths: 404 (JSON) whatever the method.
for p in /predict/ /Predict /PREDICT /predict-v3 /predictv2 /predict/extra //predict /./predict \
  /../predict /predict%20 /predict%00 /%00 /%ff%fe /rewards/ /batch/x /is-alive/x /v1/predict \
  "/predict;jsessionid=1" "/$(rep a 5000)" "/'%20OR%20'1'='1" /index.php /.env; do
  send 404 path POST "$p" "$vf" -H 'Content-Type: application/json'
done
for p in /nope /docs/assets/../../etc/passwd /docs/assets/%2e%2e/%2e%2e/etc/passwd /docs/assets/.hidden \
  /docs/assets/..%2f..%2fetc%2fpasswd /docs/assets/%00 /docs/assets/nope.js "/docs/assets/$(rep a 3000)"; do
  send 404 path GET "$p" -
done

# API keys: 401 with WWW-Authenticate (the body is valid).
for h in '' 'Authorization: Bearer wrong-key' 'Authorization: Basic dXNlcjpwYXNz' 'Authorization: Bearer' \
  'Authorization: Bearer     ' "Authorization: Bearer $(rep k 300)" 'X-API-Key: wrong-key' \
  "Authorization: $key" "Authorization: Bearer ${key}x" "Authorization: Bearer ${key:0:${#key}-1}" \
  "Authorization: Bearer ' OR '1'='1"; do
  AUTH_HDR=$h send 401 auth POST /predict "$vf" -H 'Content-Type: application/json'
done
AUTH_HDR='' send 401 auth PUT /rewards "$vr" -H 'Content-Type: application/json'
AUTH_HDR='' send 401 auth POST /batch "$vc" -H 'Content-Type: text/csv'
AUTH_HDR='X-API-Key: nope' send 401 auth POST /predict-v2 "$vf" -H 'Content-Type: application/json'
run_all
t_sent=$(now)
note "sent $NCASE malformed requests ($n_body with a corpus body) in $(secs "$t_send" "$t_sent") s"

# --- verdicts ---------------------------------------------------------------------------------

# One jq pass: is each body a JSON error object whose status is the HTTP status?
jq -R -r 'split("\u001f") as $f | ($f[6] // "") as $b | (try ($b | fromjson) catch null) as $j |
  [$f[0],
   (if ($j | type) == "object" and ($j.error | type) == "string" and ($j.message | type) == "string"
       and ($j.status | type) == "number" then
      (if ($j.status | tostring) == $f[1] then "json" else "json-status-\($j.status)" end)
    elif $b == "" then "empty" else "not-json" end)] | @tsv' "$results" >"$tmp/verdicts.tsv"
declare -A JV=()
while IFS=$'\t' read -r id v; do JV[$id]=$v; done <"$tmp/verdicts.tsv"
declare -A BY_STATUS=()
bad=0
max_t=0
max_desc=
brief_n=0
brief_ok=0
while IFS=$'\x1f' read -r id code t allow ctype wwwa body; do
  IFS='|' read -r exp method <<<"${EXP[$id]}"
  BY_STATUS[$code]=$((${BY_STATUS[$code]:-0} + 1))
  le "$t" "$max_t" || { max_t=$t; max_desc=${DESC[$id]}; }
  why=
  if [[ ! $code =~ ^4[0-9][0-9]$ ]]; then
    why="status $code, not a 4xx"
  elif [[ $exp != 4xx && ,$exp, != *",$code,"* ]]; then
    why="status $code, expected $exp"
  elif [[ $method != HEAD && ${JV[$id]} != json ]]; then
    why="body is ${JV[$id]}, not a JSON error with status, error and message"
  elif [[ $method != HEAD && ${ctype%%;*} != application/json ]]; then
    why="Content-Type '$ctype', not application/json"
  elif [[ $code == 405 && -z $allow ]]; then
    why="405 without Allow"
  elif [[ $code == 401 && -z $wwwa ]]; then
    why="401 without WWW-Authenticate"
  fi
  if [[ ${DESC[$id]} == *brief-example-unescaped-quotes* ]]; then
    brief_n=$((brief_n + 1))
    [[ $code == 400 && $body =~ line\ [0-9]+,\ column\ [0-9]+ ]] && brief_ok=$((brief_ok + 1))
  fi
  if [[ -n $why ]]; then
    bad=$((bad + 1))
    [[ $bad -le 40 ]] && printf 'FAIL: %s: %s; answer: %s\n' "${DESC[$id]}" "$why" "${body:0:240}"
  fi
done <"$results"
fails=$((fails + bad))
checks=$((checks + NCASE))
summary=$(for s in "${!BY_STATUS[@]}"; do printf '%s:%d ' "$s" "${BY_STATUS[$s]}"; done | tr ' ' '\n' | sort | tr '\n' ' ')
note "answers by status: $summary"
note "slowest answer: $max_t s ($max_desc)"
[[ $NCASE -ge 200 ]] && ok "the corpus has $NCASE malformed requests (at least 200)" ||
  fail "the corpus has only $NCASE malformed requests (at least 200 wanted)"
[[ $bad -eq 0 ]] && ok "all $NCASE malformed requests got the right 4xx with a JSON error body" ||
  fail "$bad of $NCASE malformed requests were not answered as they should be (first 40 above)"
if iconv -f UTF-8 -t UTF-8 "$results" >/dev/null 2>&1; then
  ok "every error body is valid UTF-8 (messages that quote input included)"
else
  fail "some error bodies are not valid UTF-8"
fi
[[ $brief_n -eq 2 && $brief_ok -eq 2 ]] &&
  ok "the brief's own example (unescaped quotes) gets a 400 that gives the line and column, on /predict and /predict-v2" ||
  fail "the brief's example: $brief_ok of $brief_n answers point at the problem (line, column)"

# --- protocol-level garbage ---------------------------------------------------------------

# libmicrohttpd answers these itself, before offerd sees a request, with its
# own small HTML pages: reported, not held to the JSON rule. Asserted: no
# 5xx (but 505 for an HTTP/9.9 request line, which is what RFC 9110 says),
# and offerd is still alive afterwards.
note "== protocol-level garbage (answered by libmicrohttpd)"
port=${u##*:}
# raw NAME REQUEST(printf format): sends it on a fresh connection; prints the status line.
raw() {
  local st=
  if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    (printf "$2" >&3) 2>/dev/null
    IFS= read -r -t 5 st <&3
    exec 3>&-
  fi
  st=${st%$'\r'}
  st=${st#HTTP/1.? }
  st=${st%% *}
  [[ -n $st ]] || st=closed
  PROTO+=("$1=$st")
  case $st in
    4[0-9][0-9] | closed) ;;
    505) [[ $1 == http-9.9 ]] || fail "protocol: $1 answered 505" ;;
    *) fail "protocol: $1 answered $st" ;;
  esac
}
PROTO=()
raw header-over-32k "POST /predict HTTP/1.1\r\nHost: x\r\nX-Big: $(rep a 40000)\r\nContent-Length: 2\r\n\r\n{}"
raw 10000-headers "GET /is-alive HTTP/1.1\r\nHost: x\r\n$(rep 'X: y\r\n' 10000)\r\n"
raw bad-header-line 'POST /predict HTTP/1.1\r\nHost: x\r\nBad Header Line\r\nContent-Length: 2\r\n\r\n{}'
raw content-length-abc 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}'
raw content-length-negative 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}'
raw content-length-huge 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{}'
raw bad-chunk-size "POST /predict HTTP/1.1\r\nHost: x\r\n$AUTH\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"
raw http-9.9 'POST /predict HTTP/9.9\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'
raw garbage-request-line 'GARBAGE\r\n\r\n'
raw binary-request '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n'
raw relative-request-target 'POST predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'
raw url-over-32k "GET /$(rep a 40000) HTTP/1.1\r\nHost: x\r\n\r\n"
raw nul-in-request-line 'GET /is-\x00alive HTTP/1.1\r\nHost: x\r\n\r\n'
note "protocol: ${PROTO[*]}"
# A client that sends half a body and goes away must not cost anything.
if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  (printf 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"customer_id": "half' >&3) 2>/dev/null
  exec 3>&-
fi

# --- still alive and serving ----------------------------------------------------------------

if kill -0 "${PID[mal]}" 2>/dev/null; then
  ok "offerd is still running after $NCASE malformed requests and the protocol garbage"
else
  wait "${PID[mal]}" 2>/dev/null
  fail "offerd died (exit status $?): $(tail -n 5 "${LOG[mal]}")"
  PID[mal]=
fi
res=$(curl -s --max-time 10 "$u/is-alive")
jq -e '.status == "I'"'"'m alive and running"' >/dev/null 2>&1 <<<"$res" && ok "GET /is-alive still answers: $res" ||
  fail "GET /is-alive after the corpus: '$res'"
req POST /predict "$(pbody)"
[[ $CODE == 200 ]] && ok "a valid /predict still answers 200" || fail "a valid /predict after the corpus: $CODE $BODY"
if grep -aqiE 'internal|assert|sanitizer|segv|abort' "${LOG[mal]}"; then
  fail "the offerd log has internal errors: $(grep -aiE 'internal|assert|sanitizer|segv|abort' "${LOG[mal]}" | head -n 3)"
else
  ok "the offerd log has no internal error, assertion or sanitizer report"
fi

# --- strings that look like SQL or array syntax, in valid fields ----------------------------------

# They are data: stored byte for byte (episodes_insert on PostgreSQL builds
# array literals; quotes, backslashes, braces and NULL must survive), and
# the tables are still there.
verbatim() {
  local tag=$1 db=$2 url=$3 i v id hexes want got n_ok=0
  local vals=("'; DROP TABLE tb_episodes; --" 'Robert"); DROP TABLE tb_rewards; --' 'a","b' 'x\' '\\' 'NULL' 'null'
    '{1,2}' '{"a"}' '"' "'" '$1' '%s%n%x' '\N' ' lead and trail ' 'tab	in' '😀 ünïcödé' '--' '/* */' ';')
  declare -A ids=()
  for i in "${!vals[@]}"; do
    v=${vals[$i]}
    body=$(jq -cn --arg c "$v" --arg r "$v" '{customer_id: $c, timestamp: "2022-01-01", states: {region: $r, note: $c}, offers: {OFFER_1: true}}')
    CODE=$(curl -s --max-time 10 -o "$tmp/v.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -H "$AUTH" --data-binary "$body" "$url/predict")
    id=$(jq -r '.episode_id // empty' "$tmp/v.body" 2>/dev/null)
    if [[ $CODE != 200 || -z $id ]]; then
      fail "$tag: customer_id $(jq -cn --arg c "$v" '$c'): /predict answered $CODE $(head -c 200 "$tmp/v.body")"
      continue
    fi
    ids[$id]=$i
    # The reward looks the customer up by the same string.
    body=$(jq -cn --arg c "$v" '{customer_id: $c, accepted_one_of_the_three_offers: true}')
    CODE=$(curl -s --max-time 10 -o "$tmp/v.body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
      -H "$AUTH" --data-binary "$body" "$url/rewards")
    [[ $CODE == 200 ]] || fail "$tag: reward for customer_id $(jq -cn --arg c "$v" '$c'): $CODE $(head -c 200 "$tmp/v.body")"
  done
  # Stored customer ids, hex-encoded so that nothing is lost in transit.
  case $db in
    sqlite:*) hexes=$(sql "$db" "SELECT id, lower(hex(customer_id)) FROM tb_episodes") ;;
    *) hexes=$(sql "$db" "SELECT id, encode(convert_to(customer_id, 'UTF8'), 'hex') FROM tb_episodes") ;;
  esac
  for id in "${!ids[@]}"; do
    v=${vals[${ids[$id]}]}
    # trimmed, as offerd documents for customer_id
    want=$(printf '%s' "$v" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | od -An -tx1 | tr -d ' \n')
    got=$(awk -F'|' -v id="$id" '$1 == id { print $2 }' <<<"$hexes")
    if [[ $got == "$want" ]]; then
      n_ok=$((n_ok + 1))
    else
      fail "$tag: episode $id: customer_id stored as hex '$got', sent '$want' ($(jq -cn --arg c "$v" '$c'))"
    fi
  done
  [[ $n_ok -eq ${#vals[@]} ]] && ok "$tag: all ${#vals[@]} SQL-looking customer ids stored verbatim (and rewarded)"
  n_ok=$(sql "$db" "SELECT count(*) FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id WHERE e.customer_id = r.customer_id AND r.episode_id IN ($(IFS=,; echo "${!ids[*]}"))")
  [[ $n_ok -eq ${#ids[@]} ]] || fail "$tag: $n_ok of ${#ids[@]} rewards attached to their own episode"
  for t in tb_episodes tb_rewards tb_agents tb_products tb_policy; do
    sql "$db" "SELECT count(*) FROM $t" >/dev/null 2>&1 || fail "$tag: table $t is gone"
  done
}
note "== SQL-looking strings in valid fields"
verbatim sqlite "$mdb" "$u"
pg_init
pdb=$(pg_new_db malformed)
pkey=$(timeout 30 "$build/offerctl" keys create --company A --database-url "$pdb" 2>/dev/null)
start malpg "$pdb" --access-log off
AUTH="Authorization: Bearer $pkey" verbatim postgresql "$pdb" "${URL[malpg]}"
stop_signal malpg TERM 5
stop_signal mal TERM 5
[[ $STOP_RC == 0 ]] && ok "offerd exits 0 on SIGTERM after all this" || fail "offerd exit status $STOP_RC after SIGTERM"

echo
note "FIGURES malformed: $NCASE requests; by status: $summary; slowest ${max_t} s; protocol: ${PROTO[*]}"
if [[ $fails -gt 0 ]]; then
  echo "$(basename "$0"): $fails of $checks checks FAILED"
  exit 1
fi
echo "$(basename "$0"): all $checks checks passed"
exit 0
