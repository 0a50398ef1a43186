#!/usr/bin/env bash
# End to end: `offerctl batch` and `offerctl replay` against the real offerd
# on a throwaway SQLite database.
#  1. Company B's real CSV: 19 result rows in input order, every Europa row
#     without OFFER_4/5/6, the two over-65 rows without OFFER_1/3/4 (the
#     server only picks offers sent as true, so this proves the rules were
#     applied), and 19 episodes in TB_EPISODES.
#  2. The same with --rules examples/rules-company-B.txt and with --v2
#     (product names from Company A's catalogue).
#  3. A messy CSV with bad rows: exit status 1, every row present in order,
#     the bad ones with their error, and only the good ones reached the server.
#  4. A header without customer_id: exit status 2 and no output file; a
#     server that is down: every row written with a connection error.
#     The output file being the input (by any path or link): refused.
#  5. replay of company_A.json: six JSON lines, on /predict and /predict-v2.
#  6. POST /batch tells exactly which rows became episodes (issue 15, finding
#     1): 30,000 good rows, one with a 100 KB quoted field, two more: 200,
#     the long row is status=error (its field named), the others ok, and the
#     episodes added are exactly the ok rows. A file rejected after rows were
#     read (a chunked body over --batch-body-max-mb) records no episode.
# Exits 77 (skipped) only when $OFFERD_BUILD/offerd has not been built.
# Runs from the repository root with $OFFERD_BUILD (scripts/run-tests.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${OFFERD_BUILD:-build}
if [[ ! -x $build/offerd ]]; then
  echo "SKIP: $build/offerd is not built"
  exit 77
fi
ctl=$build/offerctl
[[ -x $ctl ]] || { echo "FAIL: $ctl is not built"; exit 1; }

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
db="sqlite:$tmp/offerd.db"
source scripts/port_lib.sh # listen_url

# The catalogue goes in before the server starts, so /predict-v2 sees it at once.
timeout 30 "$ctl" products import examples/company_A_products.csv --company A \
  --database-url "$db" || { echo "FAIL: products import"; exit 1; }

# --port 0 lets the kernel pick a free port; offerd logs the address it bound.
"$build/offerd" --port 0 --host 127.0.0.1 --database-url "$db" --auth off \
  --access-log off >"$tmp/offerd.log" 2>&1 &
pid=$!
if ! url=$(listen_url "$tmp/offerd.log" "$pid"); then
  echo "FAIL: offerd did not start; its log:"
  cat "$tmp/offerd.log"
  exit 1
fi
echo "offerd at $url"

episodes() { timeout 30 "$ctl" db count tb_episodes --database-url "$db" 2>/dev/null | tr -dc '0-9'; }

# Status of each result line: ok rows end in ",ok,"; error rows hold ",error,".
statuses() { tr -d '\r' <"$1" | tail -n +2 | sed -E 's/.*,ok,$/ok/; t; s/.*,error,.*/error/; t; s/.*/?/'; }

# Checks Company B's rules on a result file: input line i+1 is output line i+1.
check_rules() {
  local out=$1 europa=0 over65=0 bad=0 n=0
  local id age region offers line
  while IFS=$'\t' read -r in_line out_line; do
    n=$((n + 1))
    IFS=';' read -r id age _ _ _ region _ <<<"$in_line"
    offers=$(cut -d, -f3-5 <<<"$out_line")
    if [[ ${out_line%%,*} != "$id" ]]; then
      echo "  row $n: customer $id expected, got ${out_line%%,*}"
      bad=$((bad + 1))
    fi
    if [[ $region == Europa ]]; then
      europa=$((europa + 1))
      if grep -Eq 'OFFER_(4|5|6)(,|$)' <<<"$offers"; then
        echo "  row $n ($id, Europa): $offers"
        bad=$((bad + 1))
      fi
    fi
    if ((age > 65)); then
      over65=$((over65 + 1))
      if grep -Eq 'OFFER_(1|3|4)(,|$)' <<<"$offers"; then
        echo "  row $n ($id, age $age): $offers"
        bad=$((bad + 1))
      fi
    fi
    # Every Company B customer is allowed at least three offers: three distinct ones.
    line=$(tr ',' '\n' <<<"$offers" | grep -c .)
    if [[ $line != 3 || $(tr ',' '\n' <<<"$offers" | sort -u | grep -c .) != 3 ]]; then
      echo "  row $n ($id): not three distinct offers: $offers"
      bad=$((bad + 1))
    fi
  done < <(paste <(tr -d '\r' <examples/company_B.csv | tail -n +2) <(tr -d '\r' <"$out" | tail -n +2))
  [[ $n == 19 && $europa == 8 && $over65 == 2 && $bad == 0 ]]
}

