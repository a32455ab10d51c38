"""The HTTP/1.1 request parser, through its Python wrapper (what the server
runs, minus the socket): framing, limits and every hostile case."""
import pytest

from cyreactor._httpparser import (
    DEFAULT_LIMITS,
    HttpParseError,
    RequestParser,
    parse_requests,
)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


def req(text):
    return text.replace("\n", "\r\n").encode()


def refused(data, **limits):
    with pytest.raises(HttpParseError) as info:
        parse_requests(data, **limits)
    return info.value.status


GET = req("GET / HTTP/1.1\nHost: x\n\n")


def test_simple_get():
    [r] = parse_requests(req("GET /a/b?c=d HTTP/1.1\nHost: example\nAccept: */*\n\n"))
    method, target, version, headers, body = r
    assert (method, target, version, body) == (b"GET", b"/a/b?c=d", b"1.1", b"")
    assert headers == [(b"Host", b"example"), (b"Accept", b"*/*")]
    assert r.keep_alive and not r.expect_continue and not r.chunked


def test_field_value_ows_trimmed_and_obs_text_kept():
    [r] = parse_requests(req("GET / HTTP/1.1\nHost: x\nX-A: \t v a l \t\nX-B: caf\xe9\n\n").replace(b"\xc3\xa9", b"\xe9"))
    assert r.headers[1] == (b"X-A", b"v a l")
    assert r.headers[2] == (b"X-B", b"caf\xe9")


def test_content_length_body_and_pipelining():
    data = req("POST /p HTTP/1.1\nHost: x\nContent-Length: 5\n\n") + b"hello" + GET * 3
    out = parse_requests(data)
    assert [r.method for r in out] == [b"POST", b"GET", b"GET", b"GET"]
    assert out[0].body == b"hello"


def test_chunked_with_extensions_and_trailers():
    data = req("PUT /u HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n")
    data += b"5;name=value;flag\r\nhello\r\nA \t;x\r\n0123456789\r\n0\r\nTrailer-A: 1\r\nB: two\r\n\r\n"
    [r] = parse_requests(data + GET)[:1]
    assert r.body == b"hello0123456789" and r.chunked
    assert len(parse_requests(data + GET)) == 2


def test_transfer_encoding_case_and_list_forms():
    for te in ("CHUNKED", "chunked , ", " , chunked"):
        data = req(f"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: {te}\n\n") + b"1\r\na\r\n0\r\n\r\n"
        assert parse_requests(data)[0].body == b"a"


def test_byte_at_a_time_equals_whole():
    data = (req("POST /p HTTP/1.1\nHost: x\nContent-Length: 3\n\n") + b"abc"
            + req("POST /q HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n")
            + b"2;e=1\r\nxy\r\n0\r\nT: v\r\n\r\n" + GET)
    p = RequestParser()
    got = []
    for i in range(len(data)):
        got += p.feed(data[i:i + 1])
    assert got == parse_requests(data)
    assert p.buffered == 0


def test_partial_head_is_buffered_then_released():
    p = RequestParser()
    assert p.feed(b"GET / HTTP/1.1\r\nHo") == []
    assert p.buffered == len(b"GET / HTTP/1.1\r\nHo")
    assert len(p.feed(b"st: x\r\n\r\n")) == 1
    p.feed(b"")
    assert p.buffered == 0


def test_leading_empty_lines_ignored():
    assert len(parse_requests(b"\r\n\r\n" + GET)) == 1
    assert refused(b"\r\n" * 9 + GET) == 400


def test_http10_keep_alive_opt_in_and_close_stops_parsing():
    [a, b] = parse_requests(req("GET /1 HTTP/1.0\nConnection: keep-alive\n\nGET /2 HTTP/1.0\n\nGET /3 HTTP/1.0\n\n"))
    assert a.keep_alive and not b.keep_alive
    out = parse_requests(req("GET /1 HTTP/1.1\nHost: x\nConnection: close\n\n") + GET)
    assert len(out) == 1 and not out[0].keep_alive
    [c] = parse_requests(req("GET / HTTP/1.1\nHost: x\nConnection: Keep-Alive, CLOSE\n\n"))
    assert not c.keep_alive


