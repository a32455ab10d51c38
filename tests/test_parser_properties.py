"""Properties of the HTTP/1.1 request parser that must hold for any input
(hypothesis): the same bytes fed whole or cut at any points give the same
requests or the same refusal; nothing but HttpParseError escapes; what is
accepted obeys the grammar it was accepted under; valid requests built from
parts come back as those parts; time is linear in the input.

The memory side of "no read past the buffer" is checked by running this file
under AddressSanitizer (scripts/sanitize.sh) and by the fuzzer (fuzz/)."""
import time

import pytest

from cyreactor._httpparser import DEFAULT_LIMITS, HttpParseError, RequestParser

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STATUSES = {400, 413, 414, 417, 431, 501, 505}
TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SMALL = {"max_request_line": 40, "max_head_size": 160, "max_headers": 4, "max_body_size": 32}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data, cuts=(), **limits):
    """(requests, (status, reason) or None) after feeding ``data`` cut at
    ``cuts``; the requests completed before a refusal are included."""
    p = RequestParser(**limits)
    done, last = [], 0
    try:
        for cut in list(cuts) + [len(data)]:
            done += p.feed(data[last:cut])
            last = cut
    except HttpParseError as exc:
        assert exc.status in STATUSES
        return done + exc.requests, (exc.status, exc.reason)
    return done, None


# ---- generators -------------------------------------------------------------

token = st.text(alphabet=TCHAR.decode(), min_size=1, max_size=12).map(str.encode)
field_value = st.binary(max_size=24).map(lambda b: bytes(c for c in b if c in b"\t " or 0x21 <= c != 0x7F)).map(
    lambda b: b.strip(b" \t"))
path = st.text(alphabet="abcxyz0189/-._~%?=&", max_size=20).map(lambda s: ("/" + s).encode())
headers = st.lists(st.tuples(token, field_value), max_size=6).map(
    lambda hs: [(n, v) for n, v in hs if n.lower() not in
                (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect")])


@st.composite
def valid_request(draw):
    """(wire bytes, expected (method, target, version, headers, body))."""
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"]) | token)
    assume(method != b"CONNECT")
    target = draw(path)
    hs = [(b"Host", b"example.com")] + draw(headers)
    body = draw(st.binary(max_size=64))
    chunked = draw(st.booleans())
    if chunked:
        hs.append((b"Transfer-Encoding", b"chunked"))
        pieces, rest = [], body
        while rest:
            n = draw(st.integers(1, len(rest)))
            ext = draw(st.sampled_from([b"", b";a=b", b";x"]))
            pieces.append(b"%x%s\r\n%s\r\n" % (n, ext, rest[:n]))
            rest = rest[n:]
        wire_body = b"".join(pieces) + b"0\r\n" + draw(st.sampled_from([b"", b"T: v\r\n"])) + b"\r\n"
    else:
        if body or draw(st.booleans()):
            hs.append((b"Content-Length", b"%d" % len(body)))
        else:
            body = b""
        wire_body = body
    head = b"%s %s HTTP/1.1\r\n" % (method, target) + b"".join(b"%s: %s\r\n" % h for h in hs) + b"\r\n"
    return head + wire_body, (method, target, b"1.1", hs, body)


def mutate(data, edits):
    b = bytearray(data)
    for kind, pos, byte in edits:
        if not b:
            b.append(byte)
            continue
        pos %= len(b)
        if kind == 0:
            b[pos] = byte
        elif kind == 1:
            b.insert(pos, byte)
        else:
            del b[pos]
    return bytes(b)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 16),
                           st.sampled_from(b"\r\n \t:;,\x00\x7f\xff0aZ/")), max_size=4)
# Streams of several requests, some of them mutated: mostly near-valid input,
# which is where framing bugs live.
stream = st.lists(st.tuples(valid_request(), edits), min_size=1, max_size=4).map(
    lambda rs: b"".join(mutate(wire, e) for (wire, _), e in rs))
any_input = stream | st.binary(max_size=400)


def cut_points(data):
    return st.lists(st.integers(0, len(data)), max_size=10).map(sorted)


# ---- properties -------------------------------------------------------------

@SETTINGS
@given(any_input, st.data(), st.booleans())
def test_any_split_gives_the_same_result(data, draw, small):
    limits = SMALL if small else {}
    cuts = draw.draw(cut_points(data))
    assert outcome(data, cuts, **limits) == outcome(data, **limits)


@SETTINGS
@given(any_input)
def test_byte_at_a_time_gives_the_same_result(data):
    assert outcome(data, range(1, len(data))) == outcome(data)


