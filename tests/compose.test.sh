#!/usr/bin/env bash
# Docker, checked without a Docker engine (none runs on the development and CI
# machines):
#  1. docker-compose.yml: `docker-compose config` (Debian's docker-compose,
#     installed here when missing) accepts it, with the default environment
#     and with overrides, and it has what the README promises: services api
#     and db (postgres:15, named volume, pg_isready healthcheck), api waiting
#     for db healthy, DATABASE_URL built from the environment, port 8000.
#  2. Dockerfile: its build stage runs the same steps as this machine
#     (Debian of the same release, scripts/deps.sh, scripts/deps-node.sh,
#     make build); its runtime stage is bookworm-slim, non-root, with a
#     HEALTHCHECK on /ready, and installs a Debian package for every shared
#     library $OFFERD_BUILD/offerd and offerctl link against directly.
# Runs from the repository root with $OFFERD_BUILD (scripts/run-tests.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${OFFERD_BUILD:-build}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

source scripts/apt_lib.sh # apt_install
command -v docker-compose >/dev/null || apt_install compose.test.sh docker-compose ||
  { echo "FAIL: docker-compose is missing and could not be installed (see above)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is missing: scripts/deps.sh --test installs it"; exit 1; }

# docker-compose prints YAML; Debian's python3-yaml (a dependency of
# docker-compose) turns it into JSON for jq. Variables the test does not set
# are unset, so the defaults in the file are what is checked.
compose_json() {
  env -u POSTGRES_USER -u POSTGRES_PASSWORD -u POSTGRES_DB -u OFFERD_PORT "$@" \
    docker-compose --project-directory . -f docker-compose.yml config |
    /usr/bin/python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'
}

# --- 1. docker-compose.yml -------------------------------------------------
if ! docker-compose -f docker-compose.yml config -q; then
  fail "docker-compose config rejects docker-compose.yml"
else
  ok "docker-compose config accepts docker-compose.yml"
fi
cfg=$(compose_json) || cfg='{}'
custom=$(compose_json POSTGRES_USER=u1 POSTGRES_PASSWORD=s3cret POSTGRES_DB=d1 OFFERD_PORT=9000) || custom='{}'

check() {  # check DESCRIPTION JSON JQ-EXPRESSION (must print true)
  local out
  out=$(jq -r "$3" <<<"$2" 2>&1)
  if [[ $out == true ]]; then ok "$1"; else fail "$1${out:+ (jq: ${out:0:200})}"; fi
}
check "services are api and db" "$cfg" '.services | keys == ["api","db"]'
check "db is postgres:15" "$cfg" '.services.db.image == "postgres:15"'
check "db keeps its data in a named volume" "$cfg" '
  . as $c | [.services.db.volumes[] | (if type == "string" then split(":") else [.source, .target] end)]
  | any(.[0] as $v | .[1] == "/var/lib/postgresql/data" and ($c.volumes // {} | has($v)))'
check "db has a pg_isready healthcheck" "$cfg" '.services.db.healthcheck.test | tostring | test("pg_isready")'
check "api waits for db healthy" "$cfg" '.services.api.depends_on.db.condition == "service_healthy"'
check "api is built from this Dockerfile" "$cfg" '.services.api.build | (.context // .) | type == "string"'
check "api publishes port 8000" "$cfg" '
  [.services.api.ports[] | if type == "string" then . else "\(.published):\(.target)" end] | any(. == "8000:8000")'
check "api's DATABASE_URL defaults to postgresql://offerd:...@db:5432/offerd" "$cfg" '
  .services.api.environment.DATABASE_URL | test("^postgresql://offerd:[^@]+@db:5432/offerd$")'
check "db's credentials default to offerd" "$cfg" '
  .services.db.environment | .POSTGRES_USER == "offerd" and .POSTGRES_DB == "offerd" and (.POSTGRES_PASSWORD | length > 0)'
check "the environment sets DATABASE_URL and the db alike" "$custom" '
  (.services.api.environment.DATABASE_URL == "postgresql://u1:s3cret@db:5432/d1")
  and (.services.db.environment | .POSTGRES_USER == "u1" and .POSTGRES_PASSWORD == "s3cret" and .POSTGRES_DB == "d1")'
check "OFFERD_PORT moves the published port" "$custom" '
  [.services.api.ports[] | if type == "string" then . else "\(.published):\(.target)" end] | any(. == "9000:8000")'
check "PostgreSQL is not published on the host" "$cfg" '.services.db.ports == null'

# --- 2. Dockerfile ---------------------------------------------------------
df=Dockerfile
# Instructions with their continuation lines joined and comments dropped.
instr=$(grep -v '^\s*#' "$df" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | sed 's/[[:space:]]\+/ /g')
stage() { awk -v s="$1" 'toupper($1) == "FROM" { on = (tolower($NF) == s) } on' <<<"$instr"; }
build_stage=$(stage build)
runtime_stage=$(stage runtime)
has() {  # has DESCRIPTION TEXT EXTENDED-REGEX
  if grep -Eq "$3" <<<"$2"; then ok "$1"; else fail "$1 (no line matching /$3/)"; fi
}

. /etc/os-release
codename=${VERSION_CODENAME:-unknown}
has "build stage is Debian $codename, like this machine" "$build_stage" "^FROM debian:$codename AS build$"
has "build stage installs packages with scripts/deps.sh" "$build_stage" '^RUN .*scripts/deps\.sh( |&|;|$)'
has "build stage installs node/npm with scripts/deps-node.sh" "$build_stage" '^RUN .*scripts/deps-node\.sh( |&|;|$)'
has "build stage runs make build" "$build_stage" '^RUN (--mount=[^ ]+ )*(.*&& )?make build( |&|;|$)'
if grep -Eq '^(RUN|ENV|ARG) .*(apt-get install|gcc |cc |CFLAGS|npm )' <<<"$build_stage"; then
  fail "build stage has steps of its own besides the scripts and make build:"
  grep -E '^(RUN|ENV|ARG) .*(apt-get install|gcc |cc |CFLAGS|npm )' <<<"$build_stage"
fi
has "runtime stage is debian:$codename-slim" "$runtime_stage" "^FROM debian:$codename-slim( AS runtime)?$"
user=$(awk '$1 == "USER" { u = $2 } END { print u }' <<<"$runtime_stage")
case ${user%%:*} in
  ""|root|0) fail "runtime must end with USER <non-root> (has '${user}')" ;;
  *) ok "runtime runs as the non-root user $user" ;;
