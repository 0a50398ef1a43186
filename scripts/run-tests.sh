#!/usr/bin/env bash
# Runs the tests of `make test` and prints one closing line:
#   "N passed, N failed, N skipped"
#
#   make test                      every test
#   make test T=test_util          one test: a cmocka binary, by name
#   make test T=http               one script, tests/http.test.sh (http.test.sh
#                                  and tests/http.test.sh work too)
#   make test T="test_rules batch" several, by name
#   OFFERD_TEST_FILTER=regex make test
#                                  the tests whose path matches the regex
#   scripts/run-tests.sh --list [BUILD] [NAME...]
#                                  print the tests that would run and whether
#                                  each needs PostgreSQL; run nothing
#
# A test is a cmocka binary BUILD/tests/test_* (source tests/test_*.c) or a
# script tests/*.test.sh. Scripts get BUILD in $OFFERD_BUILD and run from
# the repository root. An unknown name is an error (exit 2), never "0 passed".
#
# PostgreSQL is started (scripts/pg.sh, shared by every test of the run)
# only when a selected test needs it and $OFFERD_TEST_PG_URL is not set
# already. A test needs it when its source (the .c of a binary, or the
# script) mentions OFFERD_TEST_PG_URL, pg_setup, pg_new_db or scripts/pg.sh,
# which every test that talks to PostgreSQL does; a line
# "# needs: postgresql" (or "/* needs: postgresql */") says so explicitly
# for a test that reaches it some other way, and "needs: no postgresql" for
# one that only mentions those names.
set -u
list_only=0
if [[ "${1:-}" == "--list" ]]; then
  list_only=1
  shift
fi
build=${1:-build}
[[ $# -gt 0 ]] && shift
export OFFERD_BUILD=$build
cd "$(dirname "$0")/.." || exit 2

# The source file that decides whether test $1 needs PostgreSQL.
source_of() {
  case "$1" in
    *.sh) echo "$1" ;;
    *) echo "tests/$(basename "$1").c" ;;
  esac
}

needs_pg() {
  local src
  src=$(source_of "$1")
  [[ -f "$src" ]] || return 1
  grep -q 'needs: no postgresql' "$src" && return 1
  grep -Eq 'OFFERD_TEST_PG_URL|\bpg_setup\b|\bpg_new_db\b|scripts/pg\.sh|needs: postgresql' "$src"
}

all=()
for t in "$build"/tests/test_* tests/*.test.sh; do
  [[ -f "$t" ]] || continue
  [[ "$t" == *.sh || ( -x "$t" && "$t" != *.* ) ]] || continue
  all+=("$t")
done

# Named tests: each name must match exactly one test.
selected=()
if [[ $# -gt 0 ]]; then
  for name in "$@"; do
    base=$(basename "$name")
    base=${base%.test.sh}
    match=
    for t in "${all[@]}"; do
      b=$(basename "$t")
      if [[ "$b" == "$base" || "$b" == "$base.test.sh" ]]; then
        match=$t
        break
      fi
    done
    if [[ -z "$match" ]]; then
      echo "run-tests: no test named '$name'. The tests are:" >&2
      for t in "${all[@]}"; do
        b=$(basename "$t")
        echo "  ${b%.test.sh}" >&2
      done
      if [[ -f "tests/$base.c" ]]; then
        echo "(tests/$base.c is not built yet: make test T=$base builds it)" >&2
      fi
      exit 2
    fi
    selected+=("$match")
  done
else
  selected=("${all[@]}")
fi

filter=${OFFERD_TEST_FILTER:-.}
tests=()
want_pg=()
for t in "${selected[@]}"; do
  [[ "$t" =~ $filter ]] || continue
  tests+=("$t")
  needs_pg "$t" && want_pg+=("$(basename "$t")")
done

if [[ $list_only -eq 1 ]]; then
  for t in "${tests[@]}"; do
    if needs_pg "$t"; then
      echo "$(basename "$t") postgresql"
    else
      echo "$(basename "$t") -"
    fi
  done
  exit 0
fi

# Tests that need PostgreSQL share one server started here, in a temporary
# directory, as an unprivileged user (scripts/pg.sh).
if [[ ${#want_pg[@]} -gt 0 && -z "${OFFERD_TEST_PG_URL:-}" && -x scripts/pg.sh ]]; then
  if url=$(scripts/pg.sh start); then
    export OFFERD_TEST_PG_URL=$url
    trap 'scripts/pg.sh stop >/dev/null 2>&1' EXIT
    echo "PostgreSQL for ${want_pg[*]}: $url"
  else
    echo "FAIL: could not start PostgreSQL for the tests" >&2
    exit 1
  fi
fi

passed=0
failed=0
skipped=0
failures=()
for t in "${tests[@]}"; do
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
