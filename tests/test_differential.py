"""Differential tests: cyreactor's parser against llhttp (httptools) and h11.

Requests are built from parts (method, target, version, header lines,
framing, body, line endings), each valid or carrying one of a catalogue of
borderline and hostile deviations, and every part that deviates tags the
request. Each request is parsed by the three parsers:

- where llhttp and h11 both accept, cyreactor must accept too and produce
  the same method, target, headers (names compared case-insensitively) and
  body;
- where both refuse, cyreactor must refuse.

A disagreement is allowed only when one of the request's tags is listed in
``JUSTIFIED`` for that direction, each entry naming the section of
docs/parser-differences.md (and of RFC 9112/9110) that explains it. Anything
else fails the test with the request, so it can be fixed or documented.
Where the two peers disagree with each other nothing is asserted.
"""
import pytest

from cyreactor._httpparser import HttpParseError, parse_requests

httptools = pytest.importorskip("httptools")
h11 = pytest.importorskip("h11")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# ---- the three parsers, one outcome shape -----------------------------------
# ("ok", method, target, [(lower-case name, value)], body), ("err", why) or
# ("incomplete",): the first request of the input only.

def parse_cyreactor(data):
    try:
        out = parse_requests(data)
    except HttpParseError as exc:
        if not exc.requests:
            return ("err", f"{exc.status} {exc.reason}")
        out = exc.requests
    if not out:
        return ("incomplete",)
    r = out[0]
    return ("ok", r.method, r.target, [(n.lower(), v) for n, v in r.headers], r.body)


class _Collect:
    def __init__(self):
        self.url = b""
        self.headers = []
        self.body = b""
        self.done = False

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        self.headers.append((name.lower(), value))

    def on_body(self, body):
        self.body += body

    def on_message_complete(self):
        self.done = True


def parse_llhttp(data):
    c = _Collect()
    p = httptools.HttpRequestParser(c)
    try:
        p.feed_data(data)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError as exc:
        if not c.done:
            return ("err", f"{type(exc).__name__}: {exc}")
    if not c.done:
        return ("incomplete",)
    return ("ok", p.get_method(), c.url, c.headers, c.body)


def parse_h11(data):
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request, body = None, b""
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return ("incomplete",)
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return ("ok", request.method, request.target,
                        [(n.lower(), v) for n, v in request.headers.raw_items()], body)
    except h11.RemoteProtocolError as exc:
        return ("err", str(exc))


# ---- the catalogue ----------------------------------------------------------
# (text, tag): tag None is plain valid HTTP/1.1.

METHODS = [("GET", None), ("POST", None), ("PUT", None), ("DELETE", None), ("PATCH", None),
           ("HEAD", None), ("OPTIONS", None), ("PURGE", None), ("FOO", "method-unregistered"),
           ("get", "method-lowercase"), ("CONNECT", "connect"), ("G(T", "method-not-token"),
           ("", "method-empty")]
TARGETS = [("/", None), ("/a/b?c=d&e=%20", None), ("//x/./y", None), ("/a#frag", "target-fragment"),
           ("*", "asterisk"), ("http://h/p?q", "absolute-form"), ("h:80", "authority-form"),
           ("rel", "target-relative"), ("/\xff", "target-obs-text"), ("/a\x7f", "target-del"),
           ("/a\tb", "target-tab"), ("/a\x00", "target-nul")]
VERSIONS = [("HTTP/1.1", None), ("HTTP/1.0", "http10"), ("HTTP/1.2", "http1-later-minor"),
            ("HTTP/2.0", "http2"), ("HTTP/0.9", "http09"), ("http/1.1", "version-lowercase"),
            ("HTTP/1.1 ", "version-trailing-space"), ("HTTP/11", "version-malformed")]
HOSTS = [("Host: h", None), ("Host: example.com:8080", None), (None, "no-host"),
         ("Host: a\r\nHost: b", "two-hosts"), ("Host:", "empty-host")]
FIELDS = [("X-A: v", None), ("Accept: */*", None), ("X-A:  v  \t", None), ("X-A:", None),
          ("Connection: close", None), ("Connection: keep-alive", None),
          ("X-A: caf\xe9", "obs-text-value"), ("X-A: a\x00b", "nul-value"), ("X-A: a\x01b", "ctl-value"),
          ("X-A: a\x7fb", "del-value"), ("X-A : v", "space-before-colon"), ("X-A\t: v", "tab-before-colon"),
          ("X(A): v", "name-not-token"), (": v", "empty-name"), ("NoColon", "no-colon"),
          ("X-A: v\r\n  folded", "obs-fold"), ("Expect: 100-continue", "expect-continue"),
          ("Expect: foo", "expect-other"), ("X-A: a\rb", "bare-cr")]


