# ---------------------------------------------------------------- client address, access log
#
# The client a request is from, and the scheme it used, are the
# connection's own unless the peer is a trusted proxy (the
# forwarded_allow_ips option) that says otherwise in X-Forwarded-* or
# Forwarded (cyreactor.forwarded). HttpProtocol._client_scheme() is the one
# place that decides, for every interface: Request.client/scheme, the ASGI
# scope, the WSGI environ and the access log all ask it.
#
# The access log is built only when it is on: an entry per request is taken
# from the head when it is complete, and written when the response is done.

import datetime as _datetime
import json as _json

from cyreactor import forwarded as _forwarded

cdef object _access_logger = logging.getLogger("cyreactor.http.access")

ACCESS_LOG_FORMATS = ("combined", "common", "json")


cdef list _fields(const char *base, const HeaderSlot *slots, Py_ssize_t n):
    """The field lines at ``slots`` of the head at ``base``, as (lower-case
    name, value) bytes pairs."""
    cdef Py_ssize_t i, j
    cdef const HeaderSlot *s
    cdef list items = []
    cdef bytes name
    cdef char *c
    for i in range(n):
        s = &slots[i]
        # A new bytes object is ours until it is shared: lowered in place.
        name = PyBytes_FromStringAndSize(base + s.name_off, s.name_len)
        c = PyBytes_AS_STRING(name)
        for j in range(s.name_len):
            if c'A' <= c[j] <= c'Z':
                c[j] = c[j] + 32
        items.append((name, PyBytes_FromStringAndSize(base + s.value_off, s.value_len)))
    return items


cdef str _connection_scheme(Connection conn):
    return "https" if conn is not None and conn.is_tls() else "http"


cdef tuple _resolve_client(ServerCore core, Connection conn, object headers):
    cdef object peer = conn.peername if conn is not None else None
    cdef str scheme = _connection_scheme(conn)
    if core._proxies is not None:
        return core._proxies.resolve(peer, headers, scheme)
    if type(peer) is tuple:
        return (peer[0], peer[1]), scheme
    return None, scheme


cdef tuple _access_entry(HttpProtocol proto):
    # At HP_HEAD only: the parser's head and slots are valid until the next feed.
    cdef HttpParser *p = &proto._ex.p
    cdef const char *eol = <const char *>memchr(p.head, c'\r', p.head_len)
    cdef list headers = _fields(p.head, p.slots, p.nheaders) if p.slots != NULL else []
    client, scheme = proto._client_scheme(headers)
    referer = user_agent = None
    for name, value in headers:
        if name == b"referer" and referer is None:
            referer = value
        elif name == b"user-agent" and user_agent is None:
            user_agent = value
    return (client[0] if client else "-", PyBytes_FromStringAndSize(p.head, eol - p.head),
            referer, user_agent)


cdef object _log_access(HttpProtocol proto, int status, long long size):
    cdef tuple entry = proto._access
    proto._access = None
    if entry is None:
        # Refused before a head was complete: no request line to report.
        try:
            peer = proto._conn.peername if proto._conn is not None else None
        except Exception:
            peer = None
        entry = (peer[0] if type(peer) is tuple else "-", None, None, None)
    _access_logger.info("%s", proto._core._access_format(entry, status, size))


cdef str _text(object value):
    # Apache escapes '"', '\' and control bytes in logged strings; so do we.
    if value is None:
        return "-"
    return (<bytes>value).decode("latin-1").encode("unicode_escape").decode("ascii").replace('"', '\\"')


def _combined(tuple entry, int status, long long size):
    host, line, referer, agent = entry
    now = _datetime.datetime.now().astimezone()
    return (f'{host} - - [{now:%d/%b/%Y:%H:%M:%S %z}] "{_text(line)}" {status} '
            f'{size if size > 0 else "-"} "{_text(referer)}" "{_text(agent)}"')


def _common(tuple entry, int status, long long size):
    host, line, _, _ = entry
    now = _datetime.datetime.now().astimezone()
    return f'{host} - - [{now:%d/%b/%Y:%H:%M:%S %z}] "{_text(line)}" {status} {size if size > 0 else "-"}'


def _json_line(tuple entry, int status, long long size):
    host, line, referer, agent = entry
    return _json.dumps({
        "time": _datetime.datetime.now().astimezone().isoformat(timespec="milliseconds"),
        "client": host,
        "request": line.decode("latin-1") if line is not None else None,
        "status": status,
        "bytes": max(size, 0),
        "referer": referer.decode("latin-1") if referer is not None else None,
        "user_agent": agent.decode("latin-1") if agent is not None else None,
    }, ensure_ascii=False)


cdef object _access_formatter(str name):
    return {"combined": _combined, "common": _common, "json": _json_line}[name]
