"""The PROXY protocol v1/v2 header parser (HAProxy's proxy-protocol.txt):
the spec's examples, every refusal, any split of the input, a differential
test against the pure-Python reference in tests/support/proxyproto.py, and
the bytes a real HAProxy sends."""
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.mutation import mutate
from support.proxyproto import (
    ALPN,
    AUTHORITY,
    CRC32C,
    ERROR,
    INCOMPLETE,
    NOOP,
    SIGNATURE,
    SSL,
    UNIQUE_ID,
    inet_block,
    reference,
    result,
    ssl_tlv,
    tlv,
    unix_block,
    v1,
    v2,
)

from cyreactor._proxyproto import (
    DEFAULT_MAX_V2_SIZE,
    ERROR_REASONS,
    MAX_V2_SIZE,
    MIN_MAX_V2_SIZE,
    V1_MAX_SIZE,
    ProxyCommand,
    ProxyHeader,
    ProxyHeaderParser,
    ProxyProtocolError,
    parse_proxy_header,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"


def refused(data, **options):
    with pytest.raises(ProxyProtocolError) as info:
        parse_proxy_header(data, **options)
    return info.value.reason


def verdict(data, max_v2_size=DEFAULT_MAX_V2_SIZE):
    """The C parser's verdict in the reference's terms."""
    try:
        header, n = parse_proxy_header(data, max_v2_size=max_v2_size)
    except ProxyProtocolError:
        return ERROR
    if header is None:
        return INCOMPLETE
    fields = (header.version, header.command, header.family, header.transport, header.source,
              header.destination, header.tlvs, header.crc32c_verified)
    assert n == header.length
    return ("ok", n, fields)


def fed_in_pieces(data, cuts):
    """Feeds ``data`` cut at ``cuts``; returns (header, bytes the parser
    left to the application), checking the buffer bound on the way."""
    parser = ProxyHeaderParser()
    header, rest, last = None, b"", 0
    for cut in sorted(set(cuts)) + [len(data)]:
        piece = data[last:cut]
        last = cut
        if header is not None:
            rest += piece
            continue
        header, n = parser.feed(piece)
        rest += piece[n:]
        assert parser.buffered <= max(V1_MAX_SIZE, DEFAULT_MAX_V2_SIZE)
        if header is None:
            assert n == len(piece)
    return header, rest


# ---------------------------------------------------------------- version 1

def test_v1_spec_example_before_an_http_request():
    data = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + REQUEST
    header, n = parse_proxy_header(data)
    assert data[n:] == REQUEST
    assert (header.version, header.command, header.family, header.transport) == (
        1, ProxyCommand.PROXY, socket.AF_INET, socket.SOCK_STREAM)
    assert header.source == ("192.168.0.1", 56324)
    assert header.destination == ("192.168.0.11", 443)
    assert header.tlvs == [] and header.alpn is None and not header.crc32c_verified


@pytest.mark.parametrize("line, length", [
    (b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 56),
    (b"PROXY TCP6 " + b":".join([b"ffff"] * 8) + b" " + b":".join([b"ffff"] * 8) + b" 65535 65535\r\n", 104),
    (b"PROXY UNKNOWN\r\n", 15),
    (b"PROXY UNKNOWN " + b":".join([b"ffff"] * 8) + b" " + b":".join([b"ffff"] * 8) + b" 65535 65535\r\n", 107),
])
def test_v1_spec_maximum_lines(line, length):
    assert len(line) == length
    header, n = parse_proxy_header(line + b"x")
    assert n == length


def test_v1_tcp6_reports_the_socket_module_form():
    header, _ = parse_proxy_header(b"PROXY TCP6 2001:DB8::1 ::1 4711 80\r\n")
    assert header.family == socket.AF_INET6
    assert header.source == ("2001:db8::1", 4711, 0, 0)
    assert header.destination == ("::1", 80, 0, 0)


def test_v1_unknown_keeps_the_real_peer_and_ignores_the_rest_of_the_line():
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN anything at all\tgoes\r\n",
                 b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"):
        header, n = parse_proxy_header(line + REQUEST)
        assert n == len(line)
        assert header.family == socket.AF_UNSPEC and header.source is None and header.destination is None


def test_v1_edge_values_accepted():
    header, _ = parse_proxy_header(b"PROXY TCP4 0.0.0.0 10.200.1.9 0 1\r\n")
    assert header.source == ("0.0.0.0", 0) and header.destination == ("10.200.1.9", 1)
    header, _ = parse_proxy_header(b"PROXY TCP6 ::ffff:1.2.3.4 :: 65535 0\r\n")
    assert header.source == ("::ffff:1.2.3.4", 65535, 0, 0)


V1_REFUSED = {
    "not a PROXY protocol header": [
        b"GET / HTTP/1.1\r\n", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXY\r\n", b"PROXYTCP4 ",
        b"\x16\x03\x01\x02\x00\x01",                       # a TLS ClientHello
    ],
    "v1 header without CRLF in its first 107 bytes": [
        b"PROXY UNKNOWN " + b"x" * 93, b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n",
    ],
    "v1 header with a bare CR or LF": [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        b"PROXY UNKNOWN\rx\r\n", b"PROXY \n",
    ],
    "v1 protocol is not TCP4, TCP6 or UNKNOWN": [
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXY UNKNOWNX\r\n", b"PROXY \r\n",
        b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    ],
    "v1 header is not four fields separated by single spaces": [
        b"PROXY TCP4\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        b"PROXY TCP4 \r\n",
    ],
    "v1 address is invalid": [
        b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", b"PROXY TCP6 [::1] ::1 1 2\r\n",
        b"PROXY TCP6 ::1\x00junk ::1 1 2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.0x8 1 2\r\n",
        b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", b"PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n",
    ],
    "v1 port is invalid": [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
    ],
}


@pytest.mark.parametrize("reason, data", [(r, d) for r, ds in V1_REFUSED.items() for d in ds])
def test_v1_refused(reason, data):
    assert refused(data) == reason
    assert reference(data) == ERROR


def test_not_a_header_is_refused_at_its_first_byte():
    for first in (b"G", b"\x16", b"\0", b" ", b"\n", b"p"):
        assert refused(first) == "not a PROXY protocol header"
    assert refused(b"PROXX") == "not a PROXY protocol header"
    assert refused(SIGNATURE[:7] + b"X") == "not a PROXY protocol header"


# ---------------------------------------------------------------- version 2

def test_v2_haproxy_capture():
    # What HAProxy sent for curl's connection (172.19.0.1:42578 -> :80),
    # then the request.
    data = bytes.fromhex("0d0a0d0a000d0a515549540a2111000cac130001ac130003a6520050") + b"GET / HTTP/1.1\r\n"
    header, n = parse_proxy_header(data)
    assert n == 28 and data[n:] == b"GET / HTTP/1.1\r\n"
    assert header.source == ("172.19.0.1", 42578) and header.destination == ("172.19.0.3", 80)
    assert (header.version, header.command, header.transport) == (2, ProxyCommand.PROXY, socket.SOCK_STREAM)


@pytest.mark.parametrize("fam, block, family, transport, source, destination", [
    (0x11, inet_block("1.2.3.4", "5.6.7.8", 1000, 80), socket.AF_INET, socket.SOCK_STREAM,
     ("1.2.3.4", 1000), ("5.6.7.8", 80)),
    (0x12, inet_block("1.2.3.4", "5.6.7.8", 53, 5353), socket.AF_INET, socket.SOCK_DGRAM,
     ("1.2.3.4", 53), ("5.6.7.8", 5353)),
    (0x21, inet_block("2001:db8::1", "::1", 4711, 443), socket.AF_INET6, socket.SOCK_STREAM,
     ("2001:db8::1", 4711, 0, 0), ("::1", 443, 0, 0)),
    (0x22, inet_block("::", "ff02::1", 0, 65535), socket.AF_INET6, socket.SOCK_DGRAM,
     ("::", 0, 0, 0), ("ff02::1", 65535, 0, 0)),
    (0x31, unix_block(b"/run/client.sock", b"/run/haproxy.sock"), socket.AF_UNIX, socket.SOCK_STREAM,
     "/run/client.sock", "/run/haproxy.sock"),
    (0x32, unix_block(b"\0abstract", b""), socket.AF_UNIX, socket.SOCK_DGRAM, b"\0abstract", ""),
])
def test_v2_every_family_and_transport(fam, block, family, transport, source, destination):
    # Spec 2.2: address lengths 12, 36 and 216.
    assert len(block) == {1: 12, 2: 36, 3: 216}[fam >> 4]
    data = v2(1, fam, block)
    header, n = parse_proxy_header(data + REQUEST)
    assert n == 16 + len(block)
    assert (header.family, header.transport, header.source, header.destination) == (
        family, transport, source, destination)
    assert verdict(data) == reference(data)


def test_v2_local_keeps_the_real_peer_whatever_follows():
    # Spec 2.2: LOCAL "must use the real connection endpoints and discard
    # the protocol block including the family"; the length is still honoured.
    for data in (v2(0, 0x00), v2(0, 0x11, inet_block("1.2.3.4", "5.6.7.8", 1, 2)),
                 v2(0, 0x00, b"\xff" * 40), v2(0, 0x21, b"")):
        header, n = parse_proxy_header(data + REQUEST)
        assert n == len(data)
        assert header.command == ProxyCommand.LOCAL
        assert (header.family, header.source, header.destination, header.tlvs) == (
            socket.AF_UNSPEC, None, None, [])


def test_v2_unspecified_family_or_transport_ignores_the_address_block():
    # Spec 2.2: UNSPEC "the receiver should ignore address information".
    for fam in (0x00, 0x01, 0x02, 0x10, 0x20, 0x30):
        header, n = parse_proxy_header(v2(1, fam, b"\x01" * 7))
        assert n == 23 and header.family == socket.AF_UNSPEC and header.source is None


def test_v2_tlvs_kept_and_unknown_ones_skipped():
    tlvs = (tlv(ALPN, b"h2") + tlv(AUTHORITY, b"example.com") + tlv(NOOP, b"")
            + tlv(UNIQUE_ID, b"u" * 128) + tlv(0x30, b"netns") + tlv(0xE0, b"custom")
            + ssl_tlv(client=7, verify=0, version=b"TLSv1.3", cn=b"client.example",
                      extra=tlv(0x23, b"TLS_AES_128_GCM_SHA256")))
    data = v2(1, 0x11, inet_block("10.0.0.1", "10.0.0.2", 1, 2), tlvs, crc=True)
    header, n = parse_proxy_header(data)
    assert n == len(data)
    assert [t for t, _ in header.tlvs] == [ALPN, AUTHORITY, NOOP, UNIQUE_ID, 0x30, 0xE0, SSL, CRC32C]
    assert header.alpn == b"h2" and header.authority == b"example.com"
    assert (header.ssl_client, header.ssl_verify, header.ssl_version, header.ssl_cn) == (
        7, 0, b"TLSv1.3", b"client.example")
    assert header.crc32c_verified
    assert verdict(data) == reference(data)


def test_v2_empty_tlv_values_are_present_not_absent():
    header, _ = parse_proxy_header(v2(1, 0x11, inet_block("1.1.1.1", "2.2.2.2", 1, 2), tlv(ALPN, b"")))
    assert header.alpn == b"" and header.authority is None and header.ssl_client is None


def test_v2_crc32c_is_verified_on_the_header_with_the_field_zeroed():
    data = v2(1, 0x21, inet_block("::1", "::2", 5, 6), tlv(ALPN, b"http/1.1"), crc=True)
    assert parse_proxy_header(data)[0].crc32c_verified
    # RFC 3720 B.4 / RFC 4960: CRC32C("123456789") = 0xE3069283.
    from support.proxyproto import crc32c
    assert crc32c(b"123456789") == 0xE3069283
    crc_type_at = len(data) - 7      # flipped, it makes the checksum another TLV
    for i in set(range(16, len(data))) - {crc_type_at}:
        bad = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        with pytest.raises(ProxyProtocolError):
            parse_proxy_header(bad)


def test_v2_size_limit_default_and_configurable():
    block = inet_block("1.2.3.4", "5.6.7.8", 1, 2)
    fits = v2(1, 0x11, block, tlv(NOOP, b"\0" * (DEFAULT_MAX_V2_SIZE - 16 - 12 - 3)))
    assert len(fits) == DEFAULT_MAX_V2_SIZE
    assert parse_proxy_header(fits)[1] == DEFAULT_MAX_V2_SIZE
    too_big = v2(1, 0x11, block, tlv(NOOP, b"\0" * (DEFAULT_MAX_V2_SIZE - 16 - 12 - 2)))
    # Refused from the preamble alone, before the rest arrives.
    assert refused(too_big[:16]) == "v2 header is longer than the limit"
    assert parse_proxy_header(too_big, max_v2_size=MAX_V2_SIZE)[1] == len(too_big)
    largest = v2(1, 0x11, block, tlv(NOOP, b"\0" * (65535 - 12 - 3)))
    assert len(largest) == MAX_V2_SIZE and parse_proxy_header(largest, max_v2_size=MAX_V2_SIZE)[1] == MAX_V2_SIZE
    for bad in (MIN_MAX_V2_SIZE - 1, MAX_V2_SIZE + 1, 0, -1):
        with pytest.raises(ValueError):
            ProxyHeaderParser(max_v2_size=bad)
    assert parse_proxy_header(v2(1, 0x31, unix_block(b"a", b"b")), max_v2_size=MIN_MAX_V2_SIZE)[0]


INET = inet_block("1.2.3.4", "5.6.7.8", 1, 2)
V2_REFUSED = {
    "not a PROXY protocol header": [SIGNATURE[:11] + b"\x0b", b"\r\n\r\n\x01"],
    "v2 version is not 2": [SIGNATURE + b"\x11", SIGNATURE + b"\x31\x11\x00\x00", SIGNATURE + b"\x01"],
    "v2 command is not LOCAL or PROXY": [SIGNATURE + b"\x22", SIGNATURE + b"\x2f"],
    "v2 address family is unknown": [SIGNATURE + b"\x21\x41", SIGNATURE + b"\x20\xf1"],
    "v2 transport protocol is unknown": [SIGNATURE + b"\x21\x13", SIGNATURE + b"\x20\x0f"],
    "v2 header is longer than the limit": [SIGNATURE + b"\x21\x11\xff\xff"],
    "v2 length is shorter than the address block": [
        v2(1, 0x11, INET[:11]), v2(1, 0x21, INET + b"\0" * 23), v2(1, 0x31, b"\0" * 215)],
    "v2 TLV runs past the header": [
        v2(1, 0x11, INET, b"\x04"), v2(1, 0x11, INET, b"\x04\x00"), v2(1, 0x11, INET, b"\x04\x00\x01"),
        v2(1, 0x11, INET, tlv(ALPN, b"h2") + b"\x01\x00\x05abcd"),
        v2(1, 0x11, INET, ssl_tlv(extra=b"\x21\x00\x09TLSv1")),
        v2(1, 0x11, INET, ssl_tlv(extra=b"\x21")),
    ],
    "v2 TLV is repeated": [
        v2(1, 0x11, INET, tlv(ALPN, b"h2") + tlv(ALPN, b"http/1.1")),
        v2(1, 0x11, INET, tlv(AUTHORITY, b"a") + tlv(AUTHORITY, b"b")),
        v2(1, 0x11, INET, tlv(UNIQUE_ID, b"a") + tlv(UNIQUE_ID, b"a")),
        v2(1, 0x11, INET, ssl_tlv() + ssl_tlv()),
        v2(1, 0x11, INET, ssl_tlv(cn=b"a", extra=tlv(0x22, b"b"))),
        v2(1, 0x11, INET, tlv(CRC32C, b"\0\0\0\0"), crc=True),
    ],
    "v2 TLV value is invalid for its type": [
        v2(1, 0x11, INET, tlv(CRC32C, b"\0\0\0")), v2(1, 0x11, INET, tlv(CRC32C, b"\0" * 5)),
        v2(1, 0x11, INET, tlv(UNIQUE_ID, b"u" * 129)), v2(1, 0x11, INET, tlv(SSL, b"\x01\0\0\0")),
    ],
    "v2 CRC32C checksum does not match": [
        v2(1, 0x11, INET, tlv(CRC32C, b"\0\0\0\0")),
        v2(1, 0x11, INET, tlv(CRC32C, b"\0\0\0\0") + tlv(ALPN, b"h2")),
    ],
}


@pytest.mark.parametrize("reason, data", [(r, d) for r, ds in V2_REFUSED.items() for d in ds])
def test_v2_refused(reason, data):
    assert refused(data) == reason
    assert reference(data) == ERROR


def test_every_refusal_reason_has_an_example():
    seen = set(V1_REFUSED) | set(V2_REFUSED)
    assert set(ERROR_REASONS) - seen == {"no error", "out of memory"}


def test_incomplete_headers_need_more():
    for whole in (v1("TCP4", "1.2.3.4", "5.6.7.8", 1, 2), v2(1, 0x11, INET, tlv(ALPN, b"h2"), crc=True)):
        for n in range(len(whole)):
            assert parse_proxy_header(whole[:n]) == (None, 0)
            assert reference(whole[:n]) == INCOMPLETE


def test_after_a_refusal_every_feed_refuses():
    parser = ProxyHeaderParser()
    with pytest.raises(ProxyProtocolError):
        parser.feed(b"GET")
    with pytest.raises(ProxyProtocolError) as info:
        parser.feed(b"PROXY UNKNOWN\r\n")
    assert info.value.code == ERROR_REASONS.index("not a PROXY protocol header")
    assert parser.header is None


def test_after_the_header_the_parser_takes_nothing():
    parser = ProxyHeaderParser()
    header, n = parser.feed(b"PROXY UNKNOWN\r\nab")
    assert n == 15 and parser.header is header
    assert parser.feed(b"more") == (header, 0)
    assert parser.buffered == 0


def test_header_objects_come_only_from_the_parser():
    with pytest.raises(TypeError):
        ProxyHeader()


def test_input_types():
    line = v1("TCP4", "1.2.3.4", "5.6.7.8", 1, 2)
    for data in (bytearray(line), memoryview(line)):
        assert parse_proxy_header(data)[0].source == ("1.2.3.4", 1)


# ---------------------------------------------------------------- splits

SAMPLES = [
    v1("TCP4", "192.168.0.1", "192.168.0.11", 56324, 443),
    v1("TCP6", "2001:db8::1", "2001:db8::2", 1, 65535),
    b"PROXY UNKNOWN " + b"x" * 90 + b"\r\n",
    v2(0, 0x00),
    v2(1, 0x21, inet_block("::1", "::2", 7, 8), tlv(ALPN, b"h2") + ssl_tlv(version=b"TLSv1.2"), crc=True),
    v2(1, 0x31, unix_block(b"/a", b"/b"), tlv(AUTHORITY, b"host")),
]


@pytest.mark.parametrize("data", SAMPLES)
def test_every_two_way_split_gives_the_same_header(data):
    whole, n = parse_proxy_header(data + REQUEST)
    assert n == len(data)
    for cut in range(len(data) + len(REQUEST)):
        header, rest = fed_in_pieces(data + REQUEST, [cut])
        assert rest == REQUEST
        assert (header.source, header.destination, header.tlvs, header.length) == (
            whole.source, whole.destination, whole.tlvs, whole.length)


@pytest.mark.parametrize("data", SAMPLES)
def test_byte_at_a_time(data):
    header, rest = fed_in_pieces(data + REQUEST, range(1, len(data) + len(REQUEST)))
    assert rest == REQUEST and header.length == len(data)


def test_a_split_header_is_buffered_at_most_to_its_size():
    data = SAMPLES[1]
    parser = ProxyHeaderParser()
    for i in range(len(data) - 1):
        assert parser.feed(data[i:i + 1]) == (None, 1)
        assert parser.buffered == i + 1
    big = v2(1, 0x11, INET, tlv(NOOP, b"\0" * 3000))
    parser = ProxyHeaderParser()
    parser.feed(big[:20])
    assert parser.buffered == 20
    header, n = parser.feed(big[20:] + b"tail")
    assert n == len(big) - 20 and header.length == len(big)


# ---------------------------------------------------------------- properties

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
port = st.integers(0, 65535)
small_bytes = st.binary(max_size=40)


@st.composite
def v1_headers(draw):
    protocol = draw(st.sampled_from(["TCP4", "TCP6", "UNKNOWN"]))
    if protocol == "UNKNOWN":
        tail = draw(st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b))
        return b"PROXY UNKNOWN" + (b" " + tail if draw(st.booleans()) else b"") + b"\r\n"
    address = ipv4 if protocol == "TCP4" else ipv6
    line = v1(protocol, draw(address), draw(address), draw(port), draw(port))
    return line if len(line) <= V1_MAX_SIZE else b"PROXY UNKNOWN\r\n"


