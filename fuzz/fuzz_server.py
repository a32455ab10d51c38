"""Coverage-guided fuzzing of the HTTP server (parser + protocol + reactor)
with atheris, over a Unix socket, in one thread.

Each input is what one client sends on one connection. The harness connects
to an in-process server (the demo handler, a Python app, a RequestHandler
that answers on the next loop iteration, or an app whose 128 KiB responses
overflow the socket buffers, chosen from the input's hash), sends the input
in pieces (cut points from the hash too), turning the reactor
(``run_once(0)``) between pieces and, for half of the inputs, reading what
comes back as it comes (the other half read only when the client cannot
send: backpressure, stash, pause and resume), then half-closes and turns the
reactor until the server has closed. It fails on:

- a crash or sanitizer report anywhere in the extensions;
- an error reported to the reactor's exception handler;
- a connection the server still holds after the client is gone;
- responses that are not exactly what the parser predicts for the same
  bytes: one 200 per request (a 100 first where the request expects it),
  the refusal's status after the last one, and nothing after a close
  (a 400 for input cut off mid-request is allowed at the end).

Run: ``FUZZ_TARGET=server fuzz/run.sh SECONDS`` (instrumented build, see
fuzz/build.sh). One input by hand: ``python fuzz/fuzz_server.py FILE``.
"""
import os
import socket
import sys
import tempfile
import zlib

import atheris

with atheris.instrument_imports(include=["cyreactor"]):
    import cyreactor
    from cyreactor._httpparser import HttpParseError, RequestParser
    from cyreactor.http import HttpServer, RequestHandler, Response


class Streamer(RequestHandler):
    """Answers on the next loop iteration, so pipelined input waits behind
    the response (the protocol stashes it and pauses reading)."""

    def on_body(self, chunk):
        self.body += chunk

    def on_complete(self):
        REACTOR.call_soon(self.answer)

    def answer(self):
        # Chunked to 1.1 clients; with a length, so 1.0 keep-alive holds too.
        n = len(self.body) % 7000
        length = n + 3 if self.request.version == "1.0" else None
        self.response.start(200, [("x-len", str(len(self.body)))], content_length=length)
        self.response.write(b"a" * n)
        self.response.end(b"end")


def app(request):
    return Response(200, [("x-target", request.target)], request.body[:100] + b"!")


BIG = b"b" * (128 * 1024)


def big_app(request):
    # Bigger than the socket buffers: a client that does not read makes the
    # server pause writing, stash its input and pause reading.
    return Response(200, [], BIG)


ERRORS = []
REACTOR = cyreactor.Reactor()
REACTOR.set_exception_handler(lambda reactor, context: ERRORS.append(context))
TMP = tempfile.mkdtemp(prefix="cyreactor-fuzz-")
PATHS = []
for i, handler in enumerate([None, app, Streamer, big_app]):
    server = HttpServer(handler, linger_timeout=0.05, max_body_size=1 << 20)
    path = os.path.join(TMP, f"s{i}")
    REACTOR.listen_unix(path, server.core)
    PATHS.append(path)


def expected(data):
    p = RequestParser(max_body_size=1 << 20)
    try:
        requests, error = p.feed(data), None
    except HttpParseError as exc:
        requests, error = exc.requests, exc.status
    statuses = []
    for r in requests:
        if r.expect_continue:
            statuses.append(100)
        statuses.append(200)
    if error:
        statuses.append(error)
    closed = bool(requests) and not requests[-1].keep_alive
    heads = [r.method == b"HEAD" for r in requests for _ in range(2 if r.expect_continue else 1)]
    return statuses, heads, error is None and not closed


def responses(raw, heads):
    """Statuses of the complete responses in ``raw``."""
    out = []
    while raw:
        end = raw.find(b"\r\n\r\n")
        assert end >= 0, raw[:200]
        head = raw[:end].split(b"\r\n")
        raw = raw[end + 4:]
        status = int(head[0].split(b" ", 2)[1])
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        is_head = heads.pop(0) if heads else False
        if status in (100, 204, 304) or is_head:
            pass
        elif b"content-length" in fields:
            n = int(fields[b"content-length"])
            assert len(raw) >= n, (len(raw), n)
            raw = raw[n:]
        elif fields.get(b"transfer-encoding") == b"chunked":
            while True:
                line, _, raw = raw.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    _, _, raw = raw.partition(b"\r\n")
                    break
                raw = raw[size + 2:]
        else:
            raw = b""
        out.append(status)
    return out


def pump(client, received, rounds=3):
    for _ in range(rounds):
        REACTOR.run_once(0)
        try:
            while True:
                chunk = client.recv(1 << 16)
                if not chunk:
                    return True
                received.append(chunk)
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return True
    return False


def test_one_input(data):
    h = zlib.crc32(data)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(PATHS[h % len(PATHS)])
    client.setblocking(False)
    received = []
    eof = False
    off = 0
    step = 1 + (h >> 4) % 61
    lazy = (h >> 12) & 1          # read only when stuck: the server must hold back
    stuck = 0
    while off < len(data) and not eof:
        try:
            off += client.send(data[off:off + step])
            stuck = 0
        except BlockingIOError:
            stuck += 1
        except (BrokenPipeError, ConnectionResetError):
            break
        if lazy and stuck < 3:
            REACTOR.run_once(0)
        else:
            eof = pump(client, received, 1)
    if not eof:
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        for _ in range(200):
            if pump(client, received):
                break
        else:
            raise AssertionError("the server did not close after the client's EOF")
    client.close()
    for _ in range(200):
        if REACTOR.stats()["open"] == 0:
            break
        REACTOR.run_once(0.001)
    assert REACTOR.stats()["open"] == 0, "a connection outlived its client"
    assert not ERRORS, ERRORS
    want, heads, may_be_incomplete = expected(data[:off])
    got = responses(b"".join(received), heads)
    if may_be_incomplete and got[-1:] == [400] and len(got) > len(want):
        got = got[:-1]                   # EOF inside a request: 400
    if len(got) > len(want) and got[-1:] == [100]:
        got = got[:-1]                   # that request's head asked for 100-continue
    elif len(got) >= 2 and got[-2] == 100 and got[-1] >= 400 and len(got) > len(want):
        del got[-2]                      # so did the head of the request refused later
    assert got == want, (got, want)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
