#!/usr/bin/env bash
# /predict-v2 names (issue 15, finding 16): an offer whose catalogue row has
# an empty (or blank) product name maps to null, as documented for an offer
# without a name, never to "". On SQLite:
#  1. A catalogue for A where OFFER_1 is named, OFFER_2's name is empty and
#     OFFER_3's is blank is imported with offerctl.
#  2. /predict-v2 offering only those three answers {"OFFER_1": "PHONE",
#     "OFFER_2": null, "OFFER_3": null}; /batch?v2=1 leaves those cells empty.
#  3. A stored name that is not UTF-8 is answered with U+FFFD, never dropped.
# Bounded to 60 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq
lib_deadline 60

sqlite_new_db names db
printf 'ID,OFFERS,NAME\n1,OFFER_1,PHONE\n2,OFFER_2,\n3,OFFER_3,   \n' >"$LIB_TMP/cat.csv"
timeout 30 "$build/offerctl" products import "$LIB_TMP/cat.csv" --company A --database-url "$db" \
  >"$LIB_TMP/import.out" 2>&1 || { cat "$LIB_TMP/import.out"; die "offerctl products import failed"; }
# A name that is not UTF-8, as a database from before offerctl refused one may hold.
sql "$db" "INSERT INTO tb_products (company, offer_id, product_name) VALUES ('A', 'OFFER_4', CAST(X'5068FF6F6E65' AS TEXT))" >/dev/null ||
  die "cannot insert OFFER_4"
offerd_start names "$db" --auth off --company A
u=${OFFERD_URL[names]}

http POST "$u/predict-v2" -H 'Content-Type: application/json' -d '{"customer_id": "n0",
  "timestamp": "2022-01-01", "states": {}, "offers": {"OFFER_4": true}}'
expect_status 200 "/predict-v2 offering only OFFER_4, whose stored name is not UTF-8"
expect_jq '.["best-three-offers"] == {"OFFER_4": "Ph\ufffdone"}' \
  "the offer is answered, its bad byte as U+FFFD (it was dropped: {})"

http POST "$u/predict-v2" -H 'Content-Type: application/json' -d '{"customer_id": "n1",
  "timestamp": "2022-01-01", "states": {"age": 30, "gender": "F", "region": "Europa"},
  "offers": {"OFFER_1": true, "OFFER_2": true, "OFFER_3": true}}'
expect_status 200 "/predict-v2 with three catalogue offers"
expect_jq '.["best-three-offers"] == {"OFFER_1": "PHONE", "OFFER_2": null, "OFFER_3": null}' \
  "empty and blank names are null, as documented" --sort-keys

printf 'customer_id;age;region;Offer_1;Offer_2;Offer_3\nb1;30;Europa;True;True;True\n' >"$LIB_TMP/in.csv"
http POST "$u/batch?v2=1&rules=none" -H 'Content-Type: text/csv' --data-binary @"$LIB_TMP/in.csv"
expect_status 200 "/batch?v2=1 with the same offers"
line=$(sed -n 2p <<<"$HTTP_BODY" | tr -d '\r')
names=$(head -n 1 <<<"$HTTP_BODY" | tr -d '\r' | awk -F, '{ for (i = 1; i <= NF; i++) if ($i ~ /^product_/) printf "%d ", i }')
got=
for i in $names; do got+="$(cut -d, -f"$i" <<<"$line")|"; done
[[ $(tr '|' '\n' <<<"$got" | grep -c '^PHONE$') == 1 && $(tr '|' '\n' <<<"$got" | grep -c '^ *$') -ge 3 ]] &&
  ok "/batch?v2=1: PHONE once, the other name cells empty ($got)" ||
  fail "/batch?v2=1 product cells: '$got' (row: $line)"
offerd_stop names
lib_done