@st.composite
def v2_tlvs(draw):
    out = b""
    for type_ in draw(st.permutations([ALPN, AUTHORITY, UNIQUE_ID, SSL, NOOP, 0x30, 0xE5])):
        if not draw(st.booleans()):
            continue
        if type_ == SSL:
            out += ssl_tlv(draw(st.integers(0, 7)), draw(st.integers(0, 2**32 - 1)),
                           draw(st.none() | small_bytes), draw(st.none() | small_bytes))
        elif type_ == UNIQUE_ID:
            out += tlv(type_, draw(st.binary(max_size=128)))
        else:
            out += tlv(type_, draw(small_bytes))
    return out


@st.composite
def v2_headers(draw):
    command = draw(st.sampled_from([0, 1]))
    fam = draw(st.sampled_from([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x10, 0x02]))
    if fam >> 4 == 1 and fam & 0xF:
        block = inet_block(draw(ipv4), draw(ipv4), draw(port), draw(port))
    elif fam >> 4 == 2 and fam & 0xF:
        block = inet_block(draw(ipv6), draw(ipv6), draw(port), draw(port))
    elif fam >> 4 == 3:
        path = st.binary(max_size=108).filter(lambda b: not b.endswith(b"\0"))
        block = unix_block(draw(path), draw(path))
    else:
        block = draw(small_bytes)
    return v2(command, fam, block, draw(v2_tlvs()), crc=draw(st.booleans()))