def test_http10_needs_no_host_and_ignores_expect():
    [r] = parse_requests(req("POST / HTTP/1.0\nContent-Length: 1\nExpect: 100-continue\n\n") + b"x")
    assert r.version == b"1.0" and not r.expect_continue


def test_expect_continue():
    [r] = parse_requests(req("POST / HTTP/1.1\nHost: x\nExpect: 100-Continue\nContent-Length: 1\n\n") + b"x")
    assert r.expect_continue
    [r] = parse_requests(req("GET / HTTP/1.1\nHost: x\nExpect: 100-continue\n\n"))
    assert not r.expect_continue       # nothing to wait for
    assert refused(req("GET / HTTP/1.1\nHost: x\nExpect: teapot\n\n")) == 417


def test_target_forms():
    assert parse_requests(req("GET http://h/p?q HTTP/1.1\nHost: h\n\n"))[0].target == b"http://h/p?q"
    assert parse_requests(req("OPTIONS * HTTP/1.1\nHost: h\n\n"))[0].target == b"*"
    assert refused(req("GET * HTTP/1.1\nHost: h\n\n")) == 400
    assert refused(req("GET relative HTTP/1.1\nHost: h\n\n")) == 400
    assert refused(req("GET h:80 HTTP/1.1\nHost: h\n\n")) == 400


def test_methods_are_tokens():
    assert parse_requests(req("PURGE /x HTTP/1.1\nHost: h\n\n"))[0].method == b"PURGE"
    assert refused(req("G(T / HTTP/1.1\nHost: h\n\n")) == 400
    assert refused(req("CONNECT h:443 HTTP/1.1\nHost: h\n\n")) == 501


def test_minor_versions_and_unsupported_versions():
    assert parse_requests(req("GET / HTTP/1.2\nHost: h\n\n"))[0].version == b"1.1"
    assert refused(req("GET / HTTP/2.0\nHost: h\n\n")) == 505
    assert refused(req("GET / HTTP/0.9\n\n")) == 505
    for bad in ("GET / HTTP/1.1 \nHost: h\n\n", "GET / http/1.1\nHost: h\n\n", "GET / HTTP/11\nHost: h\n\n",
                "GET /\n\n", "GET / HTTP/1.x\n\n"):
        assert refused(req(bad)) == 400, bad


@pytest.mark.parametrize("head, status", [
    # both framings: request smuggling
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 3\nTransfer-Encoding: chunked\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nContent-Length: 3\n\n", 400),
    # Content-Length: differing, malformed, signed, empty, list with a hole
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 3\nContent-Length: 4\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 3, 4\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: abc\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: +3\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: -1\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 0x10\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length:\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 3,\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 99999999999999999999999\n\n", 413),
    # transfer codings other than one final chunked
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: gzip\n\n", 501),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: gzip, chunked\n\n", 501),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked, gzip\n\n", 501),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: identity\n\n", 501),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked, chunked\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked;q=1\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding:\n\n", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: \"chunked\"\n\n", 400),
    ("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n", 400),
    # field syntax
    ("GET / HTTP/1.1\nHost : h\n\n", 400),
    ("GET / HTTP/1.1\nHost\t: h\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nX: a\n  folded\n\n", 400),
    ("GET / HTTP/1.1\n Host: h\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nX: a\x00b\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nX: a\x01b\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nX: a\x7fb\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nX(y): a\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\n: a\n\n", 400),
    ("GET / HTTP/1.1\nHost: h\nNoColon\n\n", 400),
    ("GET / HTTP/1.1\n\n", 400),                               # no Host
    ("GET / HTTP/1.1\nHost: a\nHost: b\n\n", 400),             # two Hosts
    ("GET /a\x00b HTTP/1.1\nHost: h\n\n", 400),
    ("GET /a b HTTP/1.1\nHost: h\n\n", 400),
    ("GET  / HTTP/1.1\nHost: h\n\n", 400),
    ("GET /\xff HTTP/1.1\nHost: h\n\n", 400),
])
def test_hostile_heads(head, status):
    assert refused(head.replace("\n", "\r\n").encode("latin-1")) == status


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",        # bare CR in a field
    b"GET / HTTP/1.1\rHost: h\r\n\r\n",                # bare CR after the request line
    b"GET / HTTP/1.1\nHost: h\r\n\r\n",                # bare LF
    b"GET / HTTP/1.1\r\nHost: h\n\n",
    b"\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n",
])
def test_bare_cr_and_lf(raw):
    assert refused(raw) == 400


