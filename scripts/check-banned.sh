#!/usr/bin/env bash
# Fails when C code uses a function the project bans (STYLE.md: "no sprintf,
# strcpy, strcat, strtok, atoi, sscanf", after curl's checksrc and git's
# banned.h).
#
#   scripts/check-banned.sh [PATH...]    default: src tests fuzz
#
# Every *.c and *.h under the paths is read with its comments, string
# literals and character literals blanked out (so a comment saying a
# customer "gets" an offer is not a call to gets()), then searched for the
# banned names as whole identifiers: snprintf, vsnprintf, my_strcpy or a
# struct member `.atoi` do not match; `strcpy (a, b)` and a function pointer
# `= strcpy;` do. Each hit is printed as FILE:LINE: NAME: why, and the exit
# status is 1; 0 when there is none.
#
# The list and why each name is on it:
#   sprintf vsprintf         write without a bound; snprintf/vsnprintf or the
#                            growable buffer (util.h) instead
#   strcpy strcat            copy without a bound
#   strncpy                  leaves the result unterminated when the source
#                            fills the buffer (and pads with zeros); git bans
#                            it for that; snprintf("%s") or memcpy + length
#   strncat                  its bound is the room left, not the buffer size,
#                            the classic off-by-one; git and curl ban it
#   gets                     unbounded; removed from the language in C11
#   strtok strtok_r          write into their input and merge consecutive
#                            delimiters, so "a,,b" silently loses the empty
#                            field; strtok also keeps hidden global state.
#                            strtok_r fixes only the second, and offerd's
#                            inputs (CSV rows, header lists, offer lists) are
#                            exactly where an empty field must be seen:
#                            strchr/strcspn, or libcsv for CSV
#   atoi atol atoll atof     no error report and undefined behaviour out of
#                            range; STYLE.md convention 9: numbers go through
#                            the one bounded parser
#   sscanf vsscanf scanf fscanf vscanf vfscanf
#                            a %d that overflows is undefined behaviour
#                            (C17 7.21.6.2p10) and %s has no bound unless a
#                            width is written; same rule as atoi
# Not banned: strtol/strtoul/strtod (the bounded parser is built on them),
# memcpy, snprintf, vsnprintf.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -gt 0 ]] || set -- src tests fuzz

files=()
for p in "$@"; do
  if [[ -d "$p" ]]; then
    while IFS= read -r -d '' f; do files+=("$f"); done \
      < <(find "$p" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
  elif [[ -f "$p" ]]; then
    files+=("$p")
  else
    echo "check-banned: no such file or directory: $p" >&2
    exit 2
  fi
done
[[ ${#files[@]} -gt 0 ]] || { echo "check-banned: no C files under $*" >&2; exit 2; }

perl -e '
use strict;
use warnings;
my %why = (
  sprintf  => "unbounded write; use snprintf or the growable buffer",
  vsprintf => "unbounded write; use vsnprintf",
  strcpy   => "unbounded copy; use snprintf or memcpy with a length",
  strcat   => "unbounded append; use snprintf or the growable buffer",
  strncpy  => "may leave the result unterminated; use snprintf or memcpy with a length",
  strncat  => "its bound is the room left, not the size; use snprintf or the growable buffer",
  gets     => "unbounded read, removed in C11; use fgets",
  strtok   => "hidden state, writes its input, drops empty fields; use strchr/strcspn",
  strtok_r => "writes its input and drops empty fields; use strchr/strcspn",
  atoi     => "no error report, UB out of range; use the bounded number parser",
  atol     => "no error report, UB out of range; use the bounded number parser",
  atoll    => "no error report, UB out of range; use the bounded number parser",
  atof     => "no error report; use the bounded number parser",
  sscanf   => "UB on numeric overflow; use the bounded number parser",
  vsscanf  => "UB on numeric overflow; use the bounded number parser",
  scanf    => "UB on numeric overflow; use the bounded number parser",
  fscanf   => "UB on numeric overflow; use the bounded number parser",
  vscanf   => "UB on numeric overflow; use the bounded number parser",
  vfscanf  => "UB on numeric overflow; use the bounded number parser",
);
my $names = join "|", sort { length($b) <=> length($a) } keys %why;
my $hits = 0;
for my $file (@ARGV) {
  open(my $fh, "<", $file) or die "check-banned: $file: $!\n";
  local $/;
  my $src = <$fh>;
  close $fh;
  # Blank comments and literals, keeping newlines so line numbers hold.
  $src =~ s{
      (/\*.*?\*/)                 # block comment
    | (//(?:[^\n\\]|\\.)*)        # line comment (a backslash continues it)
    | ("(?:[^"\\\n]|\\.)*")       # string literal
    | (\x27(?:[^\x27\\\n]|\\.)*\x27) # character literal
  }{ my $m = $&; $m =~ s/[^\n]/ /g; $m }gsex;
  my $n = 0;
  for my $line (split /\n/, $src, -1) {
    $n++;
    while ($line =~ /(?<![\w.])(?<!->)\b($names)\b(?!\w)/g) {
      print "$file:$n: $1: $why{$1}\n";
      $hits++;
    }
  }
}
if ($hits) {
  print "check-banned: $hits use(s) of banned functions (list and reasons: scripts/check-banned.sh)\n";
  exit 1;
}
print "check-banned: ", scalar(@ARGV), " files, no banned function\n";
' "${files[@]}"
