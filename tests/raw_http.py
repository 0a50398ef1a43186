"""Raw HTTP/1.1 over a socket, shared by tests/http-framing.test.sh and
tests/http-limits.test.sh (imported; not a test itself), and check(), which
prints a result in the lines lib.sh's lib_relay counts."""
import socket
import time


def exchange(port, raw, wait=5.0):
    """Sends raw to 127.0.0.1:port, reads until the server closes or wait
    seconds pass; returns (bytes read, whether the server closed, seconds)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    t0 = time.monotonic()
    out, closed = b"", False
    try:
        s.sendall(raw)
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            out += d
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    s.close()
    return out, closed, time.monotonic() - t0


def parse_head(out):
    """The first response's status, headers (lower-case names) and everything after the head."""
    head, _, rest = out.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else 0
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest


def check(name, ok, detail=""):
    """One check: "ok: NAME", or "FAIL: NAME  DETAIL"."""
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else "  " + detail), flush=True)
