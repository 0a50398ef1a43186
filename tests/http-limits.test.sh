#!/usr/bin/env bash
# Errors about the size and form of a request (issue 15, finding 10), with
# Python's urllib and raw sockets against a real offerd (SQLite, auth off,
# --body-max 4096, --header-limit 8192):
#  1. urllib POSTs bodies over the limit (20 KB, 2 MB): urllib sends the whole
#     body before it reads, and must get the 413 (JSON, X-Request-Id), not a
#     broken pipe or a reset: offerd reads and drops such a body (up to 8 MiB
#     over the limit) before answering. A chunked body over the limit too.
#     With "Expect: 100-continue" the 413 comes at once, without 100 Continue.
#  2. A request target over 8192 bytes is offerd's JSON 414, a head over
#     --header-limit its JSON 431, both with X-Request-Id and a close.
#  3. What libmicrohttpd rejects before offerd sees the head: a head beyond
#     its memory (431), Content-Length: abc (400), a header line without a
#     colon (400) get offerd's JSON in its place; a request line beyond its
#     memory (414) and an HTTP/2 preface (505) still get its HTML without
#     X-Request-Id (listed in the README's "HTTP behaviour"): checked for the
#     status and the close, and that offerd serves on.
# Bounded to 60 s.
source "$(dirname "$0")/lib.sh"
lib_require python3
lib_deadline 60

sqlite_new_db limits db
offerd_start main "$db" --auth off --body-max 4096 --header-limit 8192
port=${OFFERD_URL[main]##*:}

python3 - "$port" "$(dirname "$0")" >"$LIB_TMP/limits.out" 2>&1 <<'PY'
import json, socket, sys, time, urllib.error, urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in tests/
sys.path.insert(0, sys.argv[2])
import raw_http
from raw_http import check

port = int(sys.argv[1])
base = f"http://127.0.0.1:{port}"

def urllib_post(size, chunked=False):
    body = b'{"customer_id":"' + b"x" * size + b'"}'
    data = body
    if chunked:
        data = iter([body[i:i + 1000] for i in range(0, len(body), 1000)])
    req = urllib.request.Request(base + "/predict", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read(), None
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), None
    except Exception as e:  # a broken pipe, a reset: the finding
        return 0, {}, b"", repr(e)

for size, chunked in [(20000, False), (2000000, False), (200000, True)]:
    what = f"urllib POST of {size} bytes" + (" (chunked)" if chunked else "")
    status, hdrs, body, err = urllib_post(size, chunked)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(f"{what}: 413", status == 413, f"status {status}, error {err}")
    check(f"{what}: JSON with X-Request-Id", j.get("status") == 413 and j.get("field") == "body"
          and len(hdrs.get("X-Request-Id", "")) > 0, f"{hdrs} {body[:200]!r}")

def exchange(raw, wait=5.0):
    return raw_http.exchange(port, raw, wait)

parse = raw_http.parse_head

out, closed, secs = exchange(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n", 2.0)
status, hdrs, body = parse(out)
check("Expect: 100-continue over the limit: 413 at once, no 100 Continue",
      status == 413 and b"100 Continue" not in out and secs < 1.5, repr(out[:200]))

for name, want, field, raw in [
    ("a 9000-byte request target", 414, "request-target",
     b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a 10000-byte head (--header-limit 8192)", 431, "headers",
     b"GET /is-alive HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 10000 + b"\r\n\r\n"),
]:
    out, closed, secs = exchange(raw)
    status, hdrs, body = parse(out)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(f"{name}: offerd's JSON {want}", status == want and j.get("status") == want
          and j.get("field") == field and hdrs.get("content-type") == "application/json"
          and len(hdrs.get("x-request-id", "")) > 0, repr(out[:300]))
    check(f"{name}: closed", closed and hdrs.get("connection") == "close", f"closed={closed}")

# Rejected by libmicrohttpd itself; offerd answers in its place when it can
# tell which request it is (one head in progress on the thread, as here).
for name, want, raw in [
    ("a 40000-byte head (over libmicrohttpd's memory)", 431,
     b"GET /is-alive HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40000 + b"\r\n\r\n"),
    ("Content-Length: abc", 400,
     b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("a header line without a colon", 400,
     b"GET /is-alive HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
]:
    out, closed, secs = exchange(raw)
    status, hdrs, body = parse(out)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(f"{name}: JSON {want} with X-Request-Id, closed", status == want and j.get("status") == want
          and len(hdrs.get("x-request-id", "")) > 0 and closed and out.count(b"HTTP/1.1 ") == 1,
          repr(out[:300]))

# Answered by libmicrohttpd before a request line is complete: its HTML.
for name, want, raw in [
    ("a 60000-byte request line (libmicrohttpd's own 414)", 414,
     b"GET /" + b"a" * 60000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("an HTTP/2 preface (libmicrohttpd's own 505)", 505, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
]:
    out, closed, secs = exchange(raw)
    status, hdrs, body = parse(out)
    check(f"{name}: answered and closed", status == want and closed and secs < 2, repr(out[:200]))

out, closed, secs = exchange(b"GET /is-alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check("offerd serves on", parse(out)[0] == 200, repr(out[:200]))
PY
lib_relay "$LIB_TMP/limits.out"
[[ $LIB_CHECKS -ge 15 ]] || fail "the python part ran only $LIB_CHECKS checks"
grep -q "HTTP/2 preface" README.md && grep -q "Content-Length. that is not one decimal number" README.md &&
  ok "the README lists the errors libmicrohttpd writes itself" ||
  fail "the README does not list the errors libmicrohttpd writes itself"
offerd_stop main
lib_done
