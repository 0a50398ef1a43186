#!/usr/bin/env bash
# STYLE.md's banned functions (scripts/check-banned.sh) appear nowhere in
# src/, tests/ or fuzz/. First the checker is tried on planted files, so a
# checker that matches nothing (or everything) fails here instead of passing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-banned.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# 1. Every banned name, called in one of the ways C allows, is reported
#    with its file and line.
names=(sprintf vsprintf strcpy strcat strncpy strncat gets strtok strtok_r
       atoi atol atoll atof sscanf vsscanf scanf fscanf vscanf vfscanf)
{
  echo '#include <stdio.h>'
  for n in "${names[@]}"; do
    echo "void f_$n(void) { x = $n (a, b); }"
  done
} >"$tmp/planted.c"
out=$(scripts/check-banned.sh "$tmp/planted.c")
rc=$?
[[ $rc -eq 1 ]] || fail "planted: exit $rc, want 1"
line=1
for n in "${names[@]}"; do
  line=$((line + 1))
  grep -qx "$tmp/planted.c:$line: $n: .*" <<<"$out" || fail "planted: $n on line $line not reported"
done
[[ $(grep -c "^$tmp/planted.c:" <<<"$out") -eq ${#names[@]} ]] ||
  fail "planted: want exactly ${#names[@]} reports, got: $out"

# A function pointer and a call split over lines are uses too.
printf 'typedef char *(*cp)(char *, const char *);\n\ncp p = strcpy;\nint n = atoi\n  ("1");\n' >"$tmp/pointer.h"
out=$(scripts/check-banned.sh "$tmp/pointer.h")
[[ $? -eq 1 ]] || fail "pointer: not rejected"
grep -q "pointer.h:3: strcpy:" <<<"$out" || fail "pointer: strcpy on line 3 not reported: $out"
grep -q "pointer.h:4: atoi:" <<<"$out" || fail "pointer: atoi on line 4 not reported: $out"

# 2. What is allowed passes: the bounded functions, names that merely contain
#    a banned one, members reached with . or -> (declared elsewhere), comments
#    and literals. (Declaring a member or variable named like a banned
#    function is reported: it reads like a use.)
cat >"$tmp/clean.c" <<'EOF'
/* A customer gets three offers; sprintf(buf) would be wrong here.
 * strcpy, strcat and atoi are banned. */
#include <stdio.h>
// gets() is gone since C11 \
   and this continued comment still says strtok(
static int my_strcpy(char *d, const char *s);
int g(struct s *p, struct s q, char *buf, size_t n, const char *str)
{
	snprintf(buf, n, "sprintf(%s) strcat(", str);
	vsnprintf(buf, n, "%s", NULL);
	long v = strtol("12", NULL, 10);
	char c = '"';
	const char *t = "atoi(\"1\") and \\";
	char d = '\'';
	q.sprintf = p->atoi("1") + q.atoi("2") + my_strcpy(buf, str) + xsscanf(str);
	return (int)v + c + d + t[0] + strtok_result + sprintf_count;
}
EOF
out=$(scripts/check-banned.sh "$tmp/clean.c")
rc=$?
[[ $rc -eq 0 ]] || fail "clean: exit $rc, want 0: $out"

# A literal or comment must not hide code after it on the same line.
printf 'char *s = "x"; strcpy(a, s); /* c */ n = atoi(s); // atof\n' >"$tmp/after.c"
out=$(scripts/check-banned.sh "$tmp/after.c")
[[ $(grep -c 'after.c:1:' <<<"$out") -eq 2 ]] || fail "after a literal: want strcpy and atoi, got: $out"

# A missing path is an error, not a pass.
scripts/check-banned.sh "$tmp/nonexistent" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "a missing path should exit 2"

# 3. The tree.
if ! scripts/check-banned.sh src tests fuzz; then
  fail "the tree uses banned functions (above)"
fi

if [[ $fails -gt 0 ]]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all checks passed"
