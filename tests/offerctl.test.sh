#!/usr/bin/env bash
# offerctl tells the truth, on a throwaway SQLite database (no server):
#  1. agent versions: semantic versions only (a newline or a quote is
#     refused), never released twice, and never lower than the highest
#     released, so the latest release (what /is-alive shows) is the highest.
#  2. every command: --help (anywhere) prints its help, exits 0 and does
#     nothing; an unknown option, an option of another command or an option
#     before the action exits 2 and does nothing.
#  3. keys revoke: an unknown key or an already revoked one is an error.
#  4. a database URL's password is never printed (offerctl's and offerd's
#     errors).
#  Also: products import refuses duplicates, ids no request can name and
#  names that are not UTF-8; every --company is 1 to 63 bytes.
# Exits 77 (skipped) only when $OFFERD_BUILD/offerctl has not been built.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${OFFERD_BUILD:-build}
ctl=$build/offerctl
if [[ ! -x $ctl ]]; then
  echo "SKIP: $ctl is not built"
  exit 77
fi

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="sqlite:$tmp/offerd.db"

# Runs offerctl with a timeout; stdout and stderr in $tmp/out and $tmp/err, status in $rc.
run() {
  timeout 30 "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

# expect_rc WANT DESCRIPTION -- ARGS...
expect_rc() {
  local want=$1 what=$2
  shift 3
  run "$@"
  if [[ $rc == "$want" ]]; then
    ok "$what (exit $rc)"
  else
    fail "$what: exit $rc, expected $want; stdout: $(head -c 300 "$tmp/out"); stderr: $(head -c 300 "$tmp/err")"
  fi
}

# --- 1. agent versions ---------------------------------------------------------
expect_rc 0 "release 1.1.0" -- agent release 1.1.0 --policy ucb --database-url "$db"
expect_rc 1 "releasing 1.1.0 again is refused" -- agent release 1.1.0 --policy thompson --database-url "$db"
grep -q "already released" "$tmp/err" || fail "no 'already released' in: $(cat "$tmp/err")"
expect_rc 1 "releasing the seeded 1.0.0 again is refused" -- agent release 1.0.0 --database-url "$db"
expect_rc 1 "releasing 1.0.9 below 1.1.0 is refused" -- agent release 1.0.9 --database-url "$db"
grep -q "not higher than the released 1.1.0" "$tmp/err" || fail "no 'not higher' in: $(cat "$tmp/err")"
expect_rc 1 "1.1.0-rc.1 is below 1.1.0" -- agent release 1.1.0-rc.1 --database-url "$db"
expect_rc 2 "a version with a newline is refused" -- agent release $'1.2.0\nfake 1' --database-url "$db"
expect_rc 2 "a version with a quote is refused" -- agent release '1.2.0"' --database-url "$db"
expect_rc 2 "a version that is not MAJOR.MINOR.PATCH is refused" -- agent release 1.2 --database-url "$db"
expect_rc 2 "leading zeros are refused" -- agent release 1.02.0 --database-url "$db"
expect_rc 0 "2.0.0-rc.2 after 1.1.0" -- agent release 2.0.0-rc.2 --database-url "$db"
expect_rc 0 "2.0.0-rc.10 after rc.2 (numeric identifiers)" -- agent release 2.0.0-rc.10 --database-url "$db"
expect_rc 1 "2.0.0-rc.9 after rc.10 is refused" -- agent release 2.0.0-rc.9 --database-url "$db"
expect_rc 0 "2.0.0+build.7 after the release candidates" -- agent release 2.0.0+build.7 --database-url "$db"
run agent list --database-url "$db"
got=$(awk 'NR > 1 { print $2 }' "$tmp/out" | tr '\n' ' ')
[[ $got == "1.0.0 1.1.0 2.0.0-rc.2 2.0.0-rc.10 2.0.0+build.7 " ]] \
  && ok "agent list: each version once, rising" || fail "agent list: '$got'"

# --- 2. --help and unknown options, for every command ----------------------------
hdb="sqlite:$tmp/help.db"
invocations=(
  "products import examples/company_A_products.csv --database-url $hdb"
  "agent release 9.9.9 --policy ucb --database-url $hdb"
  "agent list --database-url $hdb"
  "keys create --company A --database-url $hdb"
  "keys list --database-url $hdb"
  "keys revoke abc --database-url $hdb"
  "db migrate --database-url $hdb"
  "db count tb_agents --database-url $hdb"
  "batch examples/company_B.csv -o $tmp/help-out.csv --url http://127.0.0.1:1"
  "replay examples/company_A.json --url http://127.0.0.1:1"
  "train --transactions examples/online_retail.csv.gz --database-url $hdb"
  "simulate --episodes 10 --database-url $hdb"
  "evaluate --policy ucb --database-url $hdb"
)
for inv in "${invocations[@]}"; do
  read -r -a words <<<"$inv"
  name="${words[0]}"
  case $name in products | agent | keys | db) name="$name ${words[1]}" ;; esac
  for pos in end middle; do
    if [[ $pos == end ]]; then args=("${words[@]}" --help); else args=("${words[@]:0:2}" --help "${words[@]:2}"); fi
    run "${args[@]}"
    if [[ $rc == 0 ]] && grep -q "^usage: offerctl $name" "$tmp/out" && grep -q -- "--help" "$tmp/out"; then
      ok "$name: --help ($pos) prints the help, exit 0"
    else
      fail "$name: --help ($pos): exit $rc, stdout: $(head -c 200 "$tmp/out"), stderr: $(head -c 200 "$tmp/err")"
    fi
  done
  run "${words[@]}" --no-such-option
  [[ $rc == 2 ]] && grep -q "unknown option --no-such-option" "$tmp/err" \
    && ok "$name: an unknown option exits 2" || fail "$name: unknown option: exit $rc, $(cat "$tmp/err")"
  other=--transactions
  [[ ${words[0]} == train ]] && other=--output
  run "${words[@]}" "$other" x
  [[ $rc == 2 ]] && grep -q "unknown option $other" "$tmp/err" \
    && ok "$name: another command's option ($other) exits 2" \
    || fail "$name: $other: exit $rc, $(cat "$tmp/err")"
