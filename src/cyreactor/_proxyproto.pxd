# A strict, incremental PROXY protocol v1/v2 header parser (HAProxy's
# proxy-protocol.txt, "The PROXY protocol, Versions 1 & 2") over const char*.
#
# The parser is a plain C struct a connection can embed; it allocates only
# when a header is split across reads (then at most the header's size: 107
# bytes for v1, 16 + the length field for v2, refused beyond ``max_v2_size``),
# and proxy_free() releases that buffer.
#
# Use: proxy_init(), then proxy_feed() on the first bytes read, again on each
# read while ``p.event`` is PP_NEED_MORE. proxy_feed() returns how many of
# ``data``'s bytes were header bytes and sets ``p.event``:
#   PP_NEED_MORE  every byte given was consumed (held in ``p.buf``); call
#                 again with more data
#   PP_DONE       the header is complete and valid; the return value counts
#                 its bytes in this call's ``data``, and the bytes after them
#                 are the application's. The result fields below are set;
#                 ``p.header`` points at the whole header (into ``data`` or
#                 ``p.buf``) until proxy_free()
#   PP_ERROR      the header is refused: ``p.error`` (a PE_* code, its text
#                 from proxy_reason()); the connection must be closed (the
#                 spec: "must be discarded and cause the receiver to abort")
# After PP_DONE or PP_ERROR further calls change nothing and return 0.
#
# Which address to use (spec 2.1 and 2.2): ``p.family`` is AF_INET/AF_INET6
# with the client in ``p.src`` (a sockaddr_in or sockaddr_in6 in the same
# storage Connection keeps accept4()'s address in), AF_UNIX with the paths
# in the header (proxy_address()), or AF_UNSPEC -- v2 LOCAL, v1 UNKNOWN, an
# unspecified v2 family or transport -- when the connection's real peer
# stays.
from libc.stdint cimport uint8_t, uint16_t, uint32_t

from cyreactor cimport _posix


cdef enum:
    PP_NEED_MORE = 0
    PP_DONE = 1
    PP_ERROR = 2

# v2 commands (the low nibble of the 13th byte); v1 headers are PP_PROXY.
cdef enum:
    PP_LOCAL = 0
    PP_PROXY = 1

# Why a header was refused: the index into the reason table (proxy_reason()).
cdef enum:
    PE_NONE = 0
    PE_NOT_PROXY             # neither "PROXY " nor the v2 signature
    PE_V1_TOO_LONG           # no CRLF in the first 107 bytes
    PE_V1_BARE_CR_LF
    PE_V1_PROTOCOL           # not TCP4, TCP6 or UNKNOWN
    PE_V1_FIELDS             # not four fields separated by single spaces
    PE_V1_ADDRESS
    PE_V1_PORT
    PE_V2_VERSION
    PE_V2_COMMAND
    PE_V2_FAMILY
    PE_V2_TRANSPORT
    PE_V2_TOO_LONG           # 16 + length above max_v2_size
    PE_V2_ADDRESS_LENGTH     # length shorter than the family's address block
    PE_V2_TLV                # a TLV runs past the header
    PE_V2_TLV_DUPLICATE
    PE_V2_TLV_VALUE          # a TLV's value breaks its type's format
    PE_V2_CHECKSUM           # PP2_TYPE_CRC32C does not match
    PE_NO_MEMORY
    PE_COUNT

# Sizes from the spec.
cdef enum:
    PP_V1_MAX = 107                  # "PROXY UNKNOWN ffff:...:ffff ... 65535 65535\r\n"
    PP_V2_PREAMBLE = 16              # signature, ver_cmd, fam, len
    PP_V2_ADDR_INET = 12
    PP_V2_ADDR_INET6 = 36
    PP_V2_ADDR_UNIX = 216            # two 108-byte paths
    PP_UNIX_PATH = 108
    PP_V2_MAX = 16 + 65535
    PP_DEFAULT_MAX_V2_SIZE = 4096
    PP_MIN_MAX_V2_SIZE = 16 + 216    # every address family must fit

# PP2_TYPE_* (spec 2.2.1 - 2.2.7).
cdef enum:
    PP2_TYPE_ALPN = 0x01
    PP2_TYPE_AUTHORITY = 0x02
    PP2_TYPE_CRC32C = 0x03
    PP2_TYPE_NOOP = 0x04
    PP2_TYPE_UNIQUE_ID = 0x05
    PP2_TYPE_SSL = 0x20
    PP2_SUBTYPE_SSL_VERSION = 0x21
    PP2_SUBTYPE_SSL_CN = 0x22
    PP2_UNIQUE_ID_MAX = 128


# Where one TLV value sits: an offset from ``header`` and a length.
ctypedef struct ProxySlice:
    uint32_t off
    uint32_t len


ctypedef struct ProxyParser:
    Py_ssize_t max_v2_size     # 16 + length above this is refused
    int state
    int event
    int error                  # a ProxyError when event is PP_ERROR

    # A header split across reads is collected here, else NULL.
    char *buf
    Py_ssize_t blen
    Py_ssize_t bcap

    # The header, valid from PP_DONE to proxy_free().
    const char *header
    Py_ssize_t header_len      # known once the v2 preamble or the v1 CRLF is in
    int version                # 1 or 2
    int command                # PP_LOCAL or PP_PROXY
    int family                 # AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC
    int transport              # SOCK_STREAM, SOCK_DGRAM or 0 (unspecified)
    _posix.sockaddr_in6 src    # a sockaddr_in for AF_INET (cast), as accept4 fills it
    _posix.sockaddr_in6 dst

    # v2 TLVs (PROXY command only): where they start, and the ones kept.
    Py_ssize_t tlv_off
    ProxySlice alpn            # len 0: absent
    ProxySlice authority
    ProxySlice ssl_version
    ProxySlice ssl_cn
    bint has_ssl
    uint8_t ssl_client         # PP2_CLIENT_* bits
    uint32_t ssl_verify        # 0: the client certificate was verified
    bint crc32c_verified       # a PP2_TYPE_CRC32C TLV was present and matched


cdef void proxy_init(ProxyParser *p, Py_ssize_t max_v2_size) noexcept nogil
cdef void proxy_free(ProxyParser *p) noexcept nogil
cdef Py_ssize_t proxy_feed(ProxyParser *p, const char *data, Py_ssize_t n) noexcept nogil
cdef const char *proxy_reason(int error) noexcept nogil
cdef object proxy_address(const ProxyParser *p, bint source)
cdef object proxy_error(const ProxyParser *p)