headers = v1_headers() | v2_headers()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers, st.binary(max_size=30), st.lists(st.integers(0, 400), max_size=8))
def test_any_split_of_a_valid_header_gives_the_same_result(data, tail, cuts):
    expected = reference(data)
    assert expected != ERROR and expected != INCOMPLETE
    assert verdict(data + tail) == expected
    header, rest = fed_in_pieces(data + tail, [c for c in cuts if c <= len(data) + len(tail)])
    assert rest == tail
    assert verdict(data) == ("ok", header.length, (
        header.version, header.command, header.family, header.transport, header.source,
        header.destination, header.tlvs, header.crc32c_verified))


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255)),
                 min_size=1, max_size=4)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers, edits, st.integers(0, 1 << 16))
def test_differential_against_the_reference_on_mutated_headers(data, ops, cut):
    mutated = mutate(data, ops)
    assert verdict(mutated) == reference(mutated)
    assert verdict(mutated[:cut]) == reference(mutated[:cut])


def outcome(data, cuts):
    """The refusal's code, or the header's fields, or None, feeding ``data``
    cut at ``cuts``."""
    try:
        header, _ = fed_in_pieces(data, cuts)
    except ProxyProtocolError as exc:
        return exc.code
    return header and (header.source, header.destination, header.tlvs, header.length)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers, edits, st.lists(st.integers(0, 300), max_size=6))
