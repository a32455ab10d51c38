"""Client address and scheme from trusted proxies' headers (cyreactor.forwarded):
the allow list, X-Forwarded-For/-Proto as uvicorn >= 0.30 reads them, RFC 7239
Forwarded, their precedence, and every malformed form ignored."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyreactor.forwarded import DEFAULT_ALLOW_IPS, SCHEMES, TrustedProxies

PEER = ("127.0.0.1", 50000)
UNTRUSTED = ("198.51.100.9", 50000)


def h(*pairs):
    return [(name.encode(), value.encode("latin-1")) for name, value in pairs]


def xff(*values):
    return h(*(("x-forwarded-for", v) for v in values))


def fwd(*values):
    return h(*(("forwarded", v) for v in values))


class Untouchable:
    def __iter__(self):
        raise AssertionError("the headers of an untrusted peer were read")


# ---------------------------------------------------------------- the allow list

def test_default_trusts_loopback_ipv4_only():
    assert DEFAULT_ALLOW_IPS == "127.0.0.1"
    proxies = TrustedProxies()
    assert proxies.resolve(PEER, xff("203.0.113.7")) == (("203.0.113.7", 0), "http")
    # The form a dual-stack listener reports an IPv4 peer in.
    assert proxies.resolve(("::ffff:127.0.0.1", 1, 0, 0), xff("203.0.113.7"))[0] == ("203.0.113.7", 0)
    assert proxies.resolve(("::1", 1, 0, 0), xff("203.0.113.7"))[0] == ("::1", 1)


def test_untrusted_peer_headers_are_not_even_read():
    proxies = TrustedProxies("10.0.0.0/8, 127.0.0.1")
    assert proxies.resolve(UNTRUSTED, Untouchable()) == (("198.51.100.9", 50000), "http")
    assert proxies.resolve(("2001:db8::5", 443, 0, 0), Untouchable(), "https") == (("2001:db8::5", 443), "https")
    assert proxies.resolve("/run/app.sock", Untouchable()) == (None, "http")
    assert proxies.resolve(None, Untouchable()) == (None, "http")


@pytest.mark.parametrize("allow, peer, trusted", [
    ("10.0.0.0/8", "10.200.3.4", True),
    ("10.0.0.0/8", "11.0.0.1", False),
    ("10.1.2.3/8", "10.9.9.9", True),                      # host bits ignored, as nginx does
    ("2001:db8::/32", "2001:db8:ffff::1", True),
    ("2001:db8::/32", "2001:db9::1", False),
    ("10.0.0.0/8", "::ffff:10.1.1.1", True),
    ("2001:DB8::0:1", "2001:db8::1", True),                # compared as addresses, not strings
    ("192.0.2.1, 192.0.2.2,", "192.0.2.2", True),
    (["192.0.2.1", " 192.0.2.3 "], "192.0.2.3", True),
    ("*", "203.0.113.200", True),
    ("unix:", "127.0.0.1", False),
])
def test_allow_list_forms(allow, peer, trusted):
    proxies = TrustedProxies(allow)
    assert proxies.is_trusted(peer) is trusted
    client, _ = proxies.resolve((peer, 1), xff("203.0.113.7"))
    assert client == (("203.0.113.7", 0) if trusted else (peer, 1))


def test_unix_socket_peers_are_trusted_only_with_unix_or_star():
    for peer in ("", "/run/nginx-to-app.sock", b"\0abstract"):
        assert TrustedProxies().resolve(peer, xff("203.0.113.7")) == (None, "http")
        assert TrustedProxies("unix:").resolve(peer, xff("203.0.113.7")) == (("203.0.113.7", 0), "http")
        assert TrustedProxies("*").resolve(peer, xff("203.0.113.7")) == (("203.0.113.7", 0), "http")
    assert TrustedProxies("unix:").resolve("", []) == (None, "http")


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "1.2.3.4.5", "unix", "::1%lo", "01.2.3.4"])
def test_invalid_allow_list_entries_fail_at_start(bad):
    with pytest.raises(ValueError):
        TrustedProxies("127.0.0.1," + bad)


def test_invalid_mode():
    with pytest.raises(ValueError):
        TrustedProxies(mode="both")


# ---------------------------------------------------------------- X-Forwarded-For

@pytest.mark.parametrize("value, client", [
    ("203.0.113.7", ("203.0.113.7", 0)),
    (" 203.0.113.7 ", ("203.0.113.7", 0)),
    ("203.0.113.7:4711", ("203.0.113.7", 4711)),
    ("2001:db8::1", ("2001:db8::1", 0)),
    ("2001:DB8:0:0::1", ("2001:db8::1", 0)),
    ("[2001:db8::1]", ("2001:db8::1", 0)),
    ("[2001:db8::1]:4711", ("2001:db8::1", 4711)),
    ("::ffff:203.0.113.7", ("::ffff:203.0.113.7", 0)),
])
def test_xff_single_hop_forms(value, client):
    assert TrustedProxies().resolve(PEER, xff(value)) == (client, "http")


def test_xff_walks_from_the_right_past_trusted_proxies():
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    chain = "203.0.113.7, 10.0.0.2, 10.0.0.3"
    assert proxies.resolve(PEER, xff(chain))[0] == ("203.0.113.7", 0)
    # A client that sends its own X-Forwarded-For gets its real address
    # appended by the proxy: the right-most untrusted hop is the real one.
    assert proxies.resolve(PEER, xff("1.1.1.1, 203.0.113.7, 10.0.0.2"))[0] == ("203.0.113.7", 0)
    # What the client wrote left of its address is never read.
    assert proxies.resolve(PEER, xff("not an address!, 203.0.113.7"))[0] == ("203.0.113.7", 0)
    # Every hop trusted: the left-most is the client.
    assert proxies.resolve(PEER, xff("10.0.0.5, 10.0.0.6"))[0] == ("10.0.0.5", 0)


def test_xff_star_trusts_every_hop_so_the_left_most_is_the_client():
    assert TrustedProxies("*").resolve(UNTRUSTED, xff("203.0.113.7, 198.51.100.1"))[0] == ("203.0.113.7", 0)


def test_xff_repeated_lines_form_one_list_in_order():
    assert TrustedProxies().resolve(PEER, xff("1.1.1.1", "203.0.113.7"))[0] == ("203.0.113.7", 0)
    proxies = TrustedProxies("127.0.0.1, 10.0.0.2")
    assert proxies.resolve(PEER, xff("203.0.113.7", "10.0.0.2"))[0] == ("203.0.113.7", 0)


# ---------------------------------------------------------------- X-Forwarded-Proto

@pytest.mark.parametrize("value, scheme", [
    ("https", "https"), ("HTTPS", "https"), (" wss ", "wss"), ("ws", "ws"), ("http", "http"),
])
def test_xfp_schemes(value, scheme):
    assert TrustedProxies().resolve(PEER, h(("x-forwarded-proto", value)), "https") == (PEER, scheme)
    assert scheme in SCHEMES


def test_xfp_list_aligned_with_xff_gives_the_chosen_hops_scheme():
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    headers = xff("203.0.113.7, 10.0.0.2") + h(("x-forwarded-proto", "https, http"))
    assert proxies.resolve(PEER, headers) == (("203.0.113.7", 0), "https")


def test_xfp_alone_from_a_trusted_peer():
    assert TrustedProxies().resolve(PEER, h(("x-forwarded-proto", "https"))) == (PEER, "https")


def test_xfp_from_an_untrusted_peer_is_ignored():
    assert TrustedProxies().resolve(UNTRUSTED, h(("x-forwarded-proto", "https"))) == (UNTRUSTED, "http")


# ---------------------------------------------------------------- Forwarded (RFC 7239)

@pytest.mark.parametrize("value, client, scheme", [
    # RFC 7239 section 4 and 7.4 examples.
    ('for="_gazonk"', ("_gazonk", 0), "http"),
    ('For="[2001:db8:cafe::17]:4711"', ("2001:db8:cafe::17", 4711), "http"),
    ("for=192.0.2.60;proto=http;by=203.0.113.43", ("192.0.2.60", 0), "http"),
    ("for=192.0.2.43, for=198.51.100.17", ("198.51.100.17", 0), "http"),
    ("for=unknown", ("unknown", 0), "http"),
    ("FOR=UNKNOWN;PROTO=HTTPS", ("unknown", 0), "https"),
    ('for="_hidden:_port"', ("_hidden", 0), "http"),
    ('for="192.0.2.60:8080";proto=https', ("192.0.2.60", 8080), "https"),
    ('for="[::ffff:192.0.2.1]"', ("::ffff:192.0.2.1", 0), "http"),
    ('for=192.0.2.60; proto=https ;host="example.com:8080"', ("192.0.2.60", 0), "https"),
    ('for="\\1\\9\\2.0.2.60"', ("192.0.2.60", 0), "http"),       # quoted-pairs
    (",for=192.0.2.60,,", ("192.0.2.60", 0), "http"),           # empty list elements
    ("proto=https", PEER, "https"),                               # no node: the peer stays
    ("for=192.0.2.60;proto=gopher", ("192.0.2.60", 0), "http"),   # unknown scheme ignored
])
def test_forwarded_forms(value, client, scheme):
    assert TrustedProxies().resolve(PEER, fwd(value)) == (client, scheme)


def test_forwarded_walks_from_the_right_and_takes_that_elements_proto():
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    headers = fwd("for=192.0.2.43;proto=https", "for=10.0.0.1;proto=http")
    assert proxies.resolve(PEER, headers) == (("192.0.2.43", 0), "https")
    headers = fwd('for="[2001:db8::1]:1";proto=wss, for=10.0.0.1;proto=http, for=10.0.0.2')
    assert proxies.resolve(PEER, headers) == (("2001:db8::1", 1), "wss")
    assert proxies.resolve(PEER, fwd("for=10.0.0.9, for=10.0.0.1")) == (("10.0.0.9", 0), "http")
    # An element naming no node stops the walk at the last hop walked.
    assert proxies.resolve(PEER, fwd("proto=https, for=10.0.0.1")) == (("10.0.0.1", 0), "https")


def test_forwarded_ignores_junk_left_of_the_client():
    proxies = TrustedProxies()
    # Well-formed but spoofed hops to the left are never read...
    assert proxies.resolve(PEER, fwd("for=6.6.6.6, for=192.0.2.43"))[0] == ("192.0.2.43", 0)
    # ... and a walked hop that is not a node makes the header ignored.
    assert proxies.resolve(PEER, fwd('for=192.0.2.43, for="junk"')) == (PEER, "http")


# ---------------------------------------------------------------- precedence

BOTH = xff("203.0.113.7") + fwd("for=192.0.2.60;proto=https")


@pytest.mark.parametrize("mode, headers, expected", [
    ("auto", BOTH, (("203.0.113.7", 0), "http")),
    ("auto", fwd("for=192.0.2.60;proto=https"), (("192.0.2.60", 0), "https")),
    # One X-Forwarded-* line of either name makes Forwarded ignored.
    ("auto", h(("x-forwarded-proto", "https")) + fwd("for=192.0.2.60"), (PEER, "https")),
    ("x-forwarded", BOTH, (("203.0.113.7", 0), "http")),
    ("x-forwarded", fwd("for=192.0.2.60;proto=https"), (PEER, "http")),
    ("forwarded", BOTH, (("192.0.2.60", 0), "https")),
    ("forwarded", xff("203.0.113.7"), (PEER, "http")),
])
def test_precedence(mode, headers, expected):
    assert TrustedProxies(mode=mode).resolve(PEER, headers) == expected


# ---------------------------------------------------------------- malformed

MALFORMED_XFF = [
    "", "   ", ",", "unknown", "example.com", "_hidden", "1.2.3.4:99999", "1.2.3.4:", "1.2.3.4:+80",
    "1.2.3.04", "1.2.3", "256.1.1.1", "[::1", "[1.2.3.4]", "[::1]x", "[::1]:", "::1%eth0",
    "1.2.3.4:80:90", "203.0.113.7,", "203.0.113.7, ", "\xff", "1.2.3.4 5.6.7.8", "[[::1]]",
]
MALFORMED_FORWARDED = [
    "for", "for=", "=192.0.2.1", 'for="192.0.2.1', "for=192.0.2.1;for=192.0.2.2",
    "for=2001:db8::1", 'for="2001:db8::1"', 'for="[192.0.2.1]"', 'for="[::1"', 'for="[::1]x"',
    "for=192.0.2.1:99999", 'for="192.0.2.1:"', "for=192.0.2.1 x", 'for="\x01"', "for=_",
    'for="192.0.2.1:80:90"', "for=192.0.2.01", "for=example.com", 'for="\\', "for=a b=c",
    "for=192.0.2.1,;=", 'for=""', "for=[::1]", "for=192.0.2.1;;proto", 'for="\x7f"',
]
MALFORMED_XFP = ["ftp", "", "htt ps", "https, http, ws", "https;q=1", "\xff"]


@pytest.mark.parametrize("value", MALFORMED_XFF)
def test_malformed_x_forwarded_for_is_ignored(value):
    assert TrustedProxies().resolve(PEER, xff(value)) == (PEER, "http")


@pytest.mark.parametrize("value", MALFORMED_FORWARDED)
def test_malformed_forwarded_is_ignored(value):
    assert TrustedProxies().resolve(PEER, fwd(value)) == (PEER, "http")


@pytest.mark.parametrize("value", MALFORMED_XFP)
def test_malformed_x_forwarded_proto_is_ignored(value):
    assert TrustedProxies().resolve(PEER, h(("x-forwarded-proto", value)), "https") == (PEER, "https")


header_names = st.sampled_from([b"x-forwarded-for", b"x-forwarded-proto", b"forwarded", b"host"])
value_bytes = st.one_of(
    st.binary(max_size=60),
    st.lists(st.sampled_from([b"for=", b"proto=", b'"', b"[", b"]", b":", b",", b";", b" ", b"\\",
                              b"1.2.3.4", b"::1", b"_x", b"unknown", b"https", b"10.0.0.1", b"80"]),
             max_size=12).map(b"".join),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(header_names, value_bytes), max_size=5),
       st.sampled_from(["auto", "x-forwarded", "forwarded"]), st.sampled_from(["*", "127.0.0.1, 10.0.0.0/8"]))
def test_any_header_bytes_never_raise(headers, mode, allow):
    client, scheme = TrustedProxies(allow, mode).resolve(PEER, headers, "http")
    assert scheme in SCHEMES
    host, port = client
    assert isinstance(host, str) and host and 0 <= port <= 65535
