#!/usr/bin/env bash
# Request framing (issue 15, finding 8): behind a proxy, a request whose body
# length two parties could read differently is a smuggling risk, and
# libmicrohttpd 0.9.75 lets several through. RFC 9112 6.3 says: reject and
# close. Raw requests over a socket (python3) to a real offerd (SQLite, auth
# off); for each, the answer is the expected status with a JSON body
# {"status", "error", "field", "message"}, "Connection: close", the
# connection is closed at once (no 30 s wait), and a second request
# pipelined behind it is never answered:
#   two different Content-Length fields; Transfer-Encoding with
#   Content-Length; "gzip, chunked" (501: no coding but chunked is decoded);
#   "chunked, gzip" and chunked twice (400: no reliable length);
#   Transfer-Encoding in HTTP/1.0; a NUL, a control byte or a space in the
#   request target; a space before a header's colon; a bad second
#   Content-Length; two Host headers, none in HTTP/1.1, or one that is not
#   host[:port] (RFC 9112 3.2).
# What still works: a repeated identical Content-Length, a chunked body, a
# pipelined pair of good requests, %00 in a path (a 404, not /is-alive), the
# absolute-form (RFC 9112 3.2.2), HTTP/1.0 without Host, an IPv6 Host.
# Content-Length: -1, "5, 5" and a Content-Length above 2^64, which
# libmicrohttpd rejects before offerd sees the head (with its status line
# sent twice), get one JSON answer too (400, 413) and a close.
# Bounded to 60 s.
source "$(dirname "$0")/lib.sh"
lib_require python3
lib_deadline 60

