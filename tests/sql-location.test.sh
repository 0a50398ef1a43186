#!/usr/bin/env bash
# Issue 12's architecture rule: SQL lives in src/db.c and src/store*.c only.
# No other src/*.c or src/*.h file may hold an SQL statement in a string
# literal: a literal (adjacent literals joined, comments ignored) that
# starts a SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM,
# SELECT 1, CREATE TABLE/INDEX/VIEW, ALTER TABLE, DROP TABLE/INDEX/VIEW or WITH ...
# AS (...). First the checker is tried on planted files, so a checker that
# matches nothing (or everything) fails here instead of passing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-sql.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# check FILE...: prints "FILE:LINE: SQL" for each statement literal; exit 1 when any.
check() {
  perl -e '
    my $found = 0;
    for my $f (@ARGV) {
      open(my $fh, "<", $f) or die "$f: $!";
      local $/; my $src = <$fh>; close $fh;
      # Walk the text: drop comments, collect string literals with their line;
      # literals separated only by blanks, newlines, comments or macro
      # continuations are one literal, as C joins them.
      my ($i, $line, $n) = (0, 1, length $src);
      my @lits; my $cur; my $curline; my $gap = 1;
      while ($i < $n) {
        my $c = substr($src, $i, 1);
        if ($c eq "/" && substr($src, $i + 1, 1) eq "*") {
          my $e = index($src, "*/", $i + 2); $e = $n - 2 if $e < 0;
          $line += (substr($src, $i, $e + 2 - $i) =~ tr/\n//); $i = $e + 2; next;
        }
        if ($c eq "/" && substr($src, $i + 1, 1) eq "/") {
          my $e = index($src, "\n", $i); $e = $n if $e < 0; $i = $e; next;
        }
        if ($c eq "\x27") {   # a character constant
          $i++; while ($i < $n && substr($src, $i, 1) ne "\x27") { $i++ if substr($src, $i, 1) eq "\\"; $i++; }
          $i++; $gap = 0; next;
        }
        if ($c eq "\"") {
          my $s = ""; $i++;
          while ($i < $n && substr($src, $i, 1) ne "\"") {
            if (substr($src, $i, 1) eq "\\") { $s .= substr($src, $i, 2); $i += 2; next; }
            $line++ if substr($src, $i, 1) eq "\n";
            $s .= substr($src, $i, 1); $i++;
          }
          $i++;
          if (defined $cur && $gap) { $cur .= $s; } else { push @lits, [$curline, $cur] if defined $cur; $cur = $s; $curline = $line; }
          $gap = 1; next;
        }
        if ($c eq "\n") { $line++; $i++; next; }
        if ($c =~ /[ \t\\]/) { $i++; next; }
        push @lits, [$curline, $cur] if defined $cur; undef $cur; $i++;
      }
      push @lits, [$curline, $cur] if defined $cur;
      for my $l (@lits) {
        my $t = $l->[1];
        if ($t =~ /^\s*(SELECT\s.+?\sFROM\s|SELECT\s+\d+\s*$|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(UNIQUE\s+|TEMP\w*\s+)?(TABLE|INDEX|VIEW|SEQUENCE)\s|ALTER\s+TABLE\s|DROP\s+(TABLE|INDEX|VIEW|SEQUENCE)\s|WITH\s+\w+\s+AS\s*\()/is) {
          my $head = substr($t, 0, 60); $head =~ s/\s+/ /g;
          print "$f:$l->[0]: $head\n"; $found = 1;
        }
      }
    }
    exit $found;
  ' "$@"
}

# 1. Statements are found: split over literals and lines, in a macro, in
#    lower case, each kind once.
cat >"$tmp/planted.c" <<'EOF2'
static const char a[] = "SELECT id FROM tb_episodes";
static const char b[] =
    "SELECT e.id, e.customer_id"
    " FROM tb_episodes e";
#define C "insert into tb_rewards (id) VALUES ($1)"
static const char *d = "UPDATE tb_policy SET n = n + 1";
static const char *e = "DELETE FROM tb_rewards WHERE id = $1";
static const char *f = "CREATE TABLE tb_x (id INTEGER)";
static const char *g = "ALTER TABLE tb_episodes ADD COLUMN x TEXT";
static const char *h = "DROP INDEX tb_x";
static const char *i = "  WITH t AS (SELECT 1) SELECT * FROM t";
static const char *j = "CREATE UNIQUE INDEX u ON t (a)"; const char *p1 = "SELECT 1";
#define K                     \
	"SELECT a, b"         \
	" FROM t"
EOF2
out=$(check "$tmp/planted.c")
rc=$?
[[ $rc -eq 1 ]] || fail "planted: exit $rc, want 1"
for l in 1 3 5 6 7 8 9 10 11 12 14; do
  grep -q "^$tmp/planted.c:$l: " <<<"$out" || fail "planted: the statement on line $l is not reported: $out"
done
[[ $(grep -c "^$tmp/planted.c:" <<<"$out") -eq 12 ]] || fail "planted: want 12 reports, got: $out"

# 2. What is not a statement passes: HTTP methods, words in prose, SQL in
#    comments, identifiers.
cat >"$tmp/clean.c" <<'EOF2'
/* The console used to run "SELECT MAX(id) FROM tb_episodes" here. */
// "DELETE FROM tb_rewards" is db.c's
static const char *m[] = {"GET, PUT, DELETE", "DELETE", "configurations/policy"};
static const char *w = "select the offers to show, then update the model";
static const char *u = "UPDATE";
static const char *q = "the rows selected FROM the table";
int SELECT_FROM = 1;
char c = '"';
static const char *x = "a \" quote";
EOF2
out=$(check "$tmp/clean.c")
[[ $? -eq 0 ]] || fail "clean: reported: $out"

# 3. db.c holds SQL (the checker sees it there), and no other file in src/ does.
check src/db.c >/dev/null
[[ $? -eq 1 ]] || fail "src/db.c: no statement found, the checker is broken"
files=()
for f in src/*.c src/*.h; do
  case ${f#src/} in
  db.c | store*.c) ;;
  *) files+=("$f") ;;
  esac
done
out=$(check "${files[@]}")
[[ $? -eq 0 ]] || fail "SQL outside src/db.c and src/store*.c (move it into db.c):
$out"

if ((fails > 0)); then
  echo "$fails failure(s)"
  exit 1
fi
echo "PASS: SQL only in src/db.c and src/store*.c (${#files[@]} other files checked)"