def test_any_split_gives_the_same_refusal(data, ops, cuts):
    # The first failing byte decides, so no split can change the reason.
    mutated = mutate(data, ops)
    assert outcome(mutated, [c for c in cuts if c <= len(mutated)]) == outcome(mutated, [])


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([b"", b"P", b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", SIGNATURE,
                        SIGNATURE + b"\x21\x11", SIGNATURE + b"\x21\x21\x00"]),
       st.binary(max_size=200), st.integers(MIN_MAX_V2_SIZE, 600))
def test_random_bytes_never_crash_and_never_succeed_with_a_wrong_length(prefix, junk, limit):
    data = prefix + junk
    got = verdict(data, limit)
    assert got == reference(data, limit)
    if got not in (ERROR, INCOMPLETE):
        header, _ = fed_in_pieces(data, range(0, len(data), 7))
        assert header.length == got[1]


# ---------------------------------------------------------------- HAProxy

# Captured from HAProxy 2.6 (Debian 12) by the test below's setup.
HAPROXY_V1 = b"PROXY TCP4 127.0.0.1 127.0.0.1 36630 53153\r\n"                 # send-proxy
HAPROXY_V2 = bytes.fromhex("0d0a0d0a000d0a515549540a2111000c7f0000017f0000018cd09e89")  # send-proxy-v2
HAPROXY_V2_CHECK = bytes.fromhex("0d0a0d0a000d0a515549540a20000000")          # its health check
HAPROXY_V2_CRC = bytes.fromhex(                     # proxy-v2-options crc32c,unique-id
    "0d0a0d0a000d0a515549540a211100447f0000017f0000019e46cf83030004b4a07e1805002e3746303030"
    "3030313a394534365f37463030303030313a434638335f36423045424239305f303030313a33313939")


