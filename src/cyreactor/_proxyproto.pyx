# cython: boundscheck=False, wraparound=False, cdivision=True
"""Strict incremental PROXY protocol v1/v2 header parser (HAProxy's
proxy-protocol.txt).

The C-level parser (``proxy_feed`` on a ``ProxyParser`` struct, see
``_proxyproto.pxd``) is what a listener with the PROXY protocol enabled runs
on a connection's first bytes. ``ProxyHeaderParser`` and
``parse_proxy_header`` wrap it for tests, fuzzing and users.

How a header is parsed: ``_scan`` checks the bytes at hand in order -- the
version's prefix, the v1 line's CRLF within 107 bytes, the v2 preamble's
version, command, family and length -- so a connection that sends anything
else is refused at its first wrong byte, and so the verdict is the same
however the input is split (the first failing byte decides). Once the whole
header is at hand, contiguous in the caller's data (the usual case: it came
in one read) or in ``buf`` (it was split), ``_parse_v1``/``_parse_v2``
decode it.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy, memset

from cyreactor._address cimport sockaddr_to_address

cimport cython

import enum
import os
import socket as _socket

DEFAULT_MAX_V2_SIZE = PP_DEFAULT_MAX_V2_SIZE
MIN_MAX_V2_SIZE = PP_MIN_MAX_V2_SIZE
MAX_V2_SIZE = PP_V2_MAX
V1_MAX_SIZE = PP_V1_MAX

cdef enum:
    S_PARSING = 0
    S_DONE = 1
    S_ERROR = 2

# Spec 2.2: "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A" (note the NUL).
cdef const char *V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

cdef const char *REASONS[PE_COUNT]
REASONS[PE_NONE] = b"no error"
REASONS[PE_NOT_PROXY] = b"not a PROXY protocol header"
REASONS[PE_V1_TOO_LONG] = b"v1 header without CRLF in its first 107 bytes"
REASONS[PE_V1_BARE_CR_LF] = b"v1 header with a bare CR or LF"
REASONS[PE_V1_PROTOCOL] = b"v1 protocol is not TCP4, TCP6 or UNKNOWN"
REASONS[PE_V1_FIELDS] = b"v1 header is not four fields separated by single spaces"
REASONS[PE_V1_ADDRESS] = b"v1 address is invalid"
REASONS[PE_V1_PORT] = b"v1 port is invalid"
REASONS[PE_V2_VERSION] = b"v2 version is not 2"
REASONS[PE_V2_COMMAND] = b"v2 command is not LOCAL or PROXY"
REASONS[PE_V2_FAMILY] = b"v2 address family is unknown"
REASONS[PE_V2_TRANSPORT] = b"v2 transport protocol is unknown"
REASONS[PE_V2_TOO_LONG] = b"v2 header is longer than the limit"
REASONS[PE_V2_ADDRESS_LENGTH] = b"v2 length is shorter than the address block"
REASONS[PE_V2_TLV] = b"v2 TLV runs past the header"
REASONS[PE_V2_TLV_DUPLICATE] = b"v2 TLV is repeated"
REASONS[PE_V2_TLV_VALUE] = b"v2 TLV value is invalid for its type"
REASONS[PE_V2_CHECKSUM] = b"v2 CRC32C checksum does not match"
REASONS[PE_NO_MEMORY] = b"out of memory"

ERROR_REASONS = tuple(REASONS[i].decode("ascii") for i in range(PE_COUNT))

# CRC32C (Castagnoli, RFC 4960 appendix B: reflected polynomial 0x82F63B78).
cdef uint32_t CRC32C_TABLE[256]


cdef void _init_crc32c() noexcept:
    cdef uint32_t c
    cdef int i, k
    for i in range(256):
        c = i
        for k in range(8):
            c = (c >> 1) ^ (0x82F63B78U if c & 1 else 0)
        CRC32C_TABLE[i] = c


_init_crc32c()


cdef inline uint32_t _crc32c_update(uint32_t crc, const unsigned char *s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        crc = CRC32C_TABLE[(crc ^ s[i]) & 0xFF] ^ (crc >> 8)
    return crc


cdef inline uint32_t _be16(const char *s) noexcept nogil:
    return (<unsigned char>s[0] << 8) | <unsigned char>s[1]


cdef inline uint32_t _be32(const char *s) noexcept nogil:
    return ((<uint32_t><unsigned char>s[0] << 24) | (<uint32_t><unsigned char>s[1] << 16)
            | (<uint32_t><unsigned char>s[2] << 8) | <unsigned char>s[3])


cdef const char *proxy_reason(int error) noexcept nogil:
    if 0 <= error < PE_COUNT:
        return REASONS[error]
    return b"unknown error"


cdef void proxy_init(ProxyParser *p, Py_ssize_t max_v2_size) noexcept nogil:
    memset(p, 0, sizeof(ProxyParser))
    p.max_v2_size = max_v2_size
    p.state = S_PARSING
    p.event = PP_NEED_MORE
    p.family = _posix.AF_UNSPEC


cdef void proxy_free(ProxyParser *p) noexcept nogil:
    if p.buf != NULL:
        free(p.buf)
        p.buf = NULL
    p.blen = 0
    p.bcap = 0
    p.header = NULL


cdef inline int _fail(ProxyParser *p, int error) noexcept nogil:
    p.state = S_ERROR
    p.event = PP_ERROR
    p.error = error
    return PP_ERROR


cdef inline int _err(ProxyParser *p, int error) noexcept nogil:
    _fail(p, error)
    return -1


# ---------------------------------------------------------------- framing

cdef int _scan(ProxyParser *p, const char *s, Py_ssize_t n) noexcept nogil:
    # What the first ``n`` bytes allow: PP_DONE (the header is complete and
    # ``header_len`` long), PP_NEED_MORE, or PP_ERROR at the first byte that
    # breaks the framing. A function of the bytes alone, so any split of the
    # input reaches the same verdict.
    cdef Py_ssize_t i, m, total
    cdef unsigned char c
    if n == 0:
        return PP_NEED_MORE
    if s[0] == c'P':
        # Spec 2.1: "PROXY" SP ... CRLF, at most 107 bytes; a lone CR or LF
        # must not end the line.
        if memcmp(s, b"PROXY ", n if n < 6 else 6) != 0:
            return _fail(p, PE_NOT_PROXY)
        p.version = 1
        m = n if n < PP_V1_MAX else PP_V1_MAX
        for i in range(6, m):
            c = <unsigned char>s[i]
            if c == c'\n':
                return _fail(p, PE_V1_BARE_CR_LF)
            if c == c'\r':
                if i + 1 >= PP_V1_MAX:
                    return _fail(p, PE_V1_TOO_LONG)
                if i + 1 == n:
                    return PP_NEED_MORE
                if s[i + 1] != c'\n':
                    return _fail(p, PE_V1_BARE_CR_LF)
                p.header_len = i + 2
                return PP_DONE
        if n >= PP_V1_MAX:
            return _fail(p, PE_V1_TOO_LONG)
        return PP_NEED_MORE
    if s[0] == c'\r':
        if memcmp(s, V2_SIGNATURE, n if n < 12 else 12) != 0:
            return _fail(p, PE_NOT_PROXY)
        p.version = 2
        if n < 13:
            return PP_NEED_MORE
        # Spec 2.2: the version nibble must be 2; commands 0 (LOCAL) and
        # 1 (PROXY); families 0-3 and transports 0-2, others "must be
        # rejected as invalid by receivers".
        c = <unsigned char>s[12]
        if c >> 4 != 2:
            return _fail(p, PE_V2_VERSION)
        if c & 0x0F > PP_PROXY:
            return _fail(p, PE_V2_COMMAND)
        if n < 14:
            return PP_NEED_MORE
        c = <unsigned char>s[13]
        if c >> 4 > 3:
            return _fail(p, PE_V2_FAMILY)
        if c & 0x0F > 2:
            return _fail(p, PE_V2_TRANSPORT)
        if n < PP_V2_PREAMBLE:
            return PP_NEED_MORE
        total = PP_V2_PREAMBLE + _be16(s + 14)
        if total > p.max_v2_size:
            return _fail(p, PE_V2_TOO_LONG)
        p.header_len = total
        return PP_DONE if n >= total else PP_NEED_MORE
    return _fail(p, PE_NOT_PROXY)


# ---------------------------------------------------------------- v1

cdef bint _ipv4(const char *s, Py_ssize_t n, unsigned char *out) noexcept nogil:
    # Spec 2.1: exactly 4 decimal integers 0-255 separated by single dots;
    # no leading zeroes ("to avoid any possible confusion with octal").
    cdef Py_ssize_t i = 0, start
    cdef int part, value
    for part in range(4):
        if part:
            if i >= n or s[i] != c'.':
                return False
            i += 1
        start = i
        value = 0
        while i < n and c'0' <= s[i] <= c'9' and i - start < 3:
            value = value * 10 + (s[i] - c'0')
            i += 1
        if i == start or value > 255 or (s[start] == c'0' and i - start > 1):
            return False
        out[part] = <unsigned char>value
    return i == n


cdef bint _ipv6(const char *s, Py_ssize_t n, void *out) noexcept nogil:
    # Spec 2.1: groups of hex digits and colons, one "::" allowed; the
    # dotted IPv4 tail inet_pton also takes is accepted, as HAProxy does.
    # Only those characters reach inet_pton, which wants a C string.
    cdef char text[_posix.INET6_ADDRSTRLEN]
    cdef Py_ssize_t i
    cdef char c
    if n >= _posix.INET6_ADDRSTRLEN:
        return False
    for i in range(n):
        c = s[i]
        if not (c'0' <= c <= c'9' or c'a' <= c <= c'f' or c'A' <= c <= c'F' or c == c':' or c == c'.'):
            return False
        text[i] = c
    text[n] = 0
    return _posix.inet_pton(_posix.AF_INET6, text, out) == 1


cdef int _port(const char *s, Py_ssize_t n) noexcept nogil:
    # 0-65535 in decimal, no leading zero; -1 if invalid.
    cdef Py_ssize_t i
    cdef int value = 0
    if n < 1 or n > 5 or (s[0] == c'0' and n > 1):
        return -1
    for i in range(n):
        if not (c'0' <= s[i] <= c'9'):
            return -1
        value = value * 10 + (s[i] - c'0')
    return value if value <= 65535 else -1


cdef bint _v1_address(int family, const char *s, Py_ssize_t n, _posix.sockaddr_in6 *out) noexcept nogil:
    cdef _posix.sockaddr_in *v4 = <_posix.sockaddr_in *>out
    if family == _posix.AF_INET:
        v4.sin_family = _posix.AF_INET
        return _ipv4(s, n, <unsigned char *>&v4.sin_addr)
    out.sin6_family = _posix.AF_INET6
    return _ipv6(s, n, &out.sin6_addr)


cdef int _parse_v1(ProxyParser *p, const char *h, Py_ssize_t n) noexcept nogil:
    # "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF, or
    # "PROXY" SP "UNKNOWN" [SP anything] CRLF (the rest "must be ignored").
    cdef const char *s = h + 6
    cdef const char *e = h + n - 2
    cdef const char *q = s
    cdef const char *start[4]
    cdef Py_ssize_t length[4]
    cdef int family, k, sport, dport
    while q < e and q[0] != c' ':
        q += 1
    p.command = PP_PROXY
    if q - s == 7 and memcmp(s, b"UNKNOWN", 7) == 0:
        return 0
    if q - s != 4 or memcmp(s, b"TCP", 3) != 0 or (s[3] != c'4' and s[3] != c'6'):
        return _err(p, PE_V1_PROTOCOL)
    family = _posix.AF_INET if s[3] == c'4' else _posix.AF_INET6
    for k in range(4):
        if q == e:
            return _err(p, PE_V1_FIELDS)
        q += 1                                  # the single space
        start[k] = q
        while q < e and q[0] != c' ':
            q += 1
        length[k] = q - start[k]
        if length[k] == 0:
            return _err(p, PE_V1_FIELDS)
    if q != e:
        return _err(p, PE_V1_FIELDS)
    if (not _v1_address(family, start[0], length[0], &p.src)
            or not _v1_address(family, start[1], length[1], &p.dst)):
        return _err(p, PE_V1_ADDRESS)
    sport = _port(start[2], length[2])
    dport = _port(start[3], length[3])
    if sport < 0 or dport < 0:
        return _err(p, PE_V1_PORT)
    # sin_port and sin6_port share their offset.
    p.src.sin6_port = _posix.htons(<uint16_t>sport)
    p.dst.sin6_port = _posix.htons(<uint16_t>dport)
    p.family = family
    p.transport = _posix.SOCK_STREAM
    return 0


# ---------------------------------------------------------------- v2

cdef inline int _next_tlv(ProxyParser *p, const char *h, Py_ssize_t *off, Py_ssize_t end,
                          unsigned char *t, Py_ssize_t *length) noexcept nogil:
    # Spec 2.2: type (1 byte), length (2 bytes, network order), value, all
    # inside [off, end). Moves ``off`` to the value.
    if end - off[0] < 3:
        return _err(p, PE_V2_TLV)
    t[0] = <unsigned char>h[off[0]]
    length[0] = _be16(h + off[0] + 1)
    off[0] += 3
    if length[0] > end - off[0]:
        return _err(p, PE_V2_TLV)
    return 0


cdef inline int _keep(ProxyParser *p, ProxySlice *slot, Py_ssize_t off, Py_ssize_t length) noexcept nogil:
    # A TLV the parser interprets may appear once: two values are two
    # readings of one header (which would a proxy in front have used?).
    if slot.off:
        return _err(p, PE_V2_TLV_DUPLICATE)
    slot.off = <uint32_t>off
    slot.len = <uint32_t>length
    return 0


cdef int _parse_ssl(ProxyParser *p, const char *h, Py_ssize_t off, Py_ssize_t end) noexcept nogil:
    # Spec 2.2.6: struct pp2_tlv_ssl { uint8_t client; uint32_t verify;
    # struct pp2_tlv sub_tlv[0]; }, the sub-TLVs bounded by this TLV.
    cdef unsigned char t
    cdef Py_ssize_t length
    if end - off < 5:
        return _err(p, PE_V2_TLV_VALUE)
    p.has_ssl = True
    p.ssl_client = <unsigned char>h[off]
    p.ssl_verify = _be32(h + off + 1)
    off += 5
    while off < end:
        if _next_tlv(p, h, &off, end, &t, &length) < 0:
            return -1
        if t == PP2_SUBTYPE_SSL_VERSION or t == PP2_SUBTYPE_SSL_CN:
            if _keep(p, &p.ssl_version if t == PP2_SUBTYPE_SSL_VERSION else &p.ssl_cn, off, length) < 0:
                return -1
        off += length
    return 0


cdef int _parse_tlvs(ProxyParser *p, const char *h, Py_ssize_t off, Py_ssize_t end) noexcept nogil:
    # Spec 2.2: the TLVs fill the header to its last byte; unknown types
    # are skipped.
    cdef unsigned char t
    cdef Py_ssize_t length
    cdef ProxySlice crc
    cdef ProxySlice unique_id
    cdef ProxySlice ssl
    cdef uint32_t digest
    crc.off = unique_id.off = ssl.off = 0
    while off < end:
        if _next_tlv(p, h, &off, end, &t, &length) < 0:
            return -1
        if t == PP2_TYPE_ALPN:
            if _keep(p, &p.alpn, off, length) < 0:
                return -1
        elif t == PP2_TYPE_AUTHORITY:
            if _keep(p, &p.authority, off, length) < 0:
                return -1
        elif t == PP2_TYPE_CRC32C:
            if _keep(p, &crc, off, length) < 0:
                return -1
            if length != 4:
                return _err(p, PE_V2_TLV_VALUE)
        elif t == PP2_TYPE_UNIQUE_ID:
            # Spec 2.2.5: "an opaque byte sequence of up to 128 bytes".
            if _keep(p, &unique_id, off, length) < 0:
                return -1
            if length > PP2_UNIQUE_ID_MAX:
                return _err(p, PE_V2_TLV_VALUE)
        elif t == PP2_TYPE_SSL:
            if _keep(p, &ssl, off, length) < 0 or _parse_ssl(p, h, off, off + length) < 0:
                return -1
        off += length
    if crc.off:
        # Spec 2.2.3: the CRC32C of the whole header with the checksum
        # field read as zeros; a mismatch makes the connection invalid.
        digest = _crc32c_update(0xFFFFFFFFU, <const unsigned char *>h, crc.off)
        digest = _crc32c_update(digest, <const unsigned char *>b"\0\0\0\0", 4)
        digest = _crc32c_update(digest, <const unsigned char *>h + crc.off + 4, end - crc.off - 4)
        if digest ^ 0xFFFFFFFFU != _be32(h + crc.off):
            return _err(p, PE_V2_CHECKSUM)
        p.crc32c_verified = True
    return 0


cdef int _parse_v2(ProxyParser *p, const char *h, Py_ssize_t n) noexcept nogil:
    # _scan has checked the preamble. Spec 2.2: LOCAL means "use the real
    # connection endpoints and discard the protocol block including the
    # family"; an unspecified family or transport means "ignore address
    # information". Only the six known combinations carry an address block.
    cdef int family = <unsigned char>h[13] >> 4
    cdef int transport = h[13] & 0x0F
    cdef Py_ssize_t block
    cdef _posix.sockaddr_in *v4
    cdef const char *a = h + PP_V2_PREAMBLE
    p.command = h[12] & 0x0F
    if p.command == PP_LOCAL or family == 0 or transport == 0:
        return 0
    block = (PP_V2_ADDR_INET if family == 1 else
             PP_V2_ADDR_INET6 if family == 2 else PP_V2_ADDR_UNIX)
    if n - PP_V2_PREAMBLE < block:
        return _err(p, PE_V2_ADDRESS_LENGTH)
    if family == 1:
        # struct { uint32_t src_addr, dst_addr; uint16_t src_port, dst_port; }
        v4 = <_posix.sockaddr_in *>&p.src
        v4.sin_family = _posix.AF_INET
        memcpy(&v4.sin_addr, a, 4)
        memcpy(&v4.sin_port, a + 8, 2)
        v4 = <_posix.sockaddr_in *>&p.dst
        v4.sin_family = _posix.AF_INET
        memcpy(&v4.sin_addr, a + 4, 4)
        memcpy(&v4.sin_port, a + 10, 2)
        p.family = _posix.AF_INET
    elif family == 2:
        p.src.sin6_family = _posix.AF_INET6
        memcpy(&p.src.sin6_addr, a, 16)
        memcpy(&p.src.sin6_port, a + 32, 2)
        p.dst.sin6_family = _posix.AF_INET6
        memcpy(&p.dst.sin6_addr, a + 16, 16)
        memcpy(&p.dst.sin6_port, a + 34, 2)
        p.family = _posix.AF_INET6
    else:
        # Two 108-byte paths, read from the header by proxy_address().
        p.src.sin6_family = p.dst.sin6_family = _posix.AF_UNIX
        p.family = _posix.AF_UNIX
    p.transport = _posix.SOCK_STREAM if transport == 1 else _posix.SOCK_DGRAM
    p.tlv_off = PP_V2_PREAMBLE + block
    return _parse_tlvs(p, h, p.tlv_off, n)


# ---------------------------------------------------------------- feeding

cdef int _complete(ProxyParser *p, const char *h) noexcept nogil:
    cdef int ok
    p.header = h
    if p.version == 1:
        ok = _parse_v1(p, h, p.header_len)
    else:
        ok = _parse_v2(p, h, p.header_len)
    if ok < 0:
        p.family = _posix.AF_UNSPEC
        p.transport = 0
        return -1
    p.state = S_DONE
    p.event = PP_DONE
    return 0


cdef Py_ssize_t proxy_feed(ProxyParser *p, const char *data, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t used = 0
    cdef Py_ssize_t room, cap
    cdef char *nbuf
    cdef int event
    if p.state != S_PARSING:
        return 0
    if p.blen == 0:
        # The usual case: the whole header came in this read.
        event = _scan(p, data, n)
        if event == PP_DONE:
            return p.header_len if _complete(p, data) == 0 else 0
        if event == PP_ERROR:
            return 0
    # The header is split: collect it, taking from ``data`` no more than
    # the header can hold (107 bytes for v1; the preamble, then the length
    # it announces, for v2), so the bytes after it stay the caller's.
    while used < n:
        if p.version == 1:
            cap = PP_V1_MAX
        elif p.header_len:
            cap = p.header_len
        else:
            cap = PP_V2_PREAMBLE
        if p.bcap < cap:
            nbuf = <char *>realloc(p.buf, cap)
            if nbuf == NULL:
                _fail(p, PE_NO_MEMORY)
                return 0
            p.buf = nbuf
            p.bcap = cap
        room = cap - p.blen
        if room > n - used:
            room = n - used
        memcpy(p.buf + p.blen, data + used, room)
        p.blen += room
        used += room
        event = _scan(p, p.buf, p.blen)
        if event == PP_ERROR:
            return 0
        if event == PP_DONE:
            # A v1 line may end before the bytes taken on the chance: they
            # go back to the caller.
            used -= p.blen - p.header_len
            p.blen = p.header_len
            return used if _complete(p, p.buf) == 0 else 0
    p.event = PP_NEED_MORE
    return n


# ---------------------------------------------------------------- Python view

class ProxyProtocolError(ValueError):
    """A refused PROXY protocol header: ``code`` indexes ``ERROR_REASONS``,
    ``reason`` is its text. The connection that sent it must be closed."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ProxyCommand(enum.IntEnum):
    LOCAL = PP_LOCAL
    PROXY = PP_PROXY


