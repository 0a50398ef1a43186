#!/usr/bin/env bash
# offerctl tells the truth, on a throwaway SQLite database (no server):
#  1. agent versions: semantic versions only (a newline or a quote is
#     refused), never released twice, and never lower than the highest
#     released, so the latest release (what /is-alive shows) is the highest.
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

if ((fails > 0)); then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all offerctl checks passed"
