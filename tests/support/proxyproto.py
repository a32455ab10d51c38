"""PROXY protocol helpers for tests: header builders and an independent
pure-Python reference parser (HAProxy's proxy-protocol.txt), written apart
from the C parser so the two can be compared."""
import ipaddress
import os
import re
import socket
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107
ADDRESS_BLOCK = {1: 12, 2: 36, 3: 216}          # by the family nibble
FAMILIES = {0: socket.AF_UNSPEC, 1: socket.AF_INET, 2: socket.AF_INET6, 3: socket.AF_UNIX}
TRANSPORTS = {1: socket.SOCK_STREAM, 2: socket.SOCK_DGRAM}
ALPN, AUTHORITY, CRC32C, NOOP, UNIQUE_ID, SSL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x20
SSL_VERSION, SSL_CN, SSL_CIPHER = 0x21, 0x22, 0x23


def crc32c(data):
    """CRC32C bit by bit (RFC 4960 appendix B), no table."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def tlv(type_, value):
    return struct.pack("!BH", type_, len(value)) + value


def ssl_tlv(client=1, verify=0, version=None, cn=None, extra=b""):
    subs = b""
    if version is not None:
        subs += tlv(SSL_VERSION, version)
    if cn is not None:
        subs += tlv(SSL_CN, cn)
    return tlv(SSL, struct.pack("!BI", client, verify) + subs + extra)


def v1(protocol, src="", dst="", sport=0, dport=0):
    if protocol == "UNKNOWN":
        return b"PROXY UNKNOWN\r\n"
    return f"PROXY {protocol} {src} {dst} {sport} {dport}\r\n".encode()


def inet_block(src, dst, sport, dport):
    """The v2 address block for two IPv4 or two IPv6 addresses."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    return (socket.inet_pton(family, src) + socket.inet_pton(family, dst)
            + struct.pack("!HH", sport, dport))


def unix_block(src, dst):
    return src.ljust(108, b"\0") + dst.ljust(108, b"\0")


def v2(command=1, fam=0x11, block=b"", tlvs=b"", crc=False, length=None):
    """A v2 header; ``crc`` appends a PP2_TYPE_CRC32C TLV with the right
    checksum; ``length`` overrides the length field."""
    body = block + tlvs
    if crc:
        body += tlv(CRC32C, b"\0\0\0\0")
    n = len(body) if length is None else length
    header = SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", n) + body
    if crc:
        header = header[:-4] + struct.pack("!I", crc32c(header))
    return header


# ---------------------------------------------------------------- reference

INCOMPLETE = "incomplete"
ERROR = "error"
_V4 = rb"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = re.compile(rb"%s\.%s\.%s\.%s" % (_V4, _V4, _V4, _V4))
PORT = re.compile(rb"0|[1-9][0-9]{0,4}")


def _port(text):
    return int(text) if PORT.fullmatch(text) and int(text) <= 65535 else None


def _v6(text):
    if not re.fullmatch(rb"[0-9A-Fa-f:.]+", text):
        return None
    try:
        return _v6_text(ipaddress.IPv6Address(text.decode()).packed)
    except ValueError:
        return None


def _v6_text(packed):
    # The socket module's form (inet_ntop: "::ffff:1.2.3.4" for mapped
    # addresses, where ipaddress writes "::ffff:102:304").
    return socket.inet_ntop(socket.AF_INET6, packed)


def _unix(field):
    field = field.rstrip(b"\0")
    if field[:1] == b"\0":
        return field
    return os.fsdecode(field.split(b"\0")[0])


def result(version, length, command=1, family=socket.AF_UNSPEC, transport=0, source=None,
           destination=None, tlvs=(), crc_ok=False):
    """What a parser's verdict on a valid header is compared as."""
    return ("ok", length, (version, command, family, transport, source, destination, list(tlvs), crc_ok))