@pytest.mark.parametrize("data, source, destination", [
    (HAPROXY_V1, ("127.0.0.1", 36630), ("127.0.0.1", 53153)),
    (HAPROXY_V2, ("127.0.0.1", 36048), ("127.0.0.1", 40585)),
    (HAPROXY_V2_CHECK, None, None),
    (HAPROXY_V2_CRC, ("127.0.0.1", 40518), ("127.0.0.1", 53123)),
])
def test_haproxy_bytes(data, source, destination):
    header, n = parse_proxy_header(data + b"payload")
    assert n == len(data) and (header.source, header.destination) == (source, destination)
    assert verdict(data) == reference(data)


def test_haproxy_crc32c_and_unique_id():
    # HAProxy's own CRC32C, checked by ours.
    header, _ = parse_proxy_header(HAPROXY_V2_CRC)
    assert header.crc32c_verified
    assert header.tlvs[1] == (UNIQUE_ID, b"7F000001:9E46_7F000001:CF83_6B0EBB90_0001:3199")
    broken = HAPROXY_V2_CRC[:-1] + b"8"
    assert refused(broken) == "v2 CRC32C checksum does not match"


def test_haproxy_send_proxy_v2_in_front_of_a_socket_server(tmp_path):
    from support.haproxy import HAProxy, ProxiedServer

    with ProxiedServer() as server, HAProxy(tmp_path, server.port) as haproxy:
        for name, version in (("v2", 2), ("v2crc", 2), ("v1", 1)):
            with socket.create_connection(("127.0.0.1", haproxy.ports[name]), timeout=10) as client:
                client.sendall(b"hello " + name.encode())
                client.shutdown(socket.SHUT_WR)
                assert client.recv(100) == b""     # the server closes after reading to EOF
                client_address = client.getsockname()
            header, rest = server.next_connection(lambda h: h.command == ProxyCommand.PROXY)
            assert header.version == version
            assert header.source == client_address
            assert header.destination == ("127.0.0.1", haproxy.ports[name])
            assert rest == b"hello " + name.encode()
            if name == "v2crc":
                assert header.crc32c_verified
                assert any(t == UNIQUE_ID for t, _ in header.tlvs)
        # The health checks come as LOCAL headers.
        header, rest = server.next_connection(lambda h: h.command == ProxyCommand.LOCAL)
        assert header.family == socket.AF_UNSPEC and rest == b""


def test_parser_objects_survive_misuse():
    from support.misuse import walk_in_subprocess

    result = walk_in_subprocess("""
        from cyreactor import _proxyproto as pp
        classes = [pp.ProxyHeaderParser, pp.ProxyHeader]
        done = pp.ProxyHeaderParser()
        done.feed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\\r\\n")
        half = pp.ProxyHeaderParser()
        half.feed(b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n\\x21\\x11\\x00\\x0c\\x01")
        refused = pp.ProxyHeaderParser()
        try:
            refused.feed(b"GET")
        except pp.ProxyProtocolError:
            pass
        objects = [done, done.header, half, refused, pp.parse_proxy_header]
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])
