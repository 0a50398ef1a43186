#!/usr/bin/env bash
# The upload page (share/index.html, served at /) must not call the API key
# optional (issue 15, finding 16): with auth on, the default, an upload
# without one is a 401. The page offerd serves says the key is required
# (label and aria-required) and names the one exception, --auth off; and
# the server agrees: POST /batch without a key is 401.
# Bounded to 30 s.
source "$(dirname "$0")/lib.sh"
lib_require curl
lib_deadline 30

sqlite_new_db page db
offerd_start page "$db"
u=${OFFERD_URL[page]}
http GET "$u/"
expect_status 200 "GET / serves the upload page"
label=$(grep -o '<label for="api-key">[^<]*<span[^>]*>[^<]*</span>' <<<"$HTTP_BODY")
[[ -n $label ]] || fail "no label for the api-key field on the page"
[[ $label != *optional* ]] && ok "the key's label does not say optional ($label)" ||
  fail "the key's label says optional: $label"
[[ $label == *required* ]] && ok "the key's label says required" || fail "the key's label: $label"
grep -q '<input[^>]*id="api-key"[^>]*aria-required="true"' <<<"$(tr '\n' ' ' <<<"$HTTP_BODY")" &&
  ok "the key's input is aria-required" || fail "the key's input is not aria-required"
grep -q 'Needed unless offerd runs with <code>--auth off</code>' <<<"$HTTP_BODY" &&
  ok "the hint names the exception (--auth off)" || fail "the hint does not name --auth off"
http POST "$u/batch" -H 'Content-Type: text/csv' --data-binary $'customer_id;age\n1;30\n'
expect_status 401 "and the server agrees: /batch without a key"
offerd_stop page
lib_done