# Offsets that put a byte in the first, a middle and the last of the
# scanners' sixteen-byte blocks, and in the byte-at-a-time tail after them.
OFFSETS = (0, 1, 15, 16, 17, 31, 33, 40)


def field_value_byte(b):
    return b in (0x09, 0x20) or 0x21 <= b <= 0x7E or b >= 0x80     # RFC 9110 5.5


@pytest.mark.parametrize("offset", OFFSETS)
def test_every_byte_in_a_field_value_at_every_block_offset(offset):
    for b in range(256):
        if b in (0x0D, 0x0A):
            continue                # the line scan's (test_every_line_ending_byte...)
        value = b"v" * offset + bytes([b]) + b"v" * 3
        data = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + value + b"\r\n\r\n"
        if field_value_byte(b):
            (r,) = parse_requests(data)
            assert dict(r.headers)[b"X"] == value.strip(b" \t"), hex(b)
        else:
            assert refused(data) == 400, hex(b)


@pytest.mark.parametrize("offset", OFFSETS)
def test_every_byte_in_a_target_at_every_block_offset(offset):
    for b in range(256):
        if b in (0x0D, 0x0A, 0x20):
            continue                # they end the line or the target
        target = b"/" + b"t" * offset + bytes([b]) + b"t"
        data = b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
        if 0x21 <= b <= 0x7E:                                          # RFC 9112 3.2
            (r,) = parse_requests(data)
            assert r.target == target, hex(b)
        else:
            assert refused(data) == 400, hex(b)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("ending", [b"\r", b"\n"])
