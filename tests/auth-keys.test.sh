#!/usr/bin/env bash
# Which key a request is stored under (issue 15, finding 11): a request that
# presents two different API keys, one in "Authorization: Bearer" and another
# in X-API-Key, is refused with 400 and stores nothing, instead of being
# stored as the X-API-Key's company. The same key in both headers, either
# header alone, and X-API-Key next to another Authorization scheme (Basic,
# from a proxy) still work and are stored under the key's company.
# On SQLite; bounded to 60 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline 60

sqlite_new_db keys db
key_a=$(key_create "$db" A)
key_b=$(key_create "$db" B)
offerd_start main "$db" --refresh 0.2
u=${OFFERD_URL[main]}
body='{"customer_id":"77","timestamp":"2022-01-01","states":{"age":30,"gender":"F","client-since":"2020-01-01","region":"Europa","last_offer":"OFFER_1"},"offers":{"OFFER_1":true,"OFFER_2":true,"OFFER_3":true}}'

post() { http POST "$u/predict" -H 'Content-Type: application/json' -d "$body" "$@"; }

post -H "Authorization: Bearer $key_a" -H "X-API-Key: $key_b"
expect_status 400 "Bearer key of A and X-API-Key of B"
expect_jq '.field == "Authorization" and (.message | test("different keys"))' "the 400 says the keys differ"
post -H "X-API-Key: $key_b" -H "Authorization: bearer   $key_a"
expect_status 400 "the same two keys, header order and case swapped"
expect_eq "$(sql "$db" 'SELECT COUNT(*) FROM tb_episodes')" 0 "a refused request stored no episode"

post -H "Authorization: Bearer $key_a" -H "X-API-Key: $key_a"
expect_status 200 "the same key in both headers"
post -H "Authorization: Bearer $key_a"
expect_status 200 "Bearer alone"
post -H "X-API-Key: $key_b"
expect_status 200 "X-API-Key alone"
post -H "X-API-Key: $key_b" -H "Authorization: Basic dXNlcjpwYXNz"
expect_status 200 "X-API-Key next to a Basic Authorization (ignored)"
post -H "Authorization: Basic dXNlcjpwYXNz"
expect_status 401 "Basic alone is no API key"
post
expect_status 401 "no key at all"
sleep 0.5
expect_eq "$(sql "$db" "SELECT company || ':' || COUNT(*) FROM tb_episodes GROUP BY company ORDER BY company" | tr '\n' ' ')" \
  "A:2 B:2 " "episodes stored under the key's own company (A twice, B twice)"
offerd_stop main
lib_done
