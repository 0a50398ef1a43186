#!/usr/bin/env bash
# `make test T=name` (scripts/run-tests.sh BUILD NAME...): a test is found by
# its short name, an unknown name is an error rather than "0 passed", and
# PostgreSQL is started only for tests that need it.
# needs: no postgresql (it names the variables but starts nothing)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${OFFERD_BUILD:-build}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-run-tests.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# 1. Which tests need PostgreSQL, by every spelling of their names.
list=$(scripts/run-tests.sh --list "$build" test_util banned tests/http.test.sh lifecycle.test.sh run-tests)
want=$'test_util -\nbanned.test.sh -\nhttp.test.sh postgresql\nlifecycle.test.sh postgresql\nrun-tests.test.sh -'
[[ "$list" == "$want" ]] || fail "--list: want
$want
got
$list"
if [[ -x "$build/tests/test_store_pg" ]]; then
  [[ $(scripts/run-tests.sh --list "$build" test_store_pg) == "test_store_pg postgresql" ]] ||
    fail "test_store_pg should need PostgreSQL"
else
  fail "$build/tests/test_store_pg is not built"
fi
# The whole list names every test once, and the filter still narrows it.
n=$(scripts/run-tests.sh --list "$build" | wc -l)
m=$(( $(ls tests/*.test.sh | wc -l) + $(ls "$build"/tests/test_* 2>/dev/null | grep -vc '\.') ))
[[ $n -eq $m ]] || fail "--list without names: $n tests, want $m"
[[ $(OFFERD_TEST_FILTER='banned' scripts/run-tests.sh --list "$build") == "banned.test.sh -" ]] ||
  fail "OFFERD_TEST_FILTER=banned should select banned.test.sh alone"

# 2. An unknown name fails and says which names exist.
out=$(scripts/run-tests.sh "$build" no_such_test 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "unknown name: exit $rc, want 2"
grep -q "no test named 'no_such_test'" <<<"$out" || fail "unknown name: no message: $out"
grep -qx '  http' <<<"$out" || fail "unknown name: the list of tests is missing: $out"

# 3. One test that needs no database runs, and scripts/pg.sh is never called:
#    with a state file of our own, pg.sh would have created its lock beside it.
out=$(env -u OFFERD_TEST_PG_URL OFFERD_PG_STATE="$tmp/pg.state" \
  scripts/run-tests.sh "$build" banned 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "T=banned: exit $rc: $out"
grep -q '^PASS banned.test.sh' <<<"$out" || fail "T=banned: no PASS line: $out"
grep -q '^1 passed, 0 failed, 0 skipped$' <<<"$out" || fail "T=banned: not exactly one test: $out"
grep -q 'PostgreSQL' <<<"$out" && fail "T=banned: PostgreSQL was started: $out"
[[ -e "$tmp/pg.state.lock" || -e "$tmp/pg.state" ]] && fail "T=banned: scripts/pg.sh was called"

if [[ $fails -gt 0 ]]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all checks passed"
