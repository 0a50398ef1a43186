#!/usr/bin/env bash
# Installs the Debian packages offerd needs to build and run, when missing.
# As root it runs apt-get; otherwise it prints the exact line to run.
#   scripts/deps.sh               build + run dependencies
#   scripts/deps.sh --test        also what the tests need (PostgreSQL server...)
#   scripts/deps.sh --docker      also what make test-docker needs (a Docker
#                                 engine, debootstrap for the base image)
#   scripts/deps.sh --check-only  exit 1 if something is missing, install nothing
set -euo pipefail

build_pkgs=(gcc make pkg-config libmicrohttpd-dev libjansson-dev libpq-dev
            libsqlite3-dev libcsv-dev libcurl4-openssl-dev zlib1g-dev libssl-dev
            libcmocka-dev)
test_pkgs=(postgresql curl jq sqlite3 wrk chromium chromium-driver docker-compose clang-format)
docker_pkgs=(docker.io debootstrap docker-compose curl jq)

want=("${build_pkgs[@]}")
check_only=0
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --docker) want+=("${docker_pkgs[@]}") ;;
    --check-only) check_only=1 ;;
    *) echo "usage: $0 [--test] [--docker] [--check-only]" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/apt_lib.sh
source "$(dirname "$0")/apt_lib.sh"
mapfile -t missing < <(apt_missing "${want[@]}")
[[ ${#missing[@]} -eq 0 ]] && exit 0
[[ $check_only -eq 1 ]] && { echo "missing: ${missing[*]}"; exit 1; }
apt_install offerd "${missing[@]}"
