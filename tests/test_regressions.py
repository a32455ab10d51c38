"""One named test per bug found by the hardening work (fuzzing, property and
differential tests, fault injection), each with where it was found."""
import pytest

from cyreactor._httpparser import HttpParseError, RequestParser, parse_requests


def refusal(data, cuts=(), **limits):
    p = RequestParser(**limits)
    last = 0
    with pytest.raises(HttpParseError) as info:
        for cut in list(cuts) + [len(data)]:
            p.feed(data[last:cut])
            last = cut
    return info.value.status, info.value.reason


def test_bare_lf_after_an_over_long_line_is_414_whole_or_split():
    # Fuzzer (fuzz/fuzz_parser.py, first minute): the memchr head scan looked
    # for a bare LF in the whole run before counting the run against the
    # limits, so the same bytes gave 400 "bare LF" whole and 414 when they
    # arrived a byte at a time.
    data = b"a" * 100 + b"\n"
    whole = refusal(data, max_request_line=64)
    assert whole == (414, "request-line too long")
    assert refusal(data, range(1, len(data)), max_request_line=64) == whole
    head = b"GET / HTTP/1.1\r\nX: " + b"v" * 300 + b"\n"
    assert refusal(head, max_head_size=256) == refusal(head, range(1, len(head)), max_head_size=256)
    assert refusal(head, max_head_size=256)[0] == 431
    # Within the limits a bare LF is still a bare LF.
    assert refusal(b"GET / HTTP/1.1\nHost: h\r\n\r\n") == (400, "bare LF")
    assert parse_requests(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