def chunked(body, ext=b"", size_fmt=b"%x", trailer=b""):
    out = b""
    for i in range(0, len(body), 3):
        piece = body[i:i + 3]
        out += size_fmt % len(piece) + ext + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\n" + trailer + b"\r\n"


# (header lines, body bytes on the wire, decoded body, tag)
def framings(body):
    cl = b"%d" % len(body)
    te = b"Transfer-Encoding: chunked"
    return [
        ([], b"", b"", None),
        ([b"Content-Length: " + cl], body, body, None),
        ([b"Content-Length: +" + cl], body, body, "cl-plus"),
        ([b"Content-Length: " + cl + b", " + cl], body, body, "cl-list-same"),
        ([b"Content-Length: " + cl, b"Content-Length: " + cl], body, body, "cl-repeated-same"),
        ([b"Content-Length: " + cl, b"Content-Length: 1" + cl], body, body, "cl-conflict"),
        ([b"Content-Length:"], body, body, "cl-empty"),
        ([b"Content-Length: 0x%x" % len(body)], body, body, "cl-hex"),
        ([te], chunked(body), body, None),
        ([b"Transfer-Encoding: Chunked"], chunked(body), body, None),
        ([te], chunked(body, ext=b";a=b;c"), body, None),
        ([te], chunked(body, size_fmt=b"%X"), body, None),
        ([te], chunked(body, size_fmt=b"00%x"), body, None),
        ([te], chunked(body, trailer=b"T: v\r\n"), body, "trailer"),
        ([te], chunked(body, ext=b" "), body, "chunk-size-ws"),
        ([te], chunked(body, trailer=b"T: v\r\n folded\r\n"), body, "trailer-fold"),
        ([te], chunked(body).replace(b"\r\n", b"\n"), body, "chunk-bare-lf"),
        ([te], chunked(body)[:-2], body, "chunk-unterminated"),
        ([b"Transfer-Encoding: gzip, chunked"], chunked(body), body, "te-other-coding"),
        ([b"Transfer-Encoding: chunked, gzip"], chunked(body), body, "te-chunked-not-final"),
        ([b"Transfer-Encoding: identity"], body, body, "te-other-coding"),
        ([te, te], chunked(body), body, "te-chunked-twice"),
        ([b"Content-Length: " + cl, te], chunked(body), body, "cl-and-te"),
        ([te, b"Content-Length: " + cl], chunked(body), body, "cl-and-te"),
    ]


# Allowed disagreements, by the tag that explains them; the values are the
# headings in docs/parser-differences.md.
JUSTIFIED = {
    # Both peers accept, cyreactor refuses: one of the request's tags must be
    # one of these.
    "refuses": {
        "http2": "1. Major versions other than 1: 505",
        "http09": "1. Major versions other than 1: 505",
        "asterisk": "2. asterisk-form only with OPTIONS",
        "connect": "3. CONNECT: 501",
        "expect-other": "4. Unknown expectations: 417",
        "te-in-http10": "5. Transfer-Encoding in an HTTP/1.0 request: 400",
    },
    # Both peers refuse (each for a reason of its own), cyreactor accepts:
    # every tag of the request must be a deviation accepted on purpose, so a
    # wrongly accepted one riding along still fails the test.
    "accepts": {
        "leading-crlf": "6. Empty lines before the request-line",
        "http1-later-minor": "7. HTTP/1.x with x > 1",
        "cl-list-same": "8. Repeated identical Content-Length values",
        "cl-repeated-same": "8. Repeated identical Content-Length values",
        "method-unregistered": "9. Accepted by all three (no disagreement on their own)",
        "method-lowercase": "9. Accepted by all three (no disagreement on their own)",
        "absolute-form": "9. Accepted by all three (no disagreement on their own)",
        "target-fragment": "9. Accepted by all three (no disagreement on their own)",
        "obs-text-value": "9. Accepted by all three (no disagreement on their own)",
        "http10": "9. Accepted by all three (no disagreement on their own)",
        "no-host": "9. Accepted by all three (no disagreement on their own)",
        "empty-host": "9. Accepted by all three (no disagreement on their own)",
        "expect-continue": "9. Accepted by all three (no disagreement on their own)",
        "trailer": "10. Trailer fields are not merged into the headers",
    },
}


