#!/usr/bin/env bash
# The README's "Using the API" commands, run as they are written against a
# live offerd (issue 15, finding 16: its `-d @request.json` named a file that
# did not exist).
#  1. offerd on a fresh SQLite database with Company A's catalogue and a key
#     in var/dev-key, in a directory that holds the repository's examples/
#     (the README's commands run from the top directory).
#  2. The indented block of the section, up to "What clients can rely on",
#     runs in bash as written; only http://127.0.0.1:8000 becomes the test
#     server's address. curl is wrapped to fail on an HTTP error
#     (--fail-with-body) and to keep each answer.
#  3. Every curl succeeds (5 of them); an answer whose README comment is a
#     whole JSON value has that value's keys (or is that string); /predict-v2
#     names every offer; the batch wrote one result line per input row.
# Bounded to 60 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq awk
lib_deadline 60

repo=$PWD
work=$LIB_TMP/readme
mkdir -p "$work/var" "$work/answers"
ln -s "$repo/examples" "$work/examples"
sqlite_new_db readme db
timeout 60 "$build/offerctl" products import examples/company_A_products.csv --company A \
  --database-url "$db" >/dev/null || die "offerctl products import failed"
key_create "$db" A >"$work/var/dev-key"
offerd_start readme "$db"
u=${OFFERD_URL[readme]}

# The block: indented lines of the section, less their four spaces.
awk '/^## Using the API/ { on = 1; next } on && /^What clients can rely on/ { exit }
     on && /^    / { print substr($0, 5) } on && /^$/ { print "" }' README.md >"$work/block.sh"
grep -q 'curl' "$work/block.sh" || die "no curl command found in README's Using the API section"
grep -c '^curl ' "$work/block.sh" | grep -qx 5 || fail "expected 5 curl commands in the section"

# Each command's README comment ("# ..." lines right after it), joined: one line per command.
awk '/^curl / { if (n) print c; n++; c = ""; inc = 0; next }
     /^# / { c = c substr($0, 3); next } END { print c }' "$work/block.sh" >"$work/comments"

sed "s|http://127.0.0.1:8000|$u|g" "$work/block.sh" >"$work/run.sh"
(
  cd "$work" || exit 1
  n=0
  curl() {
    n=$((n + 1))
    command curl --fail-with-body --max-time 20 "$@" >"answers/$n"
    echo $? >"answers/$n.rc"
  }
  source ./run.sh
) >"$work/stdout" 2>&1

for i in 1 2 3 4 5; do
  rc=$(cat "$work/answers/$i.rc" 2>/dev/null)
  [[ $rc == 0 ]] && ok "README command $i succeeds" ||
    { fail "README command $i: curl exit ${rc:-none}; answer: $(head -c 300 "$work/answers/$i" 2>/dev/null)"; }
done

i=0
while IFS= read -r want; do
  i=$((i + 1))
  got=$(cat "$work/answers/$i" 2>/dev/null)
  if [[ -z $want ]] || ! jq -e . >/dev/null 2>&1 <<<"$want"; then
    continue  # an excerpt ("...") or no comment
  fi
  if [[ $(jq -r type <<<"$want") == object ]]; then
    expect_eq "$(jq -c 'keys' <<<"$got" 2>&1)" "$(jq -c 'keys' <<<"$want")" \
      "README command $i answers the keys its comment shows"
  else
    expect_eq "$got" "$want" "README command $i answers what its comment shows"
  fi
done <"$work/comments"

v2=$(cat "$work/answers/3")
[[ $(jq -r '.["best-three-offers"] | type' <<<"$v2" 2>/dev/null) == object &&
  $(jq '[.["best-three-offers"][] | select(type == "string" and length > 0)] | length' <<<"$v2") -ge 1 &&
  $(jq '[.["best-three-offers"][] | select(type != "string")] | length' <<<"$v2") == 0 ]] &&
  ok "/predict-v2 with examples/request.json names its offers" ||
  fail "/predict-v2 with examples/request.json: $v2"
expect_eq "$(jq -r .customer_id <<<"$v2")" "$(jq -r .customer_id examples/request.json)" \
  "the answer is for examples/request.json's customer"
expect_eq "$(wc -l <"$work/offers.csv" 2>/dev/null | tr -d ' ')" "$(wc -l <examples/company_B.csv | tr -d ' ')" \
  "the batch wrote offers.csv with a line per input line"
offerd_stop readme
lib_done
