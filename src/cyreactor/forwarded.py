"""Client address and scheme from the forwarding headers of trusted proxies.

Behind a reverse proxy the connection's peer is the proxy; the client's
address and the scheme it used travel in headers the proxy adds:
``X-Forwarded-For``/``X-Forwarded-Proto`` (de facto, what nginx, HAProxy,
Envoy and the cloud load balancers send) or RFC 7239 ``Forwarded``. Anyone
can send those headers, so they are honoured only when the peer is a trusted
proxy, given as uvicorn's ``--forwarded-allow-ips`` gives it: IP addresses,
CIDR networks, ``"*"`` (trust every peer), and here also ``"unix:"`` (trust
Unix-socket peers, nginx's ``set_real_ip_from unix:`` spelling); default
``"127.0.0.1"``. An IPv4 entry also matches the IPv4-mapped IPv6 form in
which a dual-stack listener reports the peer.

Which hop is the client: each proxy appends the address it received the
connection from, so the list is walked from the right, skipping trusted
proxies; the first untrusted hop is the client (as uvicorn >= 0.30 does). If
every hop is trusted, the left-most is the client. Only the hops walked are
interpreted: whatever a client put to the left of its own address is never
read, so it can neither spoof nor break the lookup.

Precedence (``mode=``):

- ``"auto"`` (default): if the request has any ``X-Forwarded-For`` or
  ``X-Forwarded-Proto`` line, those are used and ``Forwarded`` is ignored;
  otherwise ``Forwarded`` is used. The two families are never mixed: a proxy
  that sets one family usually passes the other through from the client
  untouched, so mixing would let the client choose. X-Forwarded-* wins
  because the common proxies send it (and nginx, for one, forwards a
  client's ``Forwarded`` as is).
- ``"x-forwarded"``: only X-Forwarded-* (uvicorn's behaviour);
- ``"forwarded"``: only ``Forwarded``.

Pin the family your proxy actually sets when you can: a trusted proxy must
set (append to or overwrite) the headers this module reads, or the client
controls them.

``X-Forwarded-Proto``: ``http``, ``https``, ``ws`` or ``wss`` (any case).
One value applies as is; a list with one value per ``X-Forwarded-For`` hop
gives the chosen hop's; any other list is ignored. ``Forwarded``: the
chosen element's ``proto=``. Repeated header lines form one list (RFC 9110
5.3). ``Forwarded`` follows RFC 7239 section 4: quoted values, quoted IPv6
``for="[2001:db8::1]:4711"``, ``unknown`` and obfuscated (``_hidden``)
identifiers, which are reported as the client's host as they are (port 0
unless numeric). Malformed headers never raise: a malformed header is
ignored as if absent (for X-Forwarded-For: a walked hop that is not an IP
address, with an optional port).
"""
import ipaddress
import re
import socket

__all__ = ["DEFAULT_ALLOW_IPS", "SCHEMES", "TrustedProxies"]

DEFAULT_ALLOW_IPS = "127.0.0.1"
SCHEMES = frozenset({"http", "https", "ws", "wss"})
_MODES = ("auto", "x-forwarded", "forwarded")
_CACHE_SIZE = 4096

_OWS = " \t"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 7239 section 4: forwarded-pair = token "=" value; value = token /
# quoted-string (RFC 9110 5.6.4: qdtext, or quoted-pair: a backslash and
# HTAB, SP, VCHAR or obs-text).
_PAIR = re.compile(r'(%s)=(?:(%s)|"((?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*)")'
                   % (_TOKEN, _TOKEN))
_QUOTED_PAIR = re.compile(r"\\(.)")
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")      # RFC 7239 6.3 obfnode / obfport
_PORT = re.compile(r"[0-9]{1,5}")


def _address(text, family=None):
    """The socket module's text for an IP address (inet_ntop's, so an
    IPv4-mapped IPv6 address keeps its dotted tail), or None. inet_pton is
    strict: dotted quads without leading zeros, no scope id."""
    if ":" in text:
        if family == socket.AF_INET:
            return None
        try:
            return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
        except (OSError, ValueError):
            return None
    if family == socket.AF_INET6:
        return None
    try:
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        return None
    return text


def _allow_entry(entry):
    """The address or network an allow-list entry names. Host bits in a
    network are ignored, as nginx does; a scope id never matches a peer (the
    socket module reports the scope apart), so it is refused."""
    try:
        if "%" not in entry:
            return ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry)
    except ValueError:
        pass
    raise ValueError(f"not an IP address, a network, '*' or 'unix:': {entry!r}")


def _port(text):
    return int(text) if _PORT.fullmatch(text) and int(text) <= 65535 else None


def _xff_hop(text):
    """``(host, port)`` for one X-Forwarded-For element -- ``1.2.3.4``,
    ``1.2.3.4:80``, ``::1``, ``[::1]``, ``[::1]:80`` -- or None."""
    text = text.strip(_OWS)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        host = _address(host, socket.AF_INET6) if sep else None
        port = 0 if not rest else _port(rest[1:]) if rest[0] == ":" else None
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        host, port = _address(host, socket.AF_INET), _port(rest)
    else:
        host, port = _address(text), 0
    if host is None or port is None:
        return None
    return host, port


