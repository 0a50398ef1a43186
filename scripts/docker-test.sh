#!/usr/bin/env bash
# make test-docker: the image and the compose file, run for real.
#
#  1. A Docker engine of its own: Debian's dockerd (scripts/deps.sh --docker),
#     vfs storage, its data root, exec root, pid file, socket and bridge in a
#     temporary directory, so it touches no other engine and leaves nothing.
#  2. Base images without a registry: Debian bookworm made with debootstrap
#     (minbase), imported as debian:bookworm and debian:bookworm-slim. The
#     tarball is cached in $OFFERD_DOCKER_CACHE (/var/cache/offerd); delete
#     it to refresh. postgres:15 is a stand-in built from tests/docker/postgres
#     (Debian's PostgreSQL 15, same POSTGRES_* variables).
#  3. The image, built with BuildKit from the tree's files (tracked and
#     untracked, nothing ignored: what a clean clone holds plus your edits).
#     A CA for a TLS-intercepting proxy goes in as the build secret ca_cert:
#     $OFFERD_DOCKER_CA, or else the certificates in
#     /usr/local/share/ca-certificates when there are any.
#  4. One container on SQLite: the health check turns healthy, /is-alive,
#     Company A's catalogue and a key with offerctl in the container,
#     /predict-v2 names the products, offerctl replay examples/company_A.json
#     answers every request.
#  5. docker-compose.yml (Debian's docker-compose) with non-default
#     POSTGRES_USER/PASSWORD/DB: api becomes healthy on PostgreSQL, predicts,
#     the rows are in that database; the api container is recreated and the
#     key, the catalogue and the episodes are still there.
# Prints how long each step took. Needs root (dockerd). Exit 0 only when
# every check passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }
t0=$SECONDS
lap=$SECONDS
step() {
  echo "--- $* (at $((SECONDS - t0)) s; previous step $((SECONDS - lap)) s)"
  lap=$SECONDS
}

[[ $(id -u) -eq 0 ]] || die "make test-docker starts a Docker engine and must run as root"
scripts/deps.sh --docker || die "scripts/deps.sh --docker failed"

