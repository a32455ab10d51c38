# An IPv4/IPv6 address kept in C (a sockaddr_in, or a sockaddr_in6, in
# sockaddr_in6 storage) in the socket module's form: the one conversion for
# accept4()'s peer address and a PROXY protocol header's. Inline, so each
# module that cimports it has its own copy and no call crosses modules.
from cyreactor cimport _posix


cdef inline object sockaddr_to_address(const _posix.sockaddr_in6 *addr):
    """``(host, port)`` for AF_INET, ``(host, port, flowinfo, scope_id)``
    for AF_INET6, None for any other family."""
    cdef char text[_posix.INET6_ADDRSTRLEN]
    cdef const _posix.sockaddr_in *v4
    if addr.sin6_family == _posix.AF_INET:
        v4 = <const _posix.sockaddr_in *>addr
        _posix.inet_ntop(_posix.AF_INET, &v4.sin_addr, text, sizeof(text))
        return (text.decode("ascii"), _posix.ntohs(v4.sin_port))
    if addr.sin6_family == _posix.AF_INET6:
        _posix.inet_ntop(_posix.AF_INET6, &addr.sin6_addr, text, sizeof(text))
        return (text.decode("ascii"), _posix.ntohs(addr.sin6_port),
                _posix.ntohl(addr.sin6_flowinfo), addr.sin6_scope_id)
    return None
