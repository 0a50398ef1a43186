#!/usr/bin/env bash
# The fuzz drivers and their corpus in the tree (fuzz/corpus/<target>/),
# without libFuzzer: each driver, built by make with fuzz/replay.c for a
# main ($OFFERD_BUILD/replay/fuzz_<target>), runs every input of its
# corpus once, and its checks abort on a failure. So a driver that no longer
# builds against the library, or an input that fails its checks, fails
# `make test`; under `make test-asan` the sanitizers watch the replay too.
# A planted input that breaks a check shows that a failure is seen.
# needs: no postgresql
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${OFFERD_BUILD:-build}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-fuzz-corpus.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

targets=()
for f in fuzz/fuzz_*.c; do
  t=${f#fuzz/fuzz_}
  targets+=("${t%.c}")
done
((${#targets[@]} >= 7)) || fail "only ${#targets[@]} drivers in fuzz/"

for t in "${targets[@]}"; do
  bin=$build/replay/fuzz_$t
  if [[ ! -x $bin ]]; then
    fail "$bin is not built (make test builds it)"
    continue
  fi
  n=$(find "fuzz/corpus/$t" -type f 2>/dev/null | wc -l)
  ((n > 0)) || fail "fuzz/corpus/$t holds no input"
  if out=$("$bin" "fuzz/corpus/$t" 2>"$tmp/$t.err"); then
    [[ $out == "$n inputs replayed" ]] && echo "ok: $t: $out" || fail "$t: '$out', want '$n inputs replayed'"
  else
    fail "$t: the replay failed: $(tail -n 5 "$tmp/$t.err")"
  fi
done

# fuzz_date checks each accepted date against the C library; a date it
# accepts can only fail if a check is wrong, so plant a failure another way:
# the replay of a file that cannot be read must fail, and name it.
if "$build/replay/fuzz_date" "$tmp/no-such-input" >/dev/null 2>"$tmp/missing.err"; then
  fail "the replay of a missing file succeeded"
else
  grep -q "no-such-input" "$tmp/missing.err" && echo "ok: a missing input fails the replay, named" ||
    fail "the replay's error does not name the missing file: $(cat "$tmp/missing.err")"
fi

((fails == 0)) && echo "fuzz-corpus.test.sh: every driver replayed its corpus" || exit 1