def test_every_line_ending_byte_at_every_block_offset(offset, ending):
    # A bare CR or LF anywhere in a line is refused, in the request line or
    # a field, whole or cut just before it.
    for line in (b"GET /" + b"a" * offset + ending + b"b HTTP/1.1",
                 b"X: " + b"a" * offset + ending + b"b"):
        data = (line + b"\r\nHost: h\r\n\r\n" if line.startswith(b"GET")
                else b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n\r\n")
        assert refused(data) == 400
        p = RequestParser()
        cut = data.index(ending, 3)
        assert p.feed(data[:cut]) == []
        with pytest.raises(HttpParseError) as info:
            p.feed(data[cut:])
        assert info.value.status == 400


@pytest.mark.parametrize("body", [
    b"zz\r\nab\r\n0\r\n\r\n",            # not hex
    b"\r\nab\r\n0\r\n\r\n",              # empty size
    b"2\r\nabc\r\n0\r\n\r\n",            # data longer than its size
    b"2\r\nab0\r\n\r\n",                 # missing CRLF after data
    b"2\rab\r\n0\r\n\r\n",               # bare CR in the size line
    b"2\nab\r\n0\r\n\r\n",               # bare LF
    b"2 \r\nab\r\n0\r\n\r\n",            # whitespace without an extension
    b"-2\r\nab\r\n0\r\n\r\n",
    b"0x2\r\nab\r\n0\r\n\r\n",
    b"2;a\x00b\r\nab\r\n0\r\n\r\n",      # control byte in an extension
    b"1111111111111111\r\n",             # 16 significant hex digits: >= 16**15
    b"00000000000000010000000000000000\r\n",   # 2**64: would overflow
    b"0\r\nBad Trailer: x\r\n\r\n",
    b"0\r\nT : x\r\n\r\n",
    b"0\r\nT: x\r\n folded\r\n\r\n",
    b"0\r\nT: a\x01\r\n\r\n",
    b"0\r\n\rx",
])
def test_hostile_chunked_bodies(body):
    head = req("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n")
    assert refused(head + body) == 400


def test_smuggled_request_behind_a_refused_one_is_not_returned():
    data = req("POST / HTTP/1.1\nHost: h\nContent-Length: 4\nTransfer-Encoding: chunked\n\n") + b"0\r\n\r\n" + GET
    with pytest.raises(HttpParseError) as info:
        parse_requests(GET + data)
    assert info.value.status == 400
    assert len(info.value.requests) == 1       # only the good one before it
    p = RequestParser()
    with pytest.raises(HttpParseError):
        p.feed(data)
    with pytest.raises(HttpParseError):       # stays refused
        p.feed(GET)


def test_limits():
    assert DEFAULT_LIMITS["max_request_line"] == 8192
    assert refused(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n") == 414
    assert refused(b"GET /" + b"a" * 9000) == 414                        # before the line ends
    assert refused(req("GET / HTTP/1.1\nHost: h\n\n"), max_request_line=10) == 414
    many = "".join(f"X-{i}: v\n" for i in range(101))
    assert refused(req(f"GET / HTTP/1.1\nHost: h\n{many}\n")) == 431
    assert len(parse_requests(req(f"GET / HTTP/1.1\nHost: h\n{many}\n"), max_headers=102)) == 1
    assert refused(req("GET / HTTP/1.1\nHost: h\nX: " + "v" * 70000 + "\n\n")) == 431
    assert refused(req("GET / HTTP/1.1\nHost: h\nX: " + "v" * 70000)) == 431   # before the head ends
    assert refused(req("POST / HTTP/1.1\nHost: h\nContent-Length: 11\n\n"), max_body_size=10) == 413
    chunked = req("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n") + b"6\r\nabcdef\r\n6\r\n"
    assert refused(chunked, max_body_size=10) == 413
    assert refused(req("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n0\nT: " + "v" * 70000)) == 431


def test_incomplete_input_is_not_a_request():
    assert parse_requests(b"GET / HTTP/1.1\r\nHost: h\r\n") == []
    assert parse_requests(req("POST / HTTP/1.1\nHost: h\nContent-Length: 5\n\n") + b"abc") == []


def test_feed_accepts_bytes_like_only():
    p = RequestParser()
    assert p.feed(bytearray(GET))[0].method == b"GET"
    assert p.feed(memoryview(GET))[0].method == b"GET"
    with pytest.raises(TypeError):
        p.feed("GET / HTTP/1.1\r\n\r\n")


if given is not None:
    PIECES = [
        GET,
        req("POST /a HTTP/1.1\nHost: h\nContent-Length: 4\n\n") + b"abcd",
        req("PUT /c HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n") + b"3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        req("HEAD /h HTTP/1.0\nConnection: keep-alive\n\n"),
        b"\r\n",
    ]

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8), st.data())
    def test_any_split_parses_the_same(pieces, data):
        stream = b"".join(pieces)
        whole = parse_requests(stream)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
        p = RequestParser()
        got, last = [], 0
        for cut in cuts + [len(stream)]:
            got += p.feed(stream[last:cut])
            last = cut
        assert got == whole

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def test_garbage_never_crashes(blob):
        try:
            parse_requests(blob)
        except HttpParseError as exc:
            assert exc.status in (400, 413, 414, 417, 431, 501, 505)


def test_chunk_size_with_leading_zeros_is_limited_by_value_not_digits():
    # Issue 8 item 13: a chunk size of 16 or more hex digits was refused even
    # when its value was small; RFC 9112 7.1 allows any number of leading
    # zeros. The value is limited (below 16**15), not the digit count.
    head = req("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n")
    [r] = parse_requests(head + b"0000000000000005\r\nhello\r\n" + b"0" * 40 + b"\r\n\r\n")
    assert r.body == b"hello"
    assert parse_requests(head + b"0" * 1000 + b"fffffffffffffff\r\n", max_body_size=1 << 62) == []
    assert refused(head + b"0" * 1000 + b"1000000000000000\r\n") == 400