sqlite_new_db framing db
offerd_start main "$db" --auth off
port=${OFFERD_URL[main]##*:}

python3 - "$port" "$(dirname "$0")" >"$LIB_TMP/framing.out" 2>&1 <<'PY'
import json, socket, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in tests/
sys.path.insert(0, sys.argv[2])
from raw_http import check, parse_head
import raw_http

port = int(sys.argv[1])

def exchange(raw, wait=5.0):
    return raw_http.exchange(port, raw, wait)

def parse(out):
    """The first response: status, headers (lower-case names), body; and the rest."""
    status, hdrs, rest = parse_head(out)
    n = int(hdrs.get("content-length", "0"))
    return status, hdrs, rest[:n], rest[n:]

SMUGGLED = b"GET /is-alive HTTP/1.1\r\nHost: x\r\n\r\n"
POST = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

rejects = [
    ("two different Content-Length", 400, "Content-Length",
     POST + b"Content-Length: 5\r\nContent-Length: 0\r\n\r\n" + SMUGGLED),
    ("a bad second Content-Length", 400, "Content-Length",
     POST + b"Content-Length: 0\r\nContent-Length: -1\r\n\r\n" + SMUGGLED),
    ("Transfer-Encoding: chunked with Content-Length", 400, "Transfer-Encoding",
     POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("Transfer-Encoding: gzip, chunked", 501, "Transfer-Encoding",
     POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("Transfer-Encoding: chunked, gzip", 400, "Transfer-Encoding",
     POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("Transfer-Encoding: chunked twice", 400, "Transfer-Encoding",
     POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("Transfer-Encoding in HTTP/1.0", 400, "Transfer-Encoding",
     b"POST /predict HTTP/1.0\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("a NUL in the request target", 400, "request-target",
     b"GET /is-alive\x00junk HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED),
    ("a control byte in the request target", 400, "request-target",
     b"GET /is-alive\x01 HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED),
    ("a space in the request target", 400, "request-target",
     b"GET /is-alive /x HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED),
    ("a space before a header's colon", 400, "headers",
     POST + b"Content-Length : 5\r\n\r\n" + SMUGGLED),
    # RFC 9112 3.2: a server MUST answer 400 to each of these three.
    ("two Host headers", 400, "Host",
     b"GET /is-alive HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" + SMUGGLED),
    ("no Host in HTTP/1.1", 400, "Host", b"GET /is-alive HTTP/1.1\r\n\r\n" + SMUGGLED),
    ("a Host that is not host[:port]", 400, "Host",
     b"GET /is-alive HTTP/1.1\r\nHost: a b/c\r\n\r\n" + SMUGGLED),
]
for name, want, field, raw in rejects:
    out, closed, secs = exchange(raw)
    status, hdrs, body, rest = parse(out)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(f"{name}: {want}", status == want, f"got {status}: {out[:300]!r}")
    check(f"{name}: JSON error naming {field}",
          hdrs.get("content-type") == "application/json" and j.get("status") == want
          and j.get("field") == field and len(j.get("message", "")) > 0, f"{body[:200]!r}")
    check(f"{name}: Connection: close, closed within 2 s", hdrs.get("connection") == "close"
          and closed and secs < 2, f"closed={closed} after {secs:.1f} s")
    check(f"{name}: nothing more is answered (no smuggled request)", rest == b"" and
          out.count(b"HTTP/1.1 ") == 1, f"after the answer: {rest[:200]!r}")

# What must still work.
out, closed, _ = exchange(b"GET /is-alive HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 1.0)
check("a repeated identical Content-Length is accepted", parse(out)[0] == 200, repr(out[:200]))
body = b'{"customer_id":"1","timestamp":"2022-01-01","states":{"age":30},"offers":{"OFFER_1":true}}'
chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
out, closed, _ = exchange(POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked, 1.0)
check("a chunked body is read", parse(out)[0] == 200, repr(out[:300]))
out, closed, _ = exchange(SMUGGLED + SMUGGLED, 1.0)
check("two pipelined good requests get two answers", out.count(b"HTTP/1.1 200 ") == 2, repr(out[:300]))
out, closed, _ = exchange(b"GET /is-alive%00 HTTP/1.1\r\nHost: x\r\n\r\n", 1.0)
check("%00 in a path is not /is-alive", parse(out)[0] == 404, repr(out[:200]))
# RFC 9112 3.2.2: a server MUST accept the absolute-form; HTTP/1.0 needs no Host.
out, closed, _ = exchange(b"GET http://x:8000/is-alive HTTP/1.1\r\nHost: x:8000\r\n\r\n", 1.0)
check("the absolute-form http://x:8000/is-alive is /is-alive", parse(out)[0] == 200, repr(out[:200]))
out, closed, _ = exchange(b"GET /is-alive HTTP/1.0\r\n\r\n", 1.0)
check("HTTP/1.0 without Host is answered", parse(out)[0] == 200, repr(out[:200]))
out, closed, _ = exchange(b"GET /is-alive HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", 1.0)
check("an IPv6 literal Host is a host", parse(out)[0] == 200, repr(out[:200]))

# Rejected by libmicrohttpd before offerd sees the head; offerd answers in its
# place (mhd_log in src/http.c): one JSON answer, not libmicrohttpd's HTML
# with its status line and headers sent twice.
for name, want, raw in [
    ("Content-Length: -1", 400, POST + b"Content-Length: -1\r\n\r\n" + SMUGGLED),
    ("Content-Length: 5, 5", 400, POST + b"Content-Length: 5, 5\r\n\r\nhello" + SMUGGLED),
    ("a Content-Length above 2^64", 413, POST + b"Content-Length: 99999999999999999999999\r\n\r\n" + SMUGGLED),
]:
    out, closed, secs = exchange(raw)
    status, hdrs, body, rest = parse(out)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(f"{name}: one JSON {want}, X-Request-Id, closed at once",
          status == want and j.get("status") == want and len(hdrs.get("x-request-id", "")) > 0
          and closed and secs < 2, repr(out[:300]))
    check(f"{name}: one status line, nothing after the answer",
          out.count(b"HTTP/1.1 ") == 1 and rest == b"", repr(out[:400]))
PY
lib_relay "$LIB_TMP/framing.out"
[[ $LIB_CHECKS -ge 40 ]] || fail "the python part ran only $LIB_CHECKS checks"
http GET "${OFFERD_URL[main]}/is-alive"
expect_status 200 "offerd still serves"
offerd_stop main
lib_done