esac
has "runtime copies the binaries to /opt/offerd" "$runtime_stage" '^COPY --from=build .*/build/offerd .*/opt/offerd/?$'
has "runtime copies build/share to /opt/offerd/share" "$runtime_stage" '^COPY --from=build .*/build/share /opt/offerd/share/?$'
has "runtime sets OFFERD_SHARE_DIR" "$runtime_stage" '^ENV .*OFFERD_SHARE_DIR=/opt/offerd/share'
has "runtime exposes 8000" "$runtime_stage" '^EXPOSE 8000$'
has "runtime has a HEALTHCHECK on /ready" "$runtime_stage" '^HEALTHCHECK .*CMD .*/ready'
has "runtime starts offerd on all interfaces" "$runtime_stage" '^CMD \[ ?"offerd", "--host", "0\.0\.0\.0" ?\]$'
grep -qx 'build/' .dockerignore && grep -qx 'node_modules/' .dockerignore &&
  ok ".dockerignore keeps host builds out of the image" ||
  fail ".dockerignore must exclude build/ and node_modules/"

# Each library the binaries need directly must come from a package the
# runtime stage installs (libc and libgcc are in every Debian image).
runtime_pkgs=$(grep -E '^RUN .*apt-get install' <<<"$runtime_stage" | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
bins=()
for b in "$build/offerd" "$build/offerctl"; do [[ -x $b ]] && bins+=("$b"); done
if [[ ${#bins[@]} -eq 0 ]]; then
  fail "no $build/offerd or $build/offerctl to check the runtime libraries against (make build first)"
else
  needed=0
  while read -r lib path; do
    [[ -z $path ]] && { fail "$lib: not found on this machine"; continue; }
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [[ -z $pkg ]] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    # libc and libgcc are in every image; the sanitizer runtimes only in
    # make test-asan's build, never in a release.
    case $pkg in libc6|libgcc-s1|libasan*|libubsan*) continue ;; esac
    needed=$((needed + 1))
    grep -qx "$pkg" <<<"$runtime_pkgs" ||
      fail "$lib comes from Debian package '${pkg:-?}', which the runtime stage does not install"
  done < <(for b in "${bins[@]}"; do
             objdump -p "$b" | awk '$1 == "NEEDED" { print $2 }'
           done | sort -u | while read -r so; do
             echo "$so $(ldd "${bins[0]}" "${bins[@]:1}" 2>/dev/null | awk -v so="$so" '$1 == so { print $3; exit }')"
           done)
  ok "runtime packages checked against $needed directly linked libraries"
fi

echo
if [[ $fails -eq 0 ]]; then echo "compose: all checks passed"; exit 0; fi
echo "compose: $fails check(s) failed"
exit 1