def _reference_v1(data):
    if not b"PROXY "[: len(data)] == data[:6]:
        return ERROR
    window = data[:V1_MAX]
    ends = [i for i in (window.find(b"\r", 6), window.find(b"\n", 6)) if i >= 0]
    if not ends:
        return ERROR if len(data) >= V1_MAX else INCOMPLETE
    i = min(ends)
    if window[i:i + 1] == b"\n" or i + 2 > V1_MAX:
        return ERROR
    if len(data) == i + 1:
        return INCOMPLETE
    if data[i + 1:i + 2] != b"\n":
        return ERROR
    line = data[6:i]
    if line == b"UNKNOWN" or line.startswith(b"UNKNOWN "):
        return result(1, i + 2)
    parts = line.split(b" ")
    if len(parts) != 5 or parts[0] not in (b"TCP4", b"TCP6") or not all(parts):
        return ERROR
    if parts[0] == b"TCP4":
        if not (IPV4.fullmatch(parts[1]) and IPV4.fullmatch(parts[2])):
            return ERROR
        src, dst = parts[1].decode(), parts[2].decode()
    else:
        src, dst = _v6(parts[1]), _v6(parts[2])
        if src is None or dst is None:
            return ERROR
    sport, dport = _port(parts[3]), _port(parts[4])
    if sport is None or dport is None:
        return ERROR
    if parts[0] == b"TCP4":
        return result(1, i + 2, 1, socket.AF_INET, socket.SOCK_STREAM, (src, sport), (dst, dport))
    return result(1, i + 2, 1, socket.AF_INET6, socket.SOCK_STREAM, (src, sport, 0, 0), (dst, dport, 0, 0))


def _walk(data, start, end):
    """[(type, value offset, value)] or None when a TLV runs past ``end``."""
    out = []
    while start < end:
        if end - start < 3:
            return None
        type_, n = struct.unpack_from("!BH", data, start)
        if start + 3 + n > end:
            return None
        out.append((type_, start + 3, data[start + 3:start + 3 + n]))
        start += 3 + n
    return out


def _reference_tlvs(header, start):
    tlvs = _walk(header, start, len(header))
    if tlvs is None:
        return None
    types = [t for t, _, _ in tlvs]
    if any(types.count(t) > 1 for t in (ALPN, AUTHORITY, CRC32C, UNIQUE_ID, SSL)):
        return None
    crc_ok = False
    for type_, offset, value in tlvs:
        if type_ == CRC32C:
            if len(value) != 4:
                return None
            zeroed = header[:offset] + b"\0\0\0\0" + header[offset + 4:]
            if crc32c(zeroed) != struct.unpack("!I", value)[0]:
                return None
            crc_ok = True
        elif type_ == UNIQUE_ID and len(value) > 128:
            return None
        elif type_ == SSL:
            if len(value) < 5:
                return None
            subs = _walk(value, 5, len(value))
            if subs is None:
                return None
            sub_types = [t for t, _, _ in subs]
            if sub_types.count(SSL_VERSION) > 1 or sub_types.count(SSL_CN) > 1:
                return None
    return [(t, v) for t, _, v in tlvs], crc_ok


def _reference_v2(data, max_size):
    if data[:12] != SIGNATURE[: len(data)]:
        return ERROR
    if len(data) < 13:
        return INCOMPLETE
    if data[12] >> 4 != 2 or data[12] & 0xF > 1:
        return ERROR
    if len(data) < 14:
        return INCOMPLETE
    if data[13] >> 4 > 3 or data[13] & 0xF > 2:
        return ERROR
    if len(data) < 16:
        return INCOMPLETE
    total = 16 + struct.unpack_from("!H", data, 14)[0]
    if total > max_size:
        return ERROR
    if len(data) < total:
        return INCOMPLETE
    header = data[:total]
    command, fam, tr = header[12] & 0xF, header[13] >> 4, header[13] & 0xF
    if command == 0 or fam == 0 or tr == 0:
        return result(2, total, command)
    block = ADDRESS_BLOCK[fam]
    if total - 16 < block:
        return ERROR
    parsed = _reference_tlvs(header, 16 + block)
    if parsed is None:
        return ERROR
    tlvs, crc_ok = parsed
    a = header[16:16 + block]
    if fam == 1:
        src, dst = socket.inet_ntoa(a[0:4]), socket.inet_ntoa(a[4:8])
        sport, dport = struct.unpack("!HH", a[8:12])
        source, destination = (src, sport), (dst, dport)
    elif fam == 2:
        src, dst = _v6_text(a[0:16]), _v6_text(a[16:32])
        sport, dport = struct.unpack("!HH", a[32:36])
        source, destination = (src, sport, 0, 0), (dst, dport, 0, 0)
    else:
        source, destination = _unix(a[:108]), _unix(a[108:])
    return result(2, total, command, FAMILIES[fam], TRANSPORTS[tr], source, destination, tlvs, crc_ok)


def reference(data, max_v2_size=4096):
    """The reference verdict on the first bytes of a connection: INCOMPLETE,
    ERROR, or ``("ok", length, fields)`` as ``result`` builds it."""
    if not data:
        return INCOMPLETE
    if data[:1] == b"P":
        return _reference_v1(data)
    if data[:1] == b"\r":
        return _reference_v2(data, max_v2_size)
    return ERROR
