# ---------------------------------------------------------------- bytes
#
# What the head parser asks of single bytes: one class table, the scans
# over runs of a class, and the compare of a field name with a known one.

# Byte classes (RFC 9110 5.6.2 token, 5.5 field-value, RFC 9112 3.2 target).
cdef enum:
    C_TCHAR = 1          # token character
    C_VALUE = 2          # field-value byte: VCHAR, obs-text, SP, HTAB
    C_TARGET = 4         # request-target byte: VCHAR (0x21-0x7E)
    C_HEX = 8
    C_SCHEME = 16        # ALPHA DIGIT + - .
    C_LINE = 32          # any byte of a line but CR and LF

cdef unsigned char CLASS[256]


cdef void _init_tables() noexcept:
    cdef int c
    cdef const char *tspecials = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        CLASS[c] = 0 if c == 0x0D or c == 0x0A else C_LINE
        if 0x21 <= c <= 0x7E:
            CLASS[c] |= C_TARGET | C_VALUE
        if c >= 0x80 or c == 0x20 or c == 0x09:
            CLASS[c] |= C_VALUE
        if (c'0' <= c <= c'9') or (c'a' <= c <= c'z') or (c'A' <= c <= c'Z'):
            CLASS[c] |= C_TCHAR | C_SCHEME
        if (c'0' <= c <= c'9') or (c'a' <= c <= c'f') or (c'A' <= c <= c'F'):
            CLASS[c] |= C_HEX
    while tspecials[0]:
        CLASS[<unsigned char>tspecials[0]] |= C_TCHAR
        tspecials += 1
    for c in b"+-.":
        CLASS[c] |= C_SCHEME


_init_tables()


cdef inline bint _is(unsigned char c, unsigned char cls) noexcept nogil:
    return (CLASS[c] & cls) != 0


cdef inline bint _ieq(const char *s, Py_ssize_t n, const char *lower, Py_ssize_t m) noexcept nogil:
    # ASCII case-insensitive compare of a token against a lower-case literal.
    # ``c | 0x20`` maps only 'A'-'Z' onto letters here: the only other bytes
    # it could map onto '-' or a digit are control bytes, which no token holds.
    # Four bytes a step: the names compared are 4 to 17 bytes long.
    cdef Py_ssize_t i = 0
    cdef uint32_t a, b
    if n != m:
        return False
    while i + 4 <= n:
        memcpy(&a, s + i, 4)
        memcpy(&b, lower + i, 4)
        if (a | 0x20202020) != b:
            return False
        i += 4
    while i < n:
        if (<unsigned char>s[i] | 0x20) != <unsigned char>lower[i]:
            return False
        i += 1
    return True


cdef inline int _hexval(unsigned char c) noexcept nogil:
    if c <= c'9':
        return c - c'0'
    return (c | 0x20) - c'a' + 10


# The runs of a class are scanned sixteen bytes at a time where SSE2 is
# (every x86-64): a head is mostly long runs of ordinary bytes, and a call
# to memchr() costs more than a short run. A block scan returns the offset
# of the first byte that ends the run within the whole blocks, or of the
# first byte after them; _span() goes on from there a byte at a time with
# CLASS, which stays the one statement of each class (the block masks are
# checked against it for every byte at every offset, tests/test_http_parser.py).
cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* A mask bit per byte of v that ends the run. */
    static inline int cyr_line_stops(__m128i v) {
        return _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(13)),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8(10))));
    }
    /* x is v with each sign bit flipped: signed compares on it order the
       bytes as unsigned. */
    static inline int cyr_value_stops(__m128i v) {
        __m128i x = _mm_xor_si128(v, _mm_set1_epi8((char)0x80));
        __m128i ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(9)),
                                       _mm_cmplt_epi8(x, _mm_set1_epi8((char)(0x20 ^ 0x80))));
        return _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
    }
    static inline int cyr_target_stops(__m128i v) {
        __m128i x = _mm_xor_si128(v, _mm_set1_epi8((char)0x80));
        return _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8((char)(0x21 ^ 0x80))),
                                              _mm_cmpgt_epi8(x, _mm_set1_epi8((char)(0x7e ^ 0x80)))));
    }
    static inline Py_ssize_t cyr_blocks(const char *s, Py_ssize_t n, int (*stops)(__m128i)) {
        Py_ssize_t i = 0;
        for (; i + 16 <= n; i += 16) {
            int m = stops(_mm_loadu_si128((const __m128i *)(s + i)));
            if (m) return i + __builtin_ctz(m);
        }
        return i;
    }
    #define cyr_line_blocks(s, n) cyr_blocks((s), (n), cyr_line_stops)
    #define cyr_value_blocks(s, n) cyr_blocks((s), (n), cyr_value_stops)
    #define cyr_target_blocks(s, n) cyr_blocks((s), (n), cyr_target_stops)
    #else
    #define cyr_line_blocks(s, n) ((Py_ssize_t)0)
    #define cyr_value_blocks(s, n) ((Py_ssize_t)0)
    #define cyr_target_blocks(s, n) ((Py_ssize_t)0)
    #endif
    """
    Py_ssize_t cyr_line_blocks(const char *s, Py_ssize_t n) nogil
    Py_ssize_t cyr_value_blocks(const char *s, Py_ssize_t n) nogil
    Py_ssize_t cyr_target_blocks(const char *s, Py_ssize_t n) nogil


cdef inline Py_ssize_t _span(const char *s, Py_ssize_t n, Py_ssize_t i, unsigned char cls) noexcept nogil:
    # From i, where a block scan stopped, to the first byte of s[:n] not of
    # class cls, or n.
    while i < n and _is(<unsigned char>s[i], cls):
        i += 1
    return i