def _forwarded_node(value):
    """``(host, port)`` for an RFC 7239 ``node`` (section 6): an IPv4
    address, a bracketed IPv6 address, ``unknown`` or an obfuscated
    identifier, with an optional port or obfuscated port (read as 0); or
    None."""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        host = _address(host, socket.AF_INET6) if sep else None
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
        if host.lower() == "unknown":
            host = "unknown"
        elif not _OBFUSCATED.fullmatch(host):
            host = _address(host, socket.AF_INET)
    if host is None or (rest and rest[0] != ":"):
        return None
    if not rest or _OBFUSCATED.fullmatch(rest[1:]):
        return host, 0
    port = _port(rest[1:])
    return None if port is None else (host, port)


def _forwarded_elements(text):
    """The elements of a Forwarded field value (``1#forwarded-element``, an
    element being pairs separated by ``;``; OWS allowed around ``,`` and
    ``;``) as dicts of lower-case parameter names to values, or None when
    malformed. RFC 7239 section 4: a parameter occurs once per element."""
    elements, element = [], {}
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t;":
            i += 1
            continue
        if c == ",":
            elements.append(element)
            element = {}
            i += 1
            continue
        m = _PAIR.match(text, i)
        if m is None:
            return None
        name = m[1].lower()
        if name in element:
            return None
        element[name] = m[2] if m[2] is not None else _QUOTED_PAIR.sub(r"\1", m[3])
        i = m.end()
        while i < n and text[i] in _OWS:
            i += 1
        if i < n and text[i] not in ",;":
            return None
    elements.append(element)
    return [e for e in elements if e]


def _scheme(value):
    value = value.strip(_OWS).lower()
    return value if value in SCHEMES else None


class TrustedProxies:
    """Built once from the allow list; ``resolve()`` runs per request.

    ``allow_ips``: a comma-separated string or an iterable of entries (see
    the module docstring); an entry that is none of those raises
    ``ValueError``, so a typo fails at start-up rather than trusting nobody
    quietly. ``mode``: ``"auto"``, ``"x-forwarded"`` or ``"forwarded"``.
    """

    def __init__(self, allow_ips=DEFAULT_ALLOW_IPS, mode="auto"):
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}")
        self.mode = mode
        if isinstance(allow_ips, str):
            allow_ips = allow_ips.split(",")
        self.entries = [e.strip() for e in allow_ips if e.strip()]
        self.trust_all = "*" in self.entries
        self.trust_unix = self.trust_all or "unix:" in self.entries
        self._hosts = set()
        self._networks = []
        self._cache = {}
        for entry in self.entries:
            if entry in ("*", "unix:"):
                continue
            ip = _allow_entry(entry)
            if "/" in entry:
                self._networks.append(ip)
                continue
            self._hosts.add(_address(str(ip)))
            if ip.version == 4:
                self._hosts.add("::ffff:" + str(ip))

    def __repr__(self):
        return f"TrustedProxies({','.join(self.entries)!r}, mode={self.mode!r})"

    def is_trusted(self, host):
        """Whether ``host`` (the socket module's text for an IP address) is a
        trusted proxy."""
        if self.trust_all or host in self._hosts:
            return True
        if not self._networks:
            return False
        trusted = self._cache.get(host)
        if trusted is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                ip = None
            if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            trusted = ip is not None and any(ip in net for net in self._networks)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[host] = trusted
        return trusted

    def resolve(self, peer, headers, scheme="http"):
        """``(client, scheme)`` for one request.

        ``peer``: the connection's peer in the socket module's form (a
        ``(host, port, ...)`` tuple, a Unix path, or None). ``headers``:
        ``(name, value)`` bytes pairs, names in lower case. ``scheme``: the
        connection's own. ``client`` is ``(host, port)`` -- from the headers
        when the peer is trusted and they name a client, else the peer's --
        or None for a Unix-socket peer the headers say nothing about. The
        scheme returned is lower case; a websocket request maps http/https
        to ws/wss itself.
        """
        if type(peer) is tuple:
            client = (peer[0], peer[1])
            if not self.is_trusted(peer[0]):
                return client, scheme
        else:
            client = None
            if not self.trust_unix:
                return client, scheme
        xff, xfp, fwd = [], [], []
        for name, value in headers:
            if name == b"x-forwarded-for":
                xff.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                xfp.append(value.decode("latin-1"))
            elif name == b"forwarded":
                fwd.append(value.decode("latin-1"))
        if self.mode == "x-forwarded" or (self.mode == "auto" and (xff or xfp)):
            return self._x_forwarded(client, scheme, xff, xfp)
        if self.mode == "forwarded" or fwd:
            return self._forwarded(client, scheme, ",".join(fwd))
        return client, scheme

    def _x_forwarded(self, client, scheme, xff, xfp):
        hops = ",".join(xff).split(",") if xff else []
        chosen = None
        for index in range(len(hops) - 1, -1, -1):
            hop = _xff_hop(hops[index])
            if hop is None:
                chosen = None
                break
            chosen = index
            if not self.is_trusted(hop[0]):
                break
        if chosen is not None:
            client = hop
        protos = ",".join(xfp).split(",") if xfp else []
        if len(protos) == 1:
            scheme = _scheme(protos[0]) or scheme
        elif protos and chosen is not None and len(protos) == len(hops):
            scheme = _scheme(protos[chosen]) or scheme
        return client, scheme

    def _forwarded(self, client, scheme, text):
        elements = _forwarded_elements(text)
        if not elements:
            return client, scheme
        found = client
        for element in reversed(elements):
            node = element.get("for")
            if node is None:
                break                       # names no node: the last hop walked stands
            hop = _forwarded_node(node)
            if hop is None:
                return client, scheme
            found = hop
            if not self.is_trusted(hop[0]):
                break
        proto = element.get("proto")
        if proto is not None:
            scheme = _scheme(proto) or scheme
        return found, scheme
