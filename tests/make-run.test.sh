#!/usr/bin/env bash
# Issue 15.6: `make run` must not replace a catalogue the user imported. Its
# setup step (make run-setup, which make run runs before starting offerd)
# imports Company A's example catalogue only into a database where company A
# has none, and creates the development key once. On SQLite and on
# PostgreSQL: a fresh database gets the example; a custom catalogue imported
# after that survives two more setups; the key is not replaced.
source "$(dirname "$0")/lib.sh"
lib_deadline 180

custom=$LIB_TMP/custom.csv
printf 'ID,OFFERS,NAME\n1,OFFER_1,CUSTOM ONE\n2,OFFER_7,CUSTOM SEVEN\n' >"$custom"
example_rows=$(($(wc -l <examples/company_A_products.csv) - 1))

setup() {  # setup DBURL KEYFILE: prints make's output, fails the check on error
  make -s --no-print-directory run-setup BUILD="$build" DATABASE_URL="$1" DEV_KEY="$2" 2>&1
}

check_backend() {
  local tag=$1 db=$2 key=$LIB_TMP/$1-dev-key out first names n
  out=$(setup "$db" "$key") || { fail "$tag: make run-setup on a fresh database failed: $out"; return; }
  n=$(db_count "$db" tb_products_a)
  expect_eq "$n" "$example_rows" "$tag: a fresh database gets the example catalogue"
  [[ -s $key ]] || { fail "$tag: no development key in $key"; return; }
  first=$(cat "$key")

  "$build/offerctl" products import "$custom" --company A --database-url "$db" >/dev/null ||
    { fail "$tag: importing the custom catalogue failed"; return; }
  for run in 2 3; do
    out=$(setup "$db" "$key") || { fail "$tag: make run-setup #$run failed: $out"; return; }
    grep -q 'company A has a catalogue of 2 products' <<<"$out" ||
      fail "$tag: run #$run does not say the catalogue was kept: $out"
  done
  names=$(sql "$db" "SELECT offer_id || '=' || product_name FROM tb_products_a ORDER BY offer_id" | tr '\n' ' ')
  expect_eq "$names" "OFFER_1=CUSTOM ONE OFFER_7=CUSTOM SEVEN " \
    "$tag: the custom catalogue survives two more make run-setup"
  expect_eq "$(cat "$key")" "$first" "$tag: the development key is kept"
  # The key works against that database: offerctl lists it once.
  n=$(db_count "$db" tb_api_keys)
  expect_eq "$n" 1 "$tag: one development key created, not one per start"
}

sqlite_new_db run sq
check_backend sqlite "$sq"

pg_setup
pg_new_db run pg
check_backend postgresql "$pg"

# make run starts offerd after the same setup, with the same database.
plan=$(make -n --no-print-directory run BUILD="$build" DATABASE_URL=sqlite:/nonexistent/x.db 2>&1)
grep -q "offerctl db count tb_products_a --database-url 'sqlite:/nonexistent/x.db'" <<<"$plan" ||
  fail "make run does not run the setup's catalogue check: $plan"
grep -q "offerd --port 8000 --database-url 'sqlite:/nonexistent/x.db'" <<<"$plan" ||
  fail "make run does not start offerd on that database: $plan"

lib_done
