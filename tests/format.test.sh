#!/usr/bin/env bash
# needs: no postgresql
# The tree is formatted with the checked-in .clang-format (STYLE.md 15):
# `make format-check` passes. First the check is tried on a planted
# misformatted file, so a check that accepts everything fails here.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "FAIL: $cf not found (scripts/deps.sh --test installs it)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offerd-format.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

cp .clang-format "$tmp/"
printf 'int  f( int a ){return a+1;}\n' >"$tmp/bad.c"
if "$cf" --dry-run -Werror --style=file "$tmp/bad.c" >/dev/null 2>&1; then
  echo "FAIL: the format check accepted a misformatted file"
  exit 1
fi
echo "ok: a misformatted file is refused"

if ! out=$(scripts/format.sh check 2>&1); then
  echo "$out" | head -n 40
  echo "FAIL: the tree is not formatted with .clang-format: run make format"
  exit 1
fi
echo "ok: every C file is formatted with .clang-format"
