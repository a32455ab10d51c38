"""Coverage-guided fuzzing of the PROXY protocol header parser with atheris.

Each input is the first bytes of a connection on a listener that requires
the PROXY protocol. The v2 size limit comes from the input's hash (the
default, the smallest allowed, or one in between). The input is parsed whole
and again cut into pieces (byte at a time for short inputs, at pseudo-random
points otherwise, the cuts derived from the input so a crash reproduces from
the file alone). The harness fails on:

- a crash or sanitizer report in the C parser (the build is instrumented,
  see fuzz/build.sh);
- any exception other than ProxyProtocolError, or a refusal code outside the
  reason table;
- whole and split parses that disagree (another header, another refusal),
  or a split parse that hands the application other bytes than
  ``data[length:]``;
- a verdict other than the pure-Python reference parser's
  (tests/support/proxyproto.py): accepted, refused or incomplete, and the
  same fields when accepted;
- an accepted header that breaks its own rules (a length beyond the input,
  the v1 107-byte line or the v2 limit; addresses without a family or a
  family without addresses), or more bytes buffered than a header may hold.

Run: ``FUZZ_TARGET=proxy fuzz/run.sh SECONDS`` (builds first if needed).
One input by hand: ``python fuzz/fuzz_proxy.py FILE`` against any build.
"""
import os
import socket
import sys
import zlib

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from support.proxyproto import ERROR, INCOMPLETE, reference  # noqa: E402

with atheris.instrument_imports(include=["cyreactor"]):
    from cyreactor._proxyproto import (
        DEFAULT_MAX_V2_SIZE,
        ERROR_REASONS,
        MIN_MAX_V2_SIZE,
        V1_MAX_SIZE,
        ProxyHeaderParser,
        ProxyProtocolError,
    )

LIMITS = (DEFAULT_MAX_V2_SIZE, MIN_MAX_V2_SIZE, 600)
REFUSALS = set(range(1, len(ERROR_REASONS))) - {ERROR_REASONS.index("out of memory")}


def run(data, limit, cuts):
    """(header fields or the refusal code or None, the bytes left to the
    application)."""
    parser = ProxyHeaderParser(max_v2_size=limit)
    rest, last = b"", 0
    try:
        for cut in cuts:
            piece = data[last:cut]
            last = cut
            header, n = parser.feed(piece)
            rest += piece[n:]
            assert parser.buffered <= max(V1_MAX_SIZE, limit), (parser.buffered, limit)
            if header is None:
                assert n == len(piece), (n, len(piece))
    except ProxyProtocolError as exc:
        assert exc.code in REFUSALS, exc.code
        assert exc.reason == ERROR_REASONS[exc.code]
        return exc.code, b""
    header = parser.header
    if header is None:
        return None, rest
    fields = (header.version, header.command, header.family, header.transport, header.source,
              header.destination, header.tlvs, header.crc32c_verified, header.length)
    return fields, rest


def check_header(fields, data, limit):
    version, command, family, transport, source, destination, tlvs, crc, length = fields
    assert length <= len(data)
    assert length <= (V1_MAX_SIZE if version == 1 else limit), (version, length)
    assert (source is None) == (family == socket.AF_UNSPEC) == (destination is None)
    assert (transport == 0) == (family == socket.AF_UNSPEC)
    if family != socket.AF_UNSPEC:
        assert command == 1
    if version == 1 or family == socket.AF_UNSPEC:
        assert tlvs == [] and not crc


def test_one_input(data):
    h = zlib.crc32(data)
    limit = LIMITS[h % len(LIMITS)]
    whole, whole_rest = run(data, limit, [len(data)])
    if len(data) <= 300:
        cuts = list(range(1, len(data) + 1))
    else:
        step = 1 + (h >> 8) % 97
        cuts = list(range(step, len(data), step)) + [len(data)]
    split, split_rest = run(data, limit, cuts)
    assert whole == split, (whole, split)
    assert whole_rest == split_rest
    expected = reference(data, limit)
    if isinstance(whole, tuple):
        check_header(whole, data, limit)
        assert whole_rest == data[whole[-1]:]
        assert expected == ("ok", whole[-1], whole[:-1]), (expected, whole)
    else:
        assert expected == (ERROR if whole else INCOMPLETE), (expected, whole)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