cache=${OFFERD_DOCKER_CACHE:-/var/cache/offerd}
mirror=${OFFERD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base_tar=$cache/debian-bookworm-minbase.tar
tmp=$(mktemp -d /tmp/offerd-docker.XXXXXX) || exit 2
# The engine's files live in a tmpfs: vfs copies every layer in full (some
# 4 GB for this test), which takes minutes to write and minutes more to
# delete on a shared disk, and a tmpfs is gone at once when unmounted.
# OFFERD_DOCKER_TMPFS=0 keeps them on disk.
on_tmpfs=0
if [[ ${OFFERD_DOCKER_TMPFS:-1} != 0 ]]; then
  mount -t tmpfs -o "size=${OFFERD_DOCKER_TMPFS_SIZE:-10g},mode=700" tmpfs "$tmp" ||
    { rmdir "$tmp"; echo "FAIL: cannot mount a tmpfs on $tmp (OFFERD_DOCKER_TMPFS=0 to use the disk)"; exit 1; }
  on_tmpfs=1
fi
sock=$tmp/docker.sock
bridge=odk${tmp##*.}   # at most 15 characters
bridge=${bridge:0:15}
export DOCKER_HOST=unix://$sock
docker=/usr/bin/docker   # Debian's client, the same version as its dockerd
project=offerdtest$$
compose=(docker-compose --project-directory "$root" -f "$root/docker-compose.yml" -p "$project")

cleanup() {
  set +e
  if [[ -S $sock ]]; then
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
    $docker rm -f offerd-single >/dev/null 2>&1
  fi
  if [[ -f $tmp/dockerd.pid ]]; then
    local pid
    pid=$(cat "$tmp/dockerd.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  ip link delete "$bridge" 2>/dev/null
  # Whatever the engine left mounted under the directory, then the directory.
  grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  [[ ${OFFERD_TEST_KEEP:-0} == 1 ]] && { echo "kept $tmp"; return; }
  if [[ $on_tmpfs == 1 ]]; then
    umount -l "$tmp" && rmdir "$tmp"
  else
    rm -rf --one-file-system -- "$tmp"
  fi
}
trap cleanup EXIT

source scripts/port_lib.sh # free_port

# Waits until container $1's health check says healthy (at most $2 s).
wait_healthy() {
  local c=$1 limit=$2 st=
  for _ in $(seq "$limit"); do
    st=$($docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null)
    [[ $st == healthy ]] && return 0
    [[ $st == unhealthy ]] && break
    sleep 1
  done
  echo "container $c: health '$st'; its log:"
  $docker logs --tail 30 "$c" 2>&1 | sed 's/^/    /'
  return 1
}

# --- 1. the engine ---------------------------------------------------------
step "starting dockerd in $tmp"
ip link add "$bridge" type bridge || die "cannot create bridge $bridge"
ip addr add 10.213.$((RANDOM % 250)).1/24 dev "$bridge" || die "cannot address bridge $bridge"
ip link set "$bridge" up
dockerd --storage-driver=vfs --data-root "$tmp/data" --exec-root "$tmp/exec" \
  --pidfile "$tmp/dockerd.pid" -H "unix://$sock" --bridge "$bridge" \
  >"$tmp/dockerd.log" 2>&1 &
for _ in $(seq 60); do
  $docker version >/dev/null 2>&1 && break
  sleep 0.5
done
$docker version >/dev/null 2>&1 || { tail -20 "$tmp/dockerd.log"; die "dockerd did not start"; }
ok "dockerd $($docker version -f '{{.Server.Version}}') on $sock"

# --- 2. base images --------------------------------------------------------
step "base images"
if [[ ! -s $base_tar ]]; then
  echo "debootstrap bookworm (minbase) from $mirror into $base_tar"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
    { tail -20 "$tmp/debootstrap.log"; die "debootstrap failed"; }
  rm -rf "$tmp/rootfs/var/lib/apt/lists/"* "$tmp/rootfs/var/cache/apt/archives/"*.deb
  tar --numeric-owner -C "$tmp/rootfs" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar" ||
    die "could not write $base_tar"
  rm -rf "$tmp/rootfs"
  step "debootstrap done"
else
  echo "using the cached $base_tar ($(date -r "$base_tar" +%F))"
fi
$docker import "$base_tar" debian:bookworm >/dev/null || die "docker import failed"
$docker tag debian:bookworm debian:bookworm-slim
$docker build -q -t postgres:15 tests/docker/postgres >/dev/null ||
  die "building the postgres:15 stand-in failed"
ok "debian:bookworm, debian:bookworm-slim and postgres:15 are local images"

# --- 3. the image ----------------------------------------------------------
step "building the offerd image"
ca=${OFFERD_DOCKER_CA:-}
if [[ -z $ca ]] && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  ca=$tmp/extra-ca.pem
  cat /usr/local/share/ca-certificates/*.crt >"$ca"
fi
secret=()
[[ -n $ca ]] && secret=(--secret "id=ca_cert,src=$ca") && echo "passing $ca as the build secret ca_cert"
git ls-files -z --cached --others --exclude-standard |
  tar --null --ignore-failed-read -T - -cf "$tmp/context.tar" 2>/dev/null
if DOCKER_BUILDKIT=1 $docker build --progress=plain "${secret[@]}" -t offerd:latest - \
    <"$tmp/context.tar" >"$tmp/build.log" 2>&1; then
  ok "the image builds from the tree ($(du -m "$tmp/context.tar" | cut -f1) MB of context)"
else
  tail -40 "$tmp/build.log"
  die "docker build failed"
fi
if [[ -n $ca ]]; then
  # The CA is in no file of the image: look for a line from the middle of
  # each certificate (the first lines of all certificates look alike).
  needles=$(awk '/BEGIN CERT/ { n = 0 } { n++ } n == 8' "$ca")
  found=$($docker run --rm -i --entrypoint sh offerd:latest -c \
    'cat >/tmp/needles; grep -rlsF -f /tmp/needles /etc /usr /opt /var /root /home 2>/dev/null | head -3' \
    <<<"$needles")
  if [[ -z $needles ]]; then
    fail "no line to look for in $ca"
  elif [[ -n $found ]]; then
    fail "the CA passed as a build secret is inside the image: $found"
  else
    ok "the CA given as a build secret is in no file of the image"
  fi
fi

# --- 4. one container on SQLite --------------------------------------------
step "one container on SQLite"
port=$(free_port) || die "no free port"
$docker run -d --name offerd-single -p "127.0.0.1:$port:8000" offerd:latest >/dev/null ||
  die "docker run failed"
url=http://127.0.0.1:$port
if wait_healthy offerd-single 90; then ok "the health check turned healthy"; else fail "not healthy"; fi
alive=$(curl -s -m 5 "$url/is-alive")
[[ $(jq -r .status <<<"$alive" 2>/dev/null) == "I'm alive and running" ]] &&
  ok "/is-alive through the published port" || fail "/is-alive: $alive"
$docker exec offerd-single offerctl products import /opt/offerd/examples/company_A_products.csv \
  --company A >/dev/null || fail "offerctl products import in the container"
key=$($docker exec offerd-single offerctl keys create --company A 2>/dev/null)
[[ -n $key ]] || fail "offerctl keys create printed no key"
req=$(jq -c '.[0]' examples/company_A.json)
# offerd reloads keys and catalogues every --refresh (1 s): a key made with
# offerctl a moment ago may be unknown for that long, so a 401 is retried.
# Only a 200 makes an episode.
predict_v2() {  # predict_v2 URL KEY: checks the answer names three products
  local out status
  for _ in $(seq 20); do
    out=$(curl -s -m 10 -w '\n%{http_code}' -X POST "$1/predict-v2" -H "X-API-Key: $2" \
      -H 'Content-Type: application/json' -d "$req")
    status=${out##*$'\n'}
    out=${out%$'\n'*}
    [[ $status == 401 ]] || break
    sleep 0.5
  done
  [[ $status == 200 ]] || { echo "status $status: $out"; return 1; }
  jq -e '.["best-three-offers"] | type == "object" and length == 3
         and all(.[]; type == "string" and length > 0)' <<<"$out" >/dev/null ||
    { echo "answer: $out"; return 1; }
}
if msg=$(predict_v2 "$url" "$key"); then
  ok "/predict-v2 names three products from the imported catalogue"
else
  fail "/predict-v2: $msg"
fi
want=$(jq length examples/company_A.json)
out=$($docker exec -e OFFERD_API_KEY="$key" offerd-single \
  offerctl replay /opt/offerd/examples/company_A.json --url http://127.0.0.1:8000 2>"$tmp/replay.err")
rc=$?
got=$(grep -c 'best-three-offers' <<<"$out")
if [[ $rc -eq 0 && $got -eq $want ]]; then
  ok "offerctl replay examples/company_A.json: $got of $want answers"
else
  fail "offerctl replay: exit $rc, $got of $want answers: $(head -c 400 <<<"$out") $(head -c 400 "$tmp/replay.err")"
fi
$docker rm -f offerd-single >/dev/null

# --- 5. the compose file ---------------------------------------------------
step "docker-compose with PostgreSQL"
export POSTGRES_USER=offerd_u POSTGRES_PASSWORD=pw_$RANDOM$RANDOM POSTGRES_DB=offerd_d
OFFERD_PORT=$(free_port) || die "no free port"
export OFFERD_PORT
url=http://127.0.0.1:$OFFERD_PORT
"${compose[@]}" up -d --no-build >"$tmp/compose.log" 2>&1 ||
  { cat "$tmp/compose.log"; die "docker-compose up failed"; }
api=$("${compose[@]}" ps -q api)
db=$("${compose[@]}" ps -q db)
if wait_healthy "$db" 90; then ok "db (the postgres:15 stand-in) is healthy"; else fail "db not healthy"; fi
if wait_healthy "$api" 120; then ok "api is healthy on PostgreSQL"; else fail "api not healthy"; fi
"${compose[@]}" exec -T api offerctl products import /opt/offerd/examples/company_A_products.csv \
  --company A >/dev/null || fail "offerctl products import in api"
key=$("${compose[@]}" exec -T api offerctl keys create --company A 2>/dev/null | tr -d '\r')
[[ -n $key ]] || fail "offerctl keys create in api printed no key"
if msg=$(predict_v2 "$url" "$key"); then ok "/predict-v2 through compose"; else fail "/predict-v2 via compose: $msg"; fi
episodes() {
  "${compose[@]}" exec -T db psql -X -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -c 'SELECT count(*) FROM tb_episodes' 2>&1 | tr -d '\r'
}
n=$(episodes)
[[ $n == 1 ]] && ok "the episode is in database $POSTGRES_DB of user $POSTGRES_USER" ||
  fail "episodes in $POSTGRES_DB: '$n', want 1"

step "recreating the api container"
"${compose[@]}" up -d --no-build --force-recreate api >>"$tmp/compose.log" 2>&1 ||
  fail "docker-compose up --force-recreate api failed"
api2=$("${compose[@]}" ps -q api)
[[ -n $api2 && $api2 != "$api" ]] && ok "api is a new container" || fail "api was not recreated"
if wait_healthy "$api2" 120; then ok "the new api is healthy"; else fail "new api not healthy"; fi
if msg=$(predict_v2 "$url" "$key"); then
  ok "the key and the catalogue survived the new api container"
else
  fail "/predict-v2 after recreating api: $msg"
fi
n=$(episodes)
[[ $n == 2 ]] && ok "both episodes kept" || fail "episodes after recreating api: '$n', want 2"

step "done"
echo "test-docker: $((SECONDS - t0)) s in all"
if [[ $fails -gt 0 ]]; then
  echo "test-docker: $fails check(s) failed"
  exit 1
fi
echo "test-docker: all checks passed"