done
for family in products agent keys db; do
  run "$family" --help
  [[ $rc == 0 ]] && grep -q "offerctl $family" "$tmp/out" && ok "$family --help: exit 0" \
    || fail "$family --help: exit $rc"
  run "$family" --no-such-option
  [[ $rc == 2 ]] && ok "$family --no-such-option: exit 2" || fail "$family --no-such-option: exit $rc"
  run "$family"
  [[ $rc == 2 ]] && ok "$family without an action: exit 2" || fail "$family alone: exit $rc"
done
# An option before the action, and the finding's own example: --help as the version.
run agent --policy ucb release 9.9.9 --database-url "$hdb"
[[ $rc == 2 ]] && ok "agent --policy ucb release ...: exit 2" || fail "option before the action: exit $rc"
run agent release --help --database-url "$hdb"
[[ $rc == 0 ]] && grep -q "^usage: offerctl agent release" "$tmp/out" \
  && ok "agent release --help prints the help" || fail "agent release --help: exit $rc, $(cat "$tmp/out")"
run agent release 9.9.9 extra --database-url "$hdb"
[[ $rc == 2 ]] && ok "agent release with two versions: exit 2" || fail "agent release 9.9.9 extra: exit $rc"
run keys revoke --database-url "$hdb"
[[ $rc == 2 ]] && ok "keys revoke without a key: exit 2" || fail "keys revoke without a key: exit $rc"
# What a database command checks, or the file it reads, fails before it opens the store
# (ctl_store): the store never exists.
printf 'OFFERS,NAME\nOFFER_1,a\nOFFER_1,b\n' >"$tmp/twice.csv"
printf 'age > 1 -> deny OFFER_1\n\0\n' >"$tmp/nul.txt"
head -c $((256 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$tmp/big.txt"
checked=(
  "2 agent release 1.2"
  "2 agent release 9.9.9 --policy nope"
  "2 agent release 9.9.9 --policy linear-ts --params {\"nope\":1}"
  "2 agent release 9.9.9 --traffic 101"
  "2 agent release 9.9.9 --traffic 5 --shadow"
  "2 keys create"
  "2 keys create --company A --role boss"
  "1 products import $tmp/twice.csv"
  "1 products import $tmp/no-such.csv"
  "1 rules set --company A $tmp/no-such.txt"
  "1 rules set --company A $tmp/nul.txt"
  "1 rules set --company A $tmp/big.txt"
  "2 rules show"
  "2 export --company A --format xml"
  "2 export --company A --format csv --from 2026-13-01"
  "2 evaluate --policy ucb --missing maybe"
  "2 customers forget"
  "2 customers forget $(printf 'a%.0s' {1..300})"
  "1 train --transactions $tmp/no-such.csv"
)
for inv in "${checked[@]}"; do
  read -r -a words <<<"$inv"
  run "${words[@]:1}" --database-url "$hdb"
  what=${inv:2:80}
  [[ $rc == "${words[0]}" && -s $tmp/err ]] && ok "$what: exit $rc, said why" \
    || fail "$what: exit $rc (want ${words[0]}), stderr: $(cat "$tmp/err")"
done
# Nothing above may have touched a database or written a file.
[[ ! -e $tmp/help.db && ! -e $tmp/help-out.csv ]] && ok "--help and usage errors did nothing" \
  || fail "a --help or a usage error acted: $(ls "$tmp")"

# --- 3. keys revoke tells the truth -------------------------------------------------
run keys create --company A --database-url "$db"
key=$(cat "$tmp/out")
prefix=$(timeout 30 "$ctl" keys list --database-url "$db" | awk 'NR == 2 { print $3 }')
expect_rc 1 "revoking a key that does not exist fails" -- keys revoke no-such-key --database-url "$db"
grep -q "no key has the prefix or id no-such-key" "$tmp/err" || fail "revoke of an unknown key said: $(cat "$tmp/out" "$tmp/err")"
grep -q revoked "$tmp/out" && fail "revoke of an unknown key printed 'revoked'"
[[ -n $key && -n $prefix ]] || fail "no key or prefix from keys create/list"
expect_rc 0 "revoking the key by its prefix" -- keys revoke "$prefix" --database-url "$db"
expect_rc 1 "revoking it again fails" -- keys revoke "$prefix" --database-url "$db"
grep -q "already revoked" "$tmp/err" || fail "second revoke said: $(cat "$tmp/err")"
run keys list --database-url "$db"
awk 'NR == 2 { exit $NF == "active" }' "$tmp/out" && ok "keys list shows the key revoked" \
  || fail "keys list: $(cat "$tmp/out")"

# --- 3b. products import: nothing a request could not name, or an answer carry -----
cdb="sqlite:$tmp/catalogue.db"
catalogue_bad() { # WHAT CSV-TEXT EXPECTED-ERROR
  printf '%b' "$2" >"$tmp/cat.csv"
  expect_rc 1 "products import refuses $1" -- products import "$tmp/cat.csv" --company A --database-url "$cdb"
  grep -qF -- "$3" "$tmp/err" || fail "products import, $1: said $(cat "$tmp/err"), want $3"
}
catalogue_bad "an offer listed twice (Offer-1 is OFFER_1)" 'OFFERS,NAME\nOFFER_1,a\nOffer-1,b\n' \
  "line 3: OFFER_1 is listed twice (first on line 2)"
catalogue_bad "an id with a comma" 'OFFERS,NAME\n"x,y",a\n' 'line 2: "x,y" is not an offer id'
catalogue_bad "a name that is not UTF-8" 'OFFERS,NAME\nOFFER_3,Ph\xffone\n' \
  "line 2: the name of OFFER_3 is not UTF-8"
expect_rc 2 "products import refuses an empty --company" -- \
  products import examples/company_A_products.csv --company "" --database-url "$cdb"
run db count tb_products --database-url "$cdb"
[[ $(cat "$tmp/out") == 0 ]] && ok "nothing was stored by the refused imports" ||
  fail "tb_products holds $(cat "$tmp/out") rows after refused imports"

# --- 3c. a company name fits offerd's tenant: longer would be cut into another company's --
long=$(printf 'C%.0s' {1..64})
expect_rc 2 "keys create refuses a company of 64 bytes" -- keys create --company "$long" --database-url "$db"
grep -q "must be 1 to 63 bytes, got 64" "$tmp/err" || fail "keys create said: $(cat "$tmp/err")"
expect_rc 0 "keys create takes a company of 63 bytes" -- keys create --company "${long:1}" --database-url "$db"
expect_rc 2 "keys create refuses a company with a control character" -- \
  keys create --company $'A\x1fB' --database-url "$db"
for cmd in "train --transactions examples/online_retail.csv.gz" "rules show" "export" \
  "customers forget x" "evaluate --policy ucb"; do
  # shellcheck disable=SC2086
  expect_rc 2 "$cmd refuses a company of 64 bytes" -- $cmd --company "$long" --database-url "$db"
done
expect_rc 2 "evaluate refuses a --values-company of 64 bytes" -- \
  evaluate --policy ucb --values-company "$long" --database-url "$db"
timeout 10 "$build/offerd" --port 0 --company "$long" >/dev/null 2>"$tmp/err"
grep -q "must be 1 to 63 bytes" "$tmp/err" &&
  ok "offerd refuses --company of 64 bytes" || fail "offerd --company of 64 bytes: $(cat "$tmp/err")"

# 4. A database URL's password never reaches a message: offerctl's and
#    offerd's errors name the URL with *** for it (nothing listens on port 1).
secret_url='postgresql://bob:s3cret-pw@127.0.0.1:1/x?password=p2-secret'
expect_rc 1 "db migrate on a database that is not there fails" -- db migrate --database-url "$secret_url"
if grep -q "s3cret-pw\|p2-secret" "$tmp/err"; then
  fail "offerctl printed the password: $(cat "$tmp/err")"
else
  grep -qF "postgresql://bob:***@127.0.0.1:1/x?password=***" "$tmp/err" &&
    ok "offerctl names the URL without its password" || fail "offerctl said: $(cat "$tmp/err")"
fi
timeout 30 "$build/offerd" --port 0 --database-url "$secret_url" >"$tmp/out" 2>"$tmp/err"
if grep -q "s3cret-pw\|p2-secret" "$tmp/err"; then
  fail "offerd logged the password: $(cat "$tmp/err")"
else
  grep -qF "offerd cannot start (database postgresql://bob:***@" "$tmp/err" &&
    ok "offerd's start-up error names the URL without its password" || fail "offerd said: $(cat "$tmp/err")"
fi

if ((fails > 0)); then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all offerctl checks passed"