# --- 1. Company B ------------------------------------------------------------
timeout 60 "$ctl" batch examples/company_B.csv -o "$tmp/b.csv" --url "$url" 2>"$tmp/b.err"
rc=$?
cat "$tmp/b.err"
[[ $rc == 0 ]] && ok "batch company_B.csv exits 0" || fail "batch company_B.csv exited $rc"
if [[ -f $tmp/b.csv ]]; then
  [[ $(head -n 1 "$tmp/b.csv" | tr -d '\r') == "customer_id,response_date,offer_1,offer_2,offer_3,status,error" ]] \
    && ok "result header" || fail "result header: $(head -n 1 "$tmp/b.csv")"
  [[ $(tail -n +2 "$tmp/b.csv" | wc -l) == 19 ]] && ok "19 result rows" \
    || fail "$(tail -n +2 "$tmp/b.csv" | wc -l) result rows, expected 19"
  [[ $(statuses "$tmp/b.csv" | sort -u) == ok ]] && ok "every row ok" || fail "rows not ok: $(grep error "$tmp/b.csv")"
  today=$(date -u +%F)
  [[ $(tr -d '\r' <"$tmp/b.csv" | tail -n +2 | cut -d, -f2 | sort -u) == "$today" ]] \
    && ok "response_date is today" || fail "response dates: $(cut -d, -f2 "$tmp/b.csv" | sort -u | tr '\n' ' ')"
  check_rules "$tmp/b.csv" && ok "input order kept; Europa and over-65 rules honoured" \
    || fail "order or rules broken in $tmp/b.csv"
else
  fail "no output file"
fi
n=$(episodes)
[[ $n == 19 ]] && ok "19 episodes in TB_EPISODES" || fail "TB_EPISODES has '$n' rows, expected 19"

# --- 2. --rules FILE and --v2 ------------------------------------------------
timeout 60 "$ctl" batch examples/company_B.csv -o "$tmp/r.csv" --url "$url" \
  --rules examples/rules-company-B.txt --concurrency 3 --quiet
rc=$?
[[ $rc == 0 ]] && check_rules "$tmp/r.csv" && ok "--rules examples/rules-company-B.txt" \
  || fail "--rules examples/rules-company-B.txt (exit $rc)"

timeout 60 "$ctl" batch examples/company_B.csv -o "$tmp/v2.csv" --url "$url" --v2 --quiet
rc=$?
[[ $rc == 0 ]] && ok "batch --v2 exits 0" || fail "batch --v2 exited $rc"
[[ $(head -n 1 "$tmp/v2.csv" | tr -d '\r') == "customer_id,response_date,offer_1,offer_2,offer_3,product_1,product_2,product_3,status,error" ]] \
  && ok "--v2 header" || fail "--v2 header: $(head -n 1 "$tmp/v2.csv")"
# OFFER_2 is IPHONE 13 in the catalogue: wherever it was chosen, its name is beside it.
if tr -d '\r' <"$tmp/v2.csv" | tail -n +2 | awk -F, '
    { for (i = 3; i <= 5; i++) if ($i == "OFFER_2" && $(i + 3) != "IPHONE 13") bad++ ; if ($6 == "") bad++ }
    END { exit bad > 0 || NR != 19 }'; then
  ok "--v2 product names from the catalogue"
else
  fail "--v2 product columns: $(head -n 3 "$tmp/v2.csv")"
fi

# --- 3. a messy file ---------------------------------------------------------
before=$(episodes)
timeout 60 "$ctl" batch tests/data/messy-semicolon-crlf-bom.csv -o "$tmp/m.csv" --url "$url" 2>"$tmp/m.err"
rc=$?
cat "$tmp/m.err"
[[ $rc == 1 ]] && ok "messy file exits 1" || fail "messy file exited $rc, expected 1"
got=$(statuses "$tmp/m.csv" | tr '\n' ' ')
want="ok ok error error error ok error error error ok ok ok "
[[ $got == "$want" ]] && ok "messy file: 12 rows, statuses in order" || fail "messy statuses: '$got', expected '$want'"
ids=$(tr -d '\r' <"$tmp/m.csv" | tail -n +2 | cut -d, -f1 | tr '\n' ' ')
[[ $ids == '1001 1002 1003  1005 1006 1007 1008 1009 1010 1011 "10""12" ' ]] \
  && ok "messy file: customer ids in input order" || fail "messy ids: '$ids'"
