"""Coverage-guided fuzzing of the HTTP/1.1 request parser with atheris.

Each input is a byte stream, everything a client sent on one connection. It
is parsed whole and again cut into pieces (byte at a time for short inputs,
at pseudo-random points otherwise, the cuts derived from the input so a
crash reproduces from the file alone). The harness fails on:

- a crash or sanitizer report in the C parser (the build is instrumented,
  see fuzz/build.sh);
- any exception other than HttpParseError, or a refusal status outside the
  documented set;
- whole and split parses that disagree (other requests, other error);
- a parsed request that breaks the grammar it was accepted under (a header
  name that is not a token, a value holding CR/LF/NUL, a target with a
  space, ...), or a buffered head larger than the head limit.

Run: ``fuzz/run.sh SECONDS`` (builds first if needed). One input by hand:
``python fuzz/fuzz_parser.py FILE`` against any build, instrumented or not.
"""
import sys
import zlib

import atheris

with atheris.instrument_imports(include=["cyreactor"]):
    from cyreactor._httpparser import DEFAULT_LIMITS, HttpParseError, RequestParser

STATUSES = {400, 413, 414, 417, 431, 501, 505}
SMALL = {"max_request_line": 64, "max_head_size": 256, "max_headers": 4, "max_body_size": 64}
TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def run(data, limits, cuts):
    """The requests completed and the refusal (status, reason) or None."""
    p = RequestParser(**limits)
    done, last = [], 0
    head_cap = limits.get("max_head_size", 65536)
    try:
        for cut in cuts:
            done += p.feed(data[last:cut])
            last = cut
            # An incomplete head is held at most until it passes the limit.
            assert p.buffered <= head_cap + 1, (p.buffered, head_cap)
        return done, None
    except HttpParseError as exc:
        assert exc.status in STATUSES, exc.status
        return done + exc.requests, (exc.status, exc.reason)


def check_request(r, limits):
    method, target, version, headers, body = r
    assert method and set(method) <= TCHAR, method
    assert target and all(0x21 <= b <= 0x7E for b in target), target
    assert version in (b"1.0", b"1.1"), version
    assert len(headers) <= limits.get("max_headers", 100)
    for name, value in headers:
        assert name and set(name) <= TCHAR, name
        assert not (set(value) & {0, 0x0A, 0x0D}), value
        assert value == value.strip(b" \t"), value
    assert len(body) <= limits.get("max_body_size", DEFAULT_LIMITS["max_body_size"])
    if not r.chunked:
        lengths = [v for n, v in headers if n.lower() == b"content-length"]
        if lengths:
            assert len(body) == int(lengths[0].split(b",")[0]), (lengths, len(body))
        else:
            assert body == b""


def test_one_input(data):
    h = zlib.crc32(data)
    limits = SMALL if h % 4 == 3 else {}
    whole = run(data, limits, [len(data)])
    if len(data) <= 512:
        cuts = list(range(1, len(data) + 1))
    else:
        step = 1 + (h >> 8) % 97
        cuts = list(range(step, len(data), step)) + [len(data)]
    split = run(data, limits, cuts)
    assert whole == split, (whole, split)
    for r in whole[0]:
        check_request(r, limits)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