cdef object proxy_error(const ProxyParser *p):
    return ProxyProtocolError(p.error, proxy_reason(p.error).decode("ascii"))


cdef object _unix_path(const char *s):
    # The socket module's form: a str path (file system encoding), or bytes
    # for an abstract name (leading NUL); the field is NUL-padded.
    cdef Py_ssize_t n = PP_UNIX_PATH
    while n > 0 and s[n - 1] == 0:
        n -= 1
    raw = PyBytes_FromStringAndSize(s, n)
    if n and s[0] == 0:
        return raw
    return os.fsdecode(raw.split(b"\0", 1)[0])


cdef object proxy_address(const ProxyParser *p, bint source):
    """The source (client) or destination address in the socket module's
    form -- ``(host, port)`` for AF_INET, ``(host, port, 0, 0)`` for
    AF_INET6, a path for AF_UNIX -- or None when the header carries none.
    AF_UNIX paths are read from the header: call before proxy_free()."""
    if p.family == _posix.AF_UNIX:
        if p.header == NULL:
            return None
        return _unix_path(p.header + PP_V2_PREAMBLE + (0 if source else PP_UNIX_PATH))
    if p.family == _posix.AF_INET or p.family == _posix.AF_INET6:
        return sockaddr_to_address(&p.src if source else &p.dst)
    return None


