#!/usr/bin/env bash
# clang-format with the checked-in .clang-format, on every C file of the tree
# (src/, tests/, fuzz/).
#   scripts/format.sh fix     rewrite the files in place          (make format)
#   scripts/format.sh check   exit 1 and show where a file differs (make format-check)
#   scripts/format.sh stat    lines each file would change, and the total
#                             (make format-stat; changes nothing)
# CLANG_FORMAT picks the binary (default clang-format; Debian bookworm's is
# version 14, which the .clang-format is written for).
set -euo pipefail
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}

if ! command -v "$cf" >/dev/null; then
  echo "format: $cf not found; as root: apt-get install -y --no-install-recommends clang-format" >&2
  exit 2
fi
mapfile -t files < <(ls src/*.c src/*.h tests/*.c tests/*.h fuzz/*.c fuzz/*.h 2>/dev/null)

case "${1:-}" in
  fix)
    "$cf" -i --style=file "${files[@]}"
    ;;
  check)
    "$cf" --dry-run -Werror --style=file "${files[@]}"
    ;;
  stat)
    total=0
    nfiles=0
    all=0
    report=()
    for f in "${files[@]}"; do
      n=$("$cf" --style=file "$f" | diff -- "$f" - | grep -c '^<' || true)
      all=$((all + $(wc -l <"$f")))
      total=$((total + n))
      if [[ $n -gt 0 ]]; then
        report+=("$(printf '%6d  %s' "$n" "$f")")
        nfiles=$((nfiles + 1))
      fi
    done
    [[ ${#report[@]} -eq 0 ]] || printf '%s\n' "${report[@]}" | sort -rn
    "$cf" --version
    echo "$total of $all lines would change, in $nfiles of ${#files[@]} files"
    ;;
  *)
    echo "usage: scripts/format.sh fix|check|stat" >&2
    exit 2
    ;;
esac
