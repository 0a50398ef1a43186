#!/usr/bin/env bash
# The fuzz drivers and their corpus in the tree (fuzz/corpus/<target>/),
# without libFuzzer: each driver, built by make with fuzz/replay.c for a
# main ($OFFERD_BUILD/replay/fuzz_<target>), runs every input of its
# corpus once, and its checks abort on a failure. So a driver that no longer
# builds against the library, or an input that fails its checks, fails
# `make test`; under `make test-asan` the sanitizers watch the replay too.
# A replay that cannot read an input fails: a failure is seen.
# needs: no postgresql
source "$(dirname "$0")/lib.sh"
lib_deadline 120
tmp=$LIB_TMP

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
    [[ $out == "$n inputs replayed" ]] && ok "$t: $out" || fail "$t: '$out', want '$n inputs replayed'"
  else
    fail "$t: the replay failed: $(tail -n 5 "$tmp/$t.err")"
  fi
done

# A failure is seen: the replay of an input it cannot read fails and names it
# (an input that breaks a driver's check aborts it, which fails above).
if "$build/replay/fuzz_date" "$tmp/no-such-input" >/dev/null 2>"$tmp/missing.err"; then
  fail "the replay of a missing file succeeded"
else
  grep -q "no-such-input" "$tmp/missing.err" && ok "a missing input fails the replay, named" ||
    fail "the replay's error does not name the missing file: $(cat "$tmp/missing.err")"
fi

lib_done