for msg in "age is not a number: 'abc'" "missing customer_id" "no eligible offer" \
  "missing columns: the row has 10 of 14" "too many columns: 15" "OFFER_1 is not true or false"; do
  grep -qF "$msg" "$tmp/m.csv" || fail "messy file: no error '$msg'"
done
grep -q "row 3 (customer_id '1003'): age is not a number" "$tmp/m.err" \
  && ok "failed rows listed on stderr" || fail "stderr does not list failed rows"
after=$(episodes)
[[ $((after - before)) == 6 ]] && ok "only the 6 good rows reached the server" \
  || fail "episodes went from $before to $after, expected +6"

# --- 3b. formula injection (OWASP): cells a spreadsheet would run ------------
printf 'customer_id;age;region;Offer_1;Offer_2;Offer_3\r\n=1+2;30;Asia;True;True;True\r\n@SUM(A1);30;Asia;True;True;True\r\n-5;30;Asia;True;True;True\r\n+7;abc;Asia;True;True;True\r\n' \
  >"$tmp/formula.csv"
timeout 60 "$ctl" batch "$tmp/formula.csv" -o "$tmp/formula.out.csv" --url "$url" --quiet 2>/dev/null
ids=$(tr -d '\r' <"$tmp/formula.out.csv" | tail -n +2 | cut -d, -f1 | tr '\n' ' ')
[[ $ids == "\"'=1+2\" \"'@SUM(A1)\" \"'-5\" \"'+7\" " ]] \
  && ok "formula cells are quoted with a leading ' (ok and error rows)" \
  || fail "formula cells written as: $ids"

# --- 3c. the documented 64-offer limit: 65 offer columns fail each row --------
{
  printf 'customer_id;age'; for i in $(seq 65); do printf ';Offer_%d' "$i"; done; printf '\n'
  printf '1;30'; for i in $(seq 65); do printf ';True'; done; printf '\n'
} >"$tmp/offers65.csv"
timeout 60 "$ctl" batch "$tmp/offers65.csv" -o "$tmp/offers65.out" --url "$url" --quiet 2>/dev/null
rc=$?
[[ $rc == 1 ]] && grep -q "offers has more than 64 entries" "$tmp/offers65.out" \
  && ok "65 offer columns: the row fails with the documented limit" \
  || fail "65 offer columns: exit $rc, $(cat "$tmp/offers65.out")"

# --- 3d. the rules read the region the agent reads: Europe and EU are Europa --
printf 'customer_id;age;region;Offer_1;Offer_2;Offer_3;Offer_4;Offer_5;Offer_6\n' >"$tmp/europe.csv"
for r in Europe EU ' eu ' EUROPE europa; do
  printf 'e%s;30;%s;True;True;True;True;True;True\n' "$(tr -dc 'A-Za-z' <<<"$r")" "$r" >>"$tmp/europe.csv"
done
timeout 60 "$ctl" batch "$tmp/europe.csv" -o "$tmp/europe.out" --url "$url" --quiet 2>/dev/null
rc=$?
got=$(tr -d '\r' <"$tmp/europe.out" | tail -n +2 | cut -d, -f3-5 | tr '\n' ' ')
[[ $rc == 0 && $(statuses "$tmp/europe.out" | sort -u) == ok ]] \
  && [[ $(tail -n +2 "$tmp/europe.out" | wc -l) == 5 ]] && ! grep -Eq 'OFFER_(4|5|6)' <<<"$got" \
  && ok "Europe, EU, eu rows: OFFER_4..6 denied as for Europa" \
  || fail "Europe spellings: exit $rc, offers $got"

# --- 4. fatal input, server down ---------------------------------------------
timeout 30 "$ctl" batch tests/data/no-customer-id.csv -o "$tmp/none.csv" --url "$url" 2>"$tmp/none.err"
rc=$?
[[ $rc == 2 && ! -e $tmp/none.csv ]] && grep -q "no customer_id column" "$tmp/none.err" \
  && ok "bad header: exit 2, no output" || fail "bad header: exit $rc, $(cat "$tmp/none.err")"

