#!/usr/bin/env bash
# The RFM segments offerd holds in memory follow TB_SEGMENTS without a
# restart, on SQLite and on PostgreSQL (offerd --refresh 0.2, auth off):
#  1. Two customers get segments Q1 and Q2 as offerctl train writes them
#     (the company's rows deleted and written again in one transaction):
#     within 3 s /predict's state of each starts with its segment.
#  2. Trained again with the same number of rows, seg-1 now Q3: within 3 s
#     its state starts with Q3_. (offerd used to reload only when the
#     table's row count changed, so a retrain of the same customers was
#     never seen until a restart.)
#  3. seg-2 is erased (DELETE /customers/seg-2): its segment leaves the
#     table and, within 3 s, offerd's memory (the state no longer starts
#     with Q2_), though the table's newest write did not move.
# Bounded to 120 s.
source "$(dirname "$0")/lib.sh"
lib_require curl jq psql
lib_deadline 120

body() { # CUSTOMER: Company A's request for a fixed date
  printf '{"customer_id": "%s", "timestamp": "2022-03-07", "states": {"age": 40, "gender": "F", "region": "Americas"}, "offers": {"OFFER_1": true, "OFFER_2": true, "OFFER_3": true, "OFFER_4": true}}' "$1"
}

# state_of URL CUSTOMER: prints /predict's state for the customer.
state_of() {
  http POST "$1/predict" -H 'Content-Type: application/json' --data "$(body "$2")"
  [[ $HTTP_STATUS == 200 ]] || { echo "HTTP $HTTP_STATUS"; return; }
  jq -r '.state // "none"' <<<"$HTTP_BODY"
}

# wait_state URL CUSTOMER PATTERN: 0 once the state matches PATTERN (glob) within 3 s;
# STATE is the last one seen ("HTTP <status>" when /predict did not answer 200).
wait_state() {
  local i
  for ((i = 0; i < 30; i++)); do
    STATE=$(state_of "$1" "$2")
    # shellcheck disable=SC2053
    [[ $STATE == $3 ]] && return 0
    sleep 0.1
  done
  return 1
}

# train DB SEG1 SEG2: company A's segments rewritten in one transaction, as offerctl train does.
train() {
  sql "$1" "BEGIN; DELETE FROM tb_segments WHERE company = 'A';
    INSERT INTO tb_segments (company, customer_id, segment) VALUES ('A', 'seg-1', '$2'), ('A', 'seg-2', '$3');
    COMMIT;" >/dev/null || fail "cannot write the segments of $1"
}

check_store() {
  local tag=$1 db=$2 u
  offerd_start "$tag" "$db" --auth off --refresh 0.2
  u=${OFFERD_URL[$tag]}
  train "$db" Q1 Q2
  wait_state "$u" seg-1 'Q1_March_0_Monday' && ok "[$tag] seg-1's state starts with its segment Q1: $STATE" ||
    fail "[$tag] seg-1's state should start with Q1_ within 3 s, is $STATE"
  wait_state "$u" seg-2 'Q2_March_0_Monday' && ok "[$tag] seg-2's state starts with Q2: $STATE" ||
    fail "[$tag] seg-2's state should start with Q2_ within 3 s, is $STATE"

  train "$db" Q3 Q2
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_segments")" 2 "[$tag] the retrain kept the number of rows"
  wait_state "$u" seg-1 'Q3_March_0_Monday' && ok "[$tag] after a retrain with as many rows, seg-1's state starts with Q3: $STATE" ||
    fail "[$tag] after the retrain seg-1's state should start with Q3_ within 3 s, is $STATE"

  http DELETE "$u/customers/seg-2"
  expect_status 200 "[$tag] DELETE /customers/seg-2"
  expect_eq "$(sql "$db" "SELECT COUNT(*) FROM tb_segments WHERE customer_id = 'seg-2'")" 0 \
    "[$tag] seg-2's segment left the table"
  wait_state "$u" seg-2 '[!Q]*_March_0_Monday' && ok "[$tag] after the erasure seg-2's state no longer starts with Q2: $STATE" ||
    fail "[$tag] after the erasure seg-2's state should not start with Q2_ within 3 s, is $STATE"
  wait_state "$u" seg-1 'Q3_March_0_Monday' || fail "[$tag] seg-1 should keep Q3 after seg-2's erasure, is $STATE"
  offerd_stop "$tag"
}

sqlite_new_db segments sdb
check_store sqlite "$sdb"
pg_setup
pg_new_db segments pdb
check_store pg "$pdb"
lib_done