@st.composite
def requests(draw):
    tags = set()

    def pick(options):
        # Mostly valid parts, so that whole requests are often valid or
        # carry one or two deviations, not five.
        valid = [o for o in options if o[1] is None]
        text, tag = draw(st.sampled_from(options if draw(st.integers(0, 4)) == 0 else valid))
        if tag:
            tags.add(tag)
        return text

    method = pick(METHODS)
    target = pick(TARGETS)
    version = pick(VERSIONS)
    lines = []
    host = pick(HOSTS)
    fields = [pick(FIELDS) for _ in range(draw(st.integers(0, 3)))]
    if host is not None:
        lines.append(host)
    lines += fields
    if draw(st.booleans()):
        lines.reverse()
    body = draw(st.binary(min_size=0, max_size=10))
    choices = framings(body)
    if draw(st.integers(0, 2)):
        choices = [f for f in choices if f[3] in (None, "trailer")]
    fheaders, wire_body, _, ftag = draw(st.sampled_from(choices))
    if ftag:
        tags.add(ftag)
    if version == "HTTP/1.0" and any(h.lower().startswith(b"transfer-encoding") for h in fheaders):
        tags.add("te-in-http10")
    if target == "*" and method == "OPTIONS":
        # asterisk-form is OPTIONS's own (RFC 9112 3.2.4): not a deviation.
        tags.discard("asterisk")
    head = (f"{method} {target} {version}\r\n".encode("latin-1")
            + b"".join(line.encode("latin-1") + b"\r\n" for line in lines)
            + b"".join(h + b"\r\n" for h in fheaders) + b"\r\n")
    ending = draw(st.sampled_from([None] * 8 + ["bare-lf", "leading-crlf"]))
    if ending == "bare-lf":
        head = head.replace(b"\r\n", b"\n")
        tags.add(ending)
    elif ending == "leading-crlf":
        head = b"\r\n" + head
        tags.add(ending)
    return head + wire_body, frozenset(tags)


def compare(data, tags):
    """None if cyreactor agrees (or the peers disagree with each other),
    else a description of the unexplained disagreement."""
    ours, ll, hh = parse_cyreactor(data), parse_llhttp(data), parse_h11(data)
    if "trailer" in tags and ll[0] == "ok":
        # llhttp reports the trailer section's "T: v" as one more header.
        ll = ll[:3] + ([h for h in ll[3] if h != (b"t", b"v")],) + ll[4:]
    if ll[0] == hh[0] == "ok":
        if ours[0] != "ok":
            why = tags & JUSTIFIED["refuses"].keys()
            return None if why else f"refused what both accept: {ours}"
        # Field by field (each header line too), ours must equal what the
        # peers agree on, or one of them where they differ: llhttp keeps
        # trailing OWS in values, h11 lower-cases Transfer-Encoding's value.
        same = all(o in (x, y) for o, x, y in zip(ours[1:3] + ours[4:], ll[1:3] + ll[4:], hh[1:3] + hh[4:]))
        same = same and len(ours[3]) == len(ll[3]) == len(hh[3]) and all(
            o in (x, y) for o, x, y in zip(ours[3], ll[3], hh[3]))
        if not same:
            return f"parsed unlike the peers: ours {ours[1:]}, llhttp {ll[1:]}, h11 {hh[1:]}"
    elif ll[0] == hh[0] == "err":
        if ours[0] == "ok":
            if tags and tags <= JUSTIFIED["accepts"].keys():
                return None
            return f"accepted what both refuse: llhttp {ll[1]!r}, h11 {hh[1]!r}"
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_agrees_with_llhttp_and_h11(req):
    data, tags = req
    problem = compare(data, tags)
    assert problem is None, f"{problem}\ninput: {data!r}\ntags: {sorted(tags)}"


def test_each_justified_refusal_really_is_one():
    # The justified cases are disagreements on their own (both peers accept,
    # we refuse): if a peer starts refusing them, this list is stale.
    base = "{m} {t} {v}\r\nHost: h\r\n{f}\r\n"
    cases = {
        "http2": base.format(m="GET", t="/", v="HTTP/2.0", f=""),
        "asterisk": base.format(m="GET", t="*", v="HTTP/1.1", f=""),
        "connect": base.format(m="CONNECT", t="h:443", v="HTTP/1.1", f=""),
        "expect-other": base.format(m="GET", t="/", v="HTTP/1.1", f="Expect: foo\r\n"),
        "http09": base.format(m="GET", t="/", v="HTTP/0.9", f=""),
        "te-in-http10": base.format(m="POST", t="/", v="HTTP/1.0",
                                    f="Transfer-Encoding: chunked\r\n") + "1\r\na\r\n0\r\n\r\n",
    }
    assert cases.keys() == JUSTIFIED["refuses"].keys()
    for tag, text in cases.items():
        data = text.encode()
        assert parse_llhttp(data)[0] == parse_h11(data)[0] == "ok", tag
        assert parse_cyreactor(data)[0] == "err", tag