# Port 1 on loopback: nothing listens there, so every attempt is refused.
timeout 60 "$ctl" batch examples/company_B.csv -o "$tmp/down.csv" --url "http://127.0.0.1:1" --quiet 2>/dev/null
rc=$?
[[ $rc == 2 && $(statuses "$tmp/down.csv" | grep -c error) == 19 ]] \
  && ok "server down: exit 2 (could not run), 19 rows written with the error" \
  || fail "server down: exit $rc, $(statuses "$tmp/down.csv" 2>/dev/null | grep -c error) error rows"
# Fewer rows than the engine's trip count: still exit 2, not 1.
head -n 3 examples/company_B.csv >"$tmp/three.csv"
timeout 60 "$ctl" batch "$tmp/three.csv" -o "$tmp/down3.csv" --url "http://127.0.0.1:1" --quiet 2>"$tmp/down3.err"
rc=$?
[[ $rc == 2 && $(statuses "$tmp/down3.csv" | grep -c error) == 2 ]] && grep -q "could not be reached" "$tmp/down3.err" \
  && ok "server down, two rows: exit 2" || fail "server down, two rows: exit $rc, $(cat "$tmp/down3.err")"
timeout 60 "$ctl" replay examples/company_A.json --url "http://127.0.0.1:1" >/dev/null 2>&1
rc=$?
[[ $rc == 2 ]] && ok "replay, server down: exit 2" || fail "replay, server down: exit $rc"

# --- 4b. the output is the input (finding 7): refused, the input intact ------
cp examples/company_B.csv "$tmp/self.csv"
ln "$tmp/self.csv" "$tmp/self-hard.csv"
ln -s "$tmp/self.csv" "$tmp/self-sym.csv"
sum=$(cksum <examples/company_B.csv)
for o in "$tmp/self.csv" "$tmp/./self.csv" "$tmp/self-hard.csv" "$tmp/self-sym.csv"; do
  timeout 30 "$ctl" batch "$tmp/self.csv" -o "$o" --url "$url" --quiet 2>"$tmp/self.err"
  rc=$?
  [[ $rc == 2 && $(cksum <"$tmp/self.csv") == "$sum" ]] && grep -q "is the input file" "$tmp/self.err" \
    && ok "batch IN -o ${o#"$tmp"/}: refused, input intact" \
    || fail "batch IN -o ${o#"$tmp"/}: exit $rc, $(cat "$tmp/self.err"), input $(cksum <"$tmp/self.csv")"
done
timeout 30 "$ctl" batch - -o "$tmp/self.csv" --url "$url" --quiet <"$tmp/self.csv" 2>/dev/null
rc=$?
[[ $rc == 2 && $(cksum <"$tmp/self.csv") == "$sum" ]] && ok "batch - <IN -o IN: refused" \
  || fail "batch - <IN -o IN: exit $rc"
ls "$tmp"/self*.tmp-* >/dev/null 2>&1 && fail "a temporary output file was left behind"

# --- 5. replay ---------------------------------------------------------------
timeout 60 "$ctl" replay examples/company_A.json --url "$url" >"$tmp/replay.out" 2>"$tmp/replay.err"
rc=$?
n=$(jq -e 'select(.["best-three-offers"] | type == "array" and length == 3) | .customer_id' \
  "$tmp/replay.out" | wc -l)
[[ $rc == 0 && $(wc -l <"$tmp/replay.out") == 6 && $n == 6 ]] && ok "replay: 6 answers" \
  || fail "replay: exit $rc, $(wc -l <"$tmp/replay.out") lines, $n with three offers"
[[ $(jq -r .customer_id "$tmp/replay.out" | tr '\n' ' ') == \
   "$(jq -r '.[].customer_id' examples/company_A.json | tr '\n' ' ')" ]] \
  && ok "replay: answers in file order" || fail "replay order: $(jq -r .customer_id "$tmp/replay.out" | tr '\n' ' ')"
timeout 60 "$ctl" replay examples/company_A.json --url "$url/" --v2 >"$tmp/replay2.out" 2>/dev/null
rc=$?
n=$(jq -e 'select(.["best-three-offers"] | type == "object" and length == 3) | .customer_id' \
  "$tmp/replay2.out" | wc -l)
[[ $rc == 0 && $n == 6 ]] && ok "replay --v2: 6 answers with product names" \
  || fail "replay --v2: exit $rc, $n answers with an offer object"