@SETTINGS
@given(any_input, st.booleans())
def test_accepted_requests_obey_the_grammar(data, small):
    limits = SMALL if small else {}
    requests, _ = outcome(data, **limits)
    for r in requests:
        method, target, version, hs, body = r
        assert method and set(method) <= set(TCHAR)
        assert target and all(0x21 <= c <= 0x7E for c in target)
        assert version in (b"1.0", b"1.1")
        assert len(hs) <= limits.get("max_headers", 100)
        for name, value in hs:
            assert name and set(name) <= set(TCHAR)
            assert not set(value) & {0, 0x0A, 0x0D} and value == value.strip(b" \t")
        assert len(body) <= limits.get("max_body_size", DEFAULT_LIMITS["max_body_size"])
        assert r.keep_alive or r is requests[-1]     # nothing is parsed after a close


@SETTINGS
@given(st.lists(valid_request(), min_size=1, max_size=4), st.data())
def test_valid_requests_round_trip(reqs, draw):
    data = b"".join(wire for wire, _ in reqs)
    cuts = draw.draw(cut_points(data))
    got, err = outcome(data, cuts)
    assert err is None
    assert [tuple(r) for r in got] == [expected for _, expected in reqs]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([b"GET /", b"GET / HTTP/1.1\r\nHost: h\r\nX: ", b"\r\n",
                        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"]),
       st.sampled_from([b"a", b"\t", b"1\r\na\r\n", b"1;" + b"e" * 50 + b"\r\na\r\n", b"0" * 7]),
       st.integers(1, 4000))
def test_time_is_linear_in_the_input(prefix, unit, count):
    # A quadratic path would show as a big input taking far longer than a
    # byte-at-a-time feed of a small one; the bound is generous on purpose.
    data = prefix + unit * count
    start = time.perf_counter()
    outcome(data, range(1, len(data), 7))
    assert time.perf_counter() - start < 0.5 + len(data) * 2e-5


def test_buffered_head_is_bounded_by_the_head_limit():
    p = RequestParser(max_head_size=1000, max_request_line=900)
    with pytest.raises(HttpParseError) as info:
        p.feed(b"GET / HTTP/1.1\r\n")
        for _ in range(2000):
            p.feed(b"X: y\r\n")
            assert p.buffered <= 1001
    assert info.value.status == 431


# ---- the server answers what the parser parses ------------------------------

@pytest.fixture(scope="module")
def demo_port():
    from support.reactor import ReactorThread

    import cyreactor
    from cyreactor.http import HttpServer

    reactor = cyreactor.Reactor()
    rt = ReactorThread(reactor).start()
    server = HttpServer(None, linger_timeout=0.5)
    port = rt.call(server.listen, reactor, "127.0.0.1", 0).sockname[1]
    yield port
    rt.stop()
    reactor.close()


def server_statuses(port, data, pieces, heads):
    """Sends ``data`` in ``pieces`` (sizes), half-closes, and returns the
    statuses of every response read until the server closes; ``heads`` says
    which responses answer HEAD."""
    import socket

    from support.http import Reader

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = Reader(sock)
    statuses = []
    with sock:
        off = 0
        try:
            for n in pieces + [len(data)]:
                if off < len(data):
                    sock.sendall(data[off:off + n])
                    off += n
            sock.shutdown(socket.SHUT_WR)
        except OSError:                  # the server refused and closed early
            pass
        try:
            while True:
                # Answers to HEAD carry no body; which ones are, the caller knows.
                head = heads.pop(0) if heads else False
                statuses.append(reader.response(head_request=head)[0])
        except (EOFError, ConnectionResetError):
            pass
    return statuses


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(stream, st.lists(st.integers(1, 64), max_size=8))
def test_server_answers_what_the_parser_parses(demo_port, data, pieces):
    # The server (stash, pause/resume, pipelining, refusals) must answer
    # exactly the requests the parser finds in the same bytes, whatever the
    # read boundaries: one 200 each (after a 100 where one is expected), the
    # refusal's status, and then nothing.
    requests, error = outcome(data)
    expected = []
    for r in requests:
        if r.expect_continue:
            expected.append(100)
        expected.append(200)
    heads = [r.method == b"HEAD" for r in requests for _ in range(2 if r.expect_continue else 1)]
    if error:
        expected.append(error[0])
    got = server_statuses(demo_port, data, pieces, heads)
    closed = requests and not requests[-1].keep_alive
    if not error and not closed and got == expected + [400]:
        got = got[:-1]                   # EOF inside a request: "incomplete request"
    assert got == expected, (data, requests, error)
