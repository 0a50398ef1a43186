#!/usr/bin/env bash
# GET /ready, the readiness probe (issue 15, finding 13): /is-alive keeps the
# brief's meaning and stays 200 while the database is down; /ready reports
# the database and the writer, and is 503 while PostgreSQL refuses offerd,
# 200 again once it is back. The Dockerfile's HEALTHCHECK calls /ready.
#  1. offerd on a fresh PostgreSQL database: /ready is 200 with
#     {"status":"ready","database":{"status":"ok"},"writer":{"status":"running"}}.
#  2. The database is closed to connections (ALLOW_CONNECTIONS false) and
#     offerd's sessions on it are terminated: within 5 s /ready is 503 with
#     database "unreachable" and Retry-After, while /is-alive is still 200.
#  3. Connections are allowed again: /ready is 200 within 5 s.
#  4. On SQLite /ready is 200 too; HEAD /ready has no body.
# Bounded to 120 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq psql
lib_deadline 120
pg_setup
pg_new_db ready db
dbname=${db##*/}
dbname=${dbname%%\?*}
admin() { timeout 20 psql -X -q -At "$OFFERD_TEST_PG_URL" -c "$1" >/dev/null; }
lib_on_exit "admin 'ALTER DATABASE \"$dbname\" ALLOW_CONNECTIONS true'"

offerd_start pg "$db" --auth off --refresh 0.2
u=${OFFERD_URL[pg]}
http GET "$u/ready"
expect_status 200 "/ready with the database up"
expect_jq '.status == "ready" and .database.status == "ok" and .database.store == "postgresql" and .writer.status == "running" and (.writer.queued | type) == "number"' \
  "/ready reports the database and the writer"
expect_header Content-Type application/json "/ready is JSON"

admin "ALTER DATABASE \"$dbname\" ALLOW_CONNECTIONS false" || fail "cannot close $dbname to connections"
admin "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$dbname' AND pid <> pg_backend_pid()" ||
  fail "cannot terminate offerd's sessions"
for ((i = 0; i < 50; i++)); do
  http GET "$u/ready"
  [[ $HTTP_STATUS == 503 ]] && break
  sleep 0.1
done
expect_status 503 "/ready while PostgreSQL refuses offerd"
expect_jq '.status == 503 and .error == "Service Unavailable" and (.message | test("database")) and .database.status == "unreachable" and (.database.error | length) > 0 and .writer.status == "running"' \
  "the 503 (Error shape) says the database is unreachable, and why"
expect_header Retry-After 1 "the 503 has Retry-After"
http GET "$u/is-alive"
expect_status 200 "/is-alive stays 200 meanwhile (liveness, as the brief defines it)"

admin "ALTER DATABASE \"$dbname\" ALLOW_CONNECTIONS true" || fail "cannot reopen $dbname"
for ((i = 0; i < 50; i++)); do
  http GET "$u/ready"
  [[ $HTTP_STATUS == 200 ]] && break
  sleep 0.1
done
expect_status 200 "/ready again once PostgreSQL is back"
offerd_stop pg

sqlite_new_db ready sdb
offerd_start lite "$sdb" --auth off
http GET "${OFFERD_URL[lite]}/ready"
expect_status 200 "/ready on SQLite"
expect_jq '.database.store == "sqlite"' "the store is named"
http HEAD "${OFFERD_URL[lite]}/ready"
expect_status 200 "HEAD /ready"

grep -q 'HEALTHCHECK' Dockerfile && grep -A2 'HEALTHCHECK' Dockerfile | grep -q '/ready' &&
  ok "the Dockerfile's HEALTHCHECK calls /ready" || fail "the Dockerfile's HEALTHCHECK does not call /ready"
offerd_stop lite
lib_done
