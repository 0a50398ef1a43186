#!/usr/bin/env bash
# Makes sure node and npm are on the machine: offerd's build needs npm once, to
# fetch the pinned swagger-ui-dist (package-lock.json) whose files /docs serves,
# and `make test` runs the OpenAPI linter from npm; the Personalizer
# compatibility harness (tests/personalizer/client.mjs) runs the official
# @azure/cognitiveservices-personalizer client, a pinned dev dependency too.
# Nothing of Node.js is needed at run time.
# As root it installs Debian's nodejs and npm packages when a command is
# missing; otherwise it prints the exact line to run, like scripts/deps.sh.
#   scripts/deps-node.sh               install what is missing
#   scripts/deps-node.sh --check-only  exit 1 if something is missing
set -euo pipefail

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check-only) check_only=1 ;;
    *) echo "usage: $0 [--check-only]" >&2; exit 2 ;;
  esac
done

missing=()
# A node from another source (nodesource ships npm inside its nodejs package)
# is kept as it is: only absent commands are installed.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

[[ ${#missing[@]} -eq 0 ]] && exit 0
[[ $check_only -eq 1 ]] && { echo "missing: ${missing[*]}"; exit 1; }

# shellcheck source=scripts/apt_lib.sh
source "$(dirname "$0")/apt_lib.sh"
apt_install "offerd's build (node and npm)" "${missing[@]}"