cdef inline object _slice(const ProxyParser *p, ProxySlice s):
    if not s.off:
        return None
    return PyBytes_FromStringAndSize(p.header + s.off, s.len)


@cython.final
cdef class ProxyHeader:
    """A parsed PROXY protocol header.

    ``command`` is ``ProxyCommand.LOCAL`` (v2 health checks: the connection's
    real endpoints stand) or ``ProxyCommand.PROXY``. ``family`` is a
    ``socket.AddressFamily``; AF_UNSPEC (v2 LOCAL, v1 UNKNOWN, or an
    unspecified v2 family or transport) means the header names no addresses
    and ``source``/``destination`` are None. ``tlvs`` lists a v2 PROXY
    header's ``(type, value)`` pairs in order; ``alpn``, ``authority``,
    ``ssl_version`` and ``ssl_cn`` are the values of those TLVs (bytes, or
    None when absent), ``ssl_client``/``ssl_verify`` PP2_TYPE_SSL's fields.
    ``crc32c_verified`` is True when the header carried a PP2_TYPE_CRC32C
    TLV (a header whose checksum does not match is refused). ``length`` is
    the header's size in bytes.
    """
    cdef readonly int version
    cdef readonly object command
    cdef readonly object family
    cdef readonly int transport
    cdef readonly object source
    cdef readonly object destination
    cdef readonly list tlvs
    cdef readonly object alpn
    cdef readonly object authority
    cdef readonly object ssl_version
    cdef readonly object ssl_cn
    cdef readonly object ssl_client
    cdef readonly object ssl_verify
    cdef readonly bint crc32c_verified
    cdef readonly Py_ssize_t length

    def __init__(self):
        raise TypeError("ProxyHeader objects come from the parser")

    @staticmethod
    cdef ProxyHeader new(const ProxyParser *p):
        cdef ProxyHeader h = ProxyHeader.__new__(ProxyHeader)
        cdef Py_ssize_t off = p.tlv_off
        h.version = p.version
        h.command = ProxyCommand(p.command)
        h.family = _socket.AddressFamily(p.family)
        h.transport = p.transport
        h.source = proxy_address(p, True)
        h.destination = proxy_address(p, False)
        h.tlvs = []
        if p.tlv_off:
            while off < p.header_len:        # validated by _parse_tlvs
                h.tlvs.append((<unsigned char>p.header[off],
                               PyBytes_FromStringAndSize(p.header + off + 3, _be16(p.header + off + 1))))
                off += 3 + _be16(p.header + off + 1)
        h.alpn = _slice(p, p.alpn)
        h.authority = _slice(p, p.authority)
        h.ssl_version = _slice(p, p.ssl_version)
        h.ssl_cn = _slice(p, p.ssl_cn)
        h.ssl_client = p.ssl_client if p.has_ssl else None
        h.ssl_verify = p.ssl_verify if p.has_ssl else None
        h.crc32c_verified = p.crc32c_verified
        h.length = p.header_len
        return h

    def __repr__(self):
        return (f"<ProxyHeader v{self.version} {self.command.name} {self.family.name} "
                f"{self.source!r} -> {self.destination!r} tlvs={len(self.tlvs)}>")


