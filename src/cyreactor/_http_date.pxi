# ---------------------------------------------------------------- the Date cache
#
# RFC 9110 6.6.1: an origin server with a clock sends Date. The value is an
# IMF-fixdate (RFC 9110 5.6.7), formatted by hand because strftime's %a/%b
# follow the C locale, and refreshed at most once a second: one vDSO time()
# call per read. Users of the cached text compare _date_sec with the second
# they copied (the demo's canned responses do).

cdef extern from "<time.h>" nogil:
    time_t c_time "time"(time_t *t)
    tm *gmtime_r(const time_t *t, tm *out)

cdef char _date[32]
cdef time_t _date_sec = -1
cdef const char *_DAYS = b"SunMonTueWedThuFriSat"
cdef const char *_MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"


cdef inline void _put2(char *s, int v) noexcept nogil:
    s[0] = <char>(c'0' + v // 10)
    s[1] = <char>(c'0' + v % 10)


cdef void _refresh_date() noexcept nogil:
    global _date_sec
    cdef time_t now = c_time(NULL)
    cdef tm t
    if now == _date_sec:
        return
    _date_sec = now
    gmtime_r(&now, &t)
    memcpy(_date, _DAYS + 3 * t.tm_wday, 3)
    _date[3] = c','
    _date[4] = c' '
    _put2(_date + 5, t.tm_mday)
    _date[7] = c' '
    memcpy(_date + 8, _MONTHS + 3 * t.tm_mon, 3)
    _date[11] = c' '
    _put2(_date + 12, (t.tm_year + 1900) // 100)
    _put2(_date + 14, (t.tm_year + 1900) % 100)
    _date[16] = c' '
    _put2(_date + 17, t.tm_hour)
    _date[19] = c':'
    _put2(_date + 20, t.tm_min)
    _date[22] = c':'
    _put2(_date + 23, t.tm_sec)
    memcpy(_date + 25, b" GMT", 4)
    _date[29] = 0


def http_date():
    """The current Date header value, as the server sends it."""
    _refresh_date()
    return PyBytes_FromStringAndSize(_date, 29)


_refresh_date()
