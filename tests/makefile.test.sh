#!/usr/bin/env bash
# The Makefile keeps its promises: every name in .PHONY is a target with a
# rule (prerequisites or a recipe), and every target whose name is a plain
# word (run, test, format-check...), which no rule writes as a file, is in
# .PHONY, so a file or directory of that name (build/ is one) cannot make it
# look up to date. Reads make's own database (make -p) of the Makefile and
# mk/*.mk; a planted Makefile checks that the check can fail. And one test
# run by name builds what it runs: the fuzz corpus test its replay drivers.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-makefile.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# Prints "phony-without-rule NAME" and "word-not-phony NAME" lines for the
# makefile in directory $1 (empty output: all is well).
problems() {
  make -C "$1" -pRrq -f Makefile : 2>/dev/null | awk '
    # The entry after this line is a file make knows of, not a rule: skip it.
    /^# Not a target:/ { getline; name = ""; next }
    /^[^#\t %.][^ \t=]*:([^=]|$)/ {
      if (name != "") finish()
      name = $0; sub(/:.*/, "", name)
      deps = $0; sub(/^[^:]*:+/, "", deps); gsub(/[ \t]/, "", deps)
      recipe = 0
      next
    }
    /^\.PHONY:/ { n = split(substr($0, 8), p, " "); for (i = 1; i <= n; i++) phony[p[i]] = 1; next }
    /^#  recipe to execute/ { recipe = 1; next }
    /^$/ { if (name != "") finish(); name = ""; next }
    function finish() { rule[name] = (deps != "" || recipe); target[name] = 1 }
    END {
      if (name != "") finish()
      for (t in phony) if (!rule[t]) print "phony-without-rule " t
      for (t in target) if (t ~ /^[a-z][a-z0-9-]*$/ && rule[t] && !phony[t]) print "word-not-phony " t
    }' | sort
}

# 1. The check fails on a planted Makefile with both mistakes.
mkdir -p "$tmp/planted"
printf '.PHONY: all gone\nall: out.txt\nout.txt:\n\ttouch $@\nlint:\n\ttrue\n' >"$tmp/planted/Makefile"
got=$(problems "$tmp/planted")
want=$'phony-without-rule gone\nword-not-phony lint'
[[ "$got" == "$want" ]] || fail "planted Makefile: want
$want
got
$got"

# 2. The tree's Makefile.
got=$(problems .)
[[ -z "$got" ]] || fail "Makefile and mk/*.mk:
$got"
# And the parse saw the tree's targets at all (an empty database would pass).
make -pRrq : >"$tmp/db" 2>/dev/null
grep -q '^format-check:' "$tmp/db" || fail "make -p shows no format-check target"

# 3. Running the fuzz corpus test by any of its names builds the replay drivers it runs
# (make test T=fuzz-corpus.test.sh once replayed stale drivers). -W pretends replay.c
# changed; -n only prints what make would do.
for name in fuzz-corpus fuzz-corpus.test.sh tests/fuzz-corpus.test.sh; do
  plan=$(make -n -W fuzz/replay.c test T="$name" 2>/dev/null)
  [[ $plan == *'replay/fuzz_date fuzz/fuzz_date.c'* ]] ||
    fail "make test T=$name does not rebuild the replay drivers"
done
plan=$(make -n -W fuzz/replay.c test T=test_util 2>/dev/null)
[[ $plan != *'replay/fuzz_date'* ]] || fail "make test T=test_util builds the replay drivers it does not run"

if [[ $fails -gt 0 ]]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all checks passed"