cdef _check_max_v2_size(Py_ssize_t max_v2_size):
    if not PP_MIN_MAX_V2_SIZE <= max_v2_size <= PP_V2_MAX:
        raise ValueError(f"max_v2_size must be in [{PP_MIN_MAX_V2_SIZE}, {PP_V2_MAX}]")


@cython.final
cdef class ProxyHeaderParser:
    """Incremental parser: ``feed(data)`` returns ``(header, consumed)``.

    ``header`` is None while more bytes are needed (every byte given was
    consumed), then the ``ProxyHeader``; ``consumed`` counts the bytes of
    this ``data`` that belonged to the header: ``data[consumed:]`` is the
    application's. Once complete, ``feed`` returns ``(header, 0)``. A refused
    header raises ``ProxyProtocolError``, and so does every later feed.
    ``max_v2_size`` bounds a v2 header (16 + its length field).
    """
    cdef ProxyParser _p
    cdef readonly ProxyHeader header

    def __cinit__(self, *, Py_ssize_t max_v2_size=PP_DEFAULT_MAX_V2_SIZE):
        _check_max_v2_size(max_v2_size)
        proxy_init(&self._p, max_v2_size)

    def __dealloc__(self):
        proxy_free(&self._p)

    @property
    def buffered(self):
        """Bytes of a split header held in the parser's own buffer."""
        return self._p.blen if self.header is None else 0

    def feed(self, data):
        cdef bytes raw = data if type(data) is bytes else bytes(data)
        cdef Py_ssize_t n
        if self._p.event == PP_ERROR:
            raise proxy_error(&self._p)
        if self.header is not None:
            return self.header, 0
        n = proxy_feed(&self._p, raw, len(raw))
        if self._p.event == PP_ERROR:
            proxy_free(&self._p)
            raise proxy_error(&self._p)
        if self._p.event == PP_DONE:
            self.header = ProxyHeader.new(&self._p)
            proxy_free(&self._p)
        return self.header, n


def parse_proxy_header(data, *, Py_ssize_t max_v2_size=PP_DEFAULT_MAX_V2_SIZE):
    """Parse the PROXY protocol header at the start of ``data``.

    Returns ``(ProxyHeader, consumed)``: ``data[consumed:]`` follows the
    header. Returns ``(None, 0)`` when ``data`` is a valid but incomplete
    start of a header; raises ``ProxyProtocolError`` for anything else.
    """
    header, n = ProxyHeaderParser(max_v2_size=max_v2_size).feed(data)
    return (header, n) if header is not None else (None, 0)