echo '[{"customer_id": "x", "timestamp": "2022-01-01", "states": {"age": 30}, "offers": {"OFFER_1": false}}]' \
  >"$tmp/bad.json"
timeout 30 "$ctl" replay "$tmp/bad.json" --url "$url" >"$tmp/bad.out" 2>/dev/null
rc=$?
[[ $rc == 1 ]] && jq -e '.status == 422 and (.error | type == "object")' "$tmp/bad.out" >/dev/null \
  && ok "replay: a 422 is printed as {status, error} and exits 1" \
  || fail "replay of a bad request: exit $rc, $(cat "$tmp/bad.out")"

# --- 6. POST /batch: every row accounted for ----------------------------------
{
  echo 'customer_id;age;region;Offer_1;Offer_2;Offer_3'
  awk 'BEGIN { for (i = 1; i <= 30000; i++) printf "h%d;30;Asia;1;1;1\n", i }'
  printf 'h30001;30;"%s";1;1;1\n' "$(head -c 102400 /dev/zero | tr '\0' y)"
  echo 'h30002;40;Europa;1;0;1'
  echo 'h30003;50;Asia;0;1;1'
} >"$tmp/long.csv"
before=$(episodes)
code=$(curl -s -o "$tmp/long.out" -D "$tmp/long.hdr" -w '%{http_code}' --max-time 120 \
  -H 'Content-Type: text/csv' --data-binary @"$tmp/long.csv" "$url/batch")
after=$(episodes)
nok=$(grep -c ',ok,' "$tmp/long.out")
[[ $code == 200 ]] && ok "a 100 KB field: 200" || fail "a 100 KB field: HTTP $code, $(head -c 300 "$tmp/long.out")"
[[ $(tail -n +2 "$tmp/long.out" | wc -l) == 30003 ]] && ok "a 100 KB field: 30,003 result rows" \
  || fail "a 100 KB field: $(tail -n +2 "$tmp/long.out" | wc -l) result rows, expected 30003"
[[ $(tr -d '\r' <"$tmp/long.out" | sed -n 30002p) == 'h30001,,,,,error,region is longer than 1024 bytes' ]] \
  && ok "a 100 KB field: its row is the error, naming the field" \
  || fail "a 100 KB field: row 30001 is '$(tr -d '\r' <"$tmp/long.out" | sed -n 30002p | head -c 200)'"
[[ $nok == 30002 ]] && ok "a 100 KB field: the other 30,002 rows ok" || fail "a 100 KB field: $nok ok rows"
[[ $((after - before)) == "$nok" ]] && ok "a 100 KB field: the episodes added are exactly the ok rows" \
  || fail "a 100 KB field: episodes went from $before to $after with $nok ok rows"
grep -qi "^X-Batch-Rows-Ok: $nok" "$tmp/long.hdr" && grep -qi '^X-Batch-Rows-Failed: 1' "$tmp/long.hdr" \
  && ok "a 100 KB field: X-Batch-Rows-Ok/Failed" || fail "a 100 KB field: headers $(grep -i x-batch "$tmp/long.hdr" | tr -d '\r' | tr '\n' ' ')"

# A second offerd on the same database with a 1 MiB /batch limit; a chunked
# body declares no length, so the limit is found after many rows were read.
"$build/offerd" --port 0 --host 127.0.0.1 --database-url "$db" --auth off \
  --access-log off --batch-body-max-mb 1 >"$tmp/small.log" 2>&1 &
pid2=$!
url2=$(listen_url "$tmp/small.log" "$pid2")
head -n 30001 "$tmp/long.csv" >"$tmp/two.csv"
head -n 30001 "$tmp/long.csv" | tail -n +2 >>"$tmp/two.csv"   # about 1.1 MB
before=$(episodes)
code=$(curl -s -o "$tmp/two.out" -w '%{http_code}' --max-time 60 -H 'Content-Type: text/csv' \
  -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/two.csv" "$url2/batch")
after=$(episodes)
[[ -n $url2 && $code == 413 && $after == "$before" ]] \
  && ok "a chunked body over the limit: 413 and no episode recorded" \
  || fail "a chunked body over the limit: HTTP $code, episodes went from $before to $after"
kill "$pid2" 2>/dev/null
wait "$pid2" 2>/dev/null

kill -0 "$pid" 2>/dev/null || fail "offerd died; its log: $(tail -n 20 "$tmp/offerd.log")"
if ((fails > 0)); then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all batch checks passed"
