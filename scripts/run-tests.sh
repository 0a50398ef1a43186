#!/usr/bin/env bash
# Runs every test of `make test` and prints one closing line:
#   "N passed, N failed"
# A test is a cmocka binary BUILD/tests/test_* or a script tests/*.test.sh.
# Scripts get BUILD in $OFFERD_BUILD and run from the repository root.
# Set OFFERD_TEST_FILTER=regex to run a subset.
set -u
build=${1:-build}
export OFFERD_BUILD=$build
cd "$(dirname "$0")/.." || exit 2

# Tests that need PostgreSQL share one server started here, in a temporary
# directory, as an unprivileged user (scripts/pg.sh).
if [[ -z "${OFFERD_TEST_PG_URL:-}" && -x scripts/pg.sh ]]; then
  if url=$(scripts/pg.sh start); then
    export OFFERD_TEST_PG_URL=$url
    trap 'scripts/pg.sh stop >/dev/null 2>&1' EXIT
  else
    echo "FAIL: could not start PostgreSQL for the tests" >&2
    exit 1
  fi
fi

passed=0
failed=0
skipped=0
failures=()
filter=${OFFERD_TEST_FILTER:-.}
for t in "$build"/tests/test_* tests/*.test.sh; do
  [[ -f "$t" ]] || continue
  [[ "$t" == *.sh || ( -x "$t" && "$t" != *.* ) ]] || continue
  [[ "$t" =~ $filter ]] || continue
  name=$(basename "$t")
  start=$(date +%s.%N)
  log="$build/test-logs/$name.log"
  mkdir -p "$build/test-logs"
  if [[ "$t" == *.sh ]]; then
    bash "$t" >"$log" 2>&1
  else
    "$t" >"$log" 2>&1
  fi
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    echo "PASS $name (${secs}s)"
  elif [[ $rc -eq 77 ]]; then
    # Exit 77 (the automake convention): the test cannot run here; say why.
    skipped=$((skipped + 1))
    echo "SKIP $name: $(tail -n 1 "$log")"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL $name (exit $rc, ${secs}s) — log: $log"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
done
echo
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
