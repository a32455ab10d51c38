"""TLSEngine, the record layer of cyreactor's TLS connections: in memory
against itself and against ssl.SSLObject (what asyncio drives), over real
sockets against Python's ssl, asyncio and ``openssl s_client``; the user's
SSLContext honoured; hostile input failing cleanly, as CPython fails."""
import contextlib
import ctypes
import ctypes.util
import gc
import re
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.misuse import walk_in_subprocess
from support.memory import heap_in_use, rss
from support.net import open_fds
from support.tls import (
    VERSIONS,
    Certs,
    HandshakeFailed,
    asyncio_tls_server,
    OpenSSLServer,
    PyPeer,
    engine,
    handshake,
    payload,
    pump_socket,
    records,
    serve_once,
    transfer,
)

from cyreactor._tls import TLSEngine

MAX_RECORD = 16384  # RFC 8446 section 5.1: 2^14 bytes of plaintext per record


@pytest.fixture(scope="module")
def certs():
    return Certs()


def peer(kind, ctx, server_side=False, server_hostname=None):
    make = engine if kind == "engine" else PyPeer
    return make(ctx, server_side, server_hostname)


def described(exc):
    """What a caller can see of an SSLError, minus CPython's source line."""
    return (
        type(exc),
        exc.errno,
        getattr(exc, "library", None),
        getattr(exc, "reason", None),
        getattr(exc, "verify_code", None),
        getattr(exc, "verify_message", None),
        re.sub(r" \(_ssl\.c:\d+\)$", "", str(exc)),
    )


# ---- talking ------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kinds", [("engine", "engine"), ("engine", "python"), ("python", "engine")])
def test_handshake_and_data_both_ways(certs, version, kinds):
    client = peer(kinds[0], certs.client_context(version), False, "example.test")
    server = peer(kinds[1], certs.server_context(version), True)
    handshake(client, server)
    assert client.get_extra_info("ssl_object").version() == version
    assert server.get_extra_info("ssl_object").version() == version
    data = payload(100_000)
    assert transfer(client, server, data) == data
    assert transfer(server, client, data[::-1]) == data[::-1]


@pytest.mark.parametrize("version", VERSIONS)
def test_extra_info_matches_asyncio_keys(certs, version):
    client = engine(certs.client_context(version), False, "example.test")
    server = engine(certs.server_context(version), True)
    assert client.get_extra_info("peercert") is None
    handshake(client, server)
    sslobj = client.get_extra_info("ssl_object")
    assert isinstance(sslobj, ssl.SSLObject)
    assert client.get_extra_info("peercert") == sslobj.getpeercert()
    assert ("DNS", "example.test") in client.get_extra_info("peercert")["subjectAltName"]
    assert sslobj.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(
        certs.server.cert_chain_pems[0].bytes().decode())
    assert client.get_extra_info("cipher") == sslobj.cipher()
    assert client.get_extra_info("cipher")[1] == version
    assert client.get_extra_info("compression") is None
    assert client.get_extra_info("sslcontext") is sslobj.context
    assert server.get_extra_info("peercert") is None  # no client certificate asked for
    assert client.get_extra_info("nonsense", 42) == 42


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("client_alpn, server_alpn", [
    (None, None),
    (["http/1.1"], None),
    (None, ["http/1.1"]),
    (["h2", "http/1.1"], ["http/1.1"]),
    (["http/1.1", "h2"], ["h2", "http/1.1"]),
    (["h2"], ["http/1.1"]),
])
def test_alpn_negotiates_what_asyncio_negotiates(certs, version, client_alpn, server_alpn):
    def negotiate(client_kind, server_kind):
        client = peer(client_kind, certs.client_context(version, client_alpn), False, "example.test")
        server = peer(server_kind, certs.server_context(version, server_alpn), True)
        handshake(client, server)
        return [p.get_extra_info("ssl_object").selected_alpn_protocol() for p in (client, server)]

    expected = negotiate("python", "python")
    assert negotiate("engine", "engine") == expected
    assert negotiate("engine", "python") == expected
    assert negotiate("python", "engine") == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_sni_callback_sees_the_name_and_can_switch_context(certs, version):
    other = certs.server_context(version, cert=certs.other)
    seen = []

    def sni(sslobj, name, ctx):
        seen.append((type(sslobj), name))
        if name == "other.test":
            sslobj.context = other

    server_ctx = certs.server_context(version)
    server_ctx.sni_callback = sni
    client = engine(certs.client_context(version), False, "other.test")
    server = engine(server_ctx, True)
    handshake(client, server)
    assert seen == [(ssl.SSLObject, "other.test")]
    assert server.get_extra_info("sslcontext") is other
    assert client.get_extra_info("peercert")["subjectAltName"] == (("DNS", "other.test"),)


def test_sni_absent_reaches_the_callback_as_none(certs):
    seen = []
    server_ctx = certs.server_context()
    server_ctx.sni_callback = lambda sslobj, name, ctx: seen.append(name)
    client_ctx = certs.client_context()
    client_ctx.check_hostname = False
    handshake(engine(client_ctx), engine(server_ctx, True))
    assert seen == [None]


def test_big_write_is_cut_into_full_records(certs):
    for version, overhead in (("TLSv1.3", 17), ("TLSv1.2", 24)):  # AES-GCM
        client = engine(certs.client_context(version), False, "example.test")
        server = engine(certs.server_context(version), True)
        handshake(client, server)
        client.send(payload(4 * MAX_RECORD))
        out = client.outgoing()
        assert records(out) == [(23, MAX_RECORD + overhead)] * 4
        assert server.receive(out) == payload(4 * MAX_RECORD)


def test_write_larger_than_the_output_buffer(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    data = payload(3 << 20)
    assert transfer(client, server, data) == data


def test_small_plaintext_buffer_and_stash_deliver_everything_in_order(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    data = payload(100_000)
    client.send(data)
    out = client.outgoing()
    # One delivery of 1000 bytes, then the owner "pauses": the rest of the
    # window is stashed and the engine says it has more without new input.
    first = server.receive(out, cap=1000, chunks=1)
    assert first == data[:1000]
    assert server.has_pending
    rest = server.receive(cap=777)
    assert first + rest == data
    assert not server.has_pending


def test_one_byte_at_a_time(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    client.start()
    while not (client.handshake_done and server.handshake_done):
        for byte in client.outgoing():
            server.receive(bytes([byte]))
        for byte in server.outgoing():
            client.receive(bytes([byte]))
    client.send(b"hello, one byte at a time")
    out = client.outgoing()
    got = [server.receive(bytes([byte])) for byte in out]
    assert got[:-1] == [b""] * (len(out) - 1)
    assert got[-1] == b"hello, one byte at a time"


def test_close_notify_then_eof_is_a_clean_close(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    client.send(b"last words")
    assert client.shutdown() == 0
    assert server.receive(client.outgoing()) == b"last words"
    assert server.peer_closed
    assert server.shutdown() == 1
    server.feed_eof()
    assert server.receive() == b""
    client.receive(server.outgoing())
    assert client.peer_closed
    assert client.shutdown() == 1  # already sent: nothing more
    assert client.outgoing() == b""


# ---- against Python's ssl over real sockets ---------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("alpn", [None, ["http/1.1"]])
def test_engine_client_against_python_ssl_server(certs, version, alpn):
    def echo_upper(tls):
        data = b""
        while not data.endswith(b"\n"):
            data += tls.recv(1 << 16)
        tls.sendall(data.upper())
        return tls.selected_alpn_protocol(), tls.version()

    addr, thread, result = serve_once(certs.server_context(version, alpn), echo_upper)
    client = engine(certs.client_context(version, alpn), False, "localhost")
    with socket.create_connection(addr) as sock:
        client.start()
        pump_socket(client, sock, lambda _: client.handshake_done)
        client.send(b"x" * 50_000 + b"\n")
        got = pump_socket(client, sock, lambda got: got.endswith(b"\n"))
    thread.join(10)
    assert "error" not in result, result
    assert got == b"X" * 50_000 + b"\n"
    assert result["value"] == (client.get_extra_info("ssl_object").selected_alpn_protocol(), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_engine_server_against_python_ssl_client(certs, version):
    result = {}

    def client_thread(addr):
        try:
            ctx = certs.client_context(version, ["http/1.1"], client_cert=True)
            with socket.create_connection(addr, timeout=10) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"ping\n")
                result["reply"] = tls.recv(100)
                tls.unwrap()
        except BaseException as exc:
            result["error"] = exc

    ctx = certs.server_context(version, ["http/1.1"], require_client_cert=True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=client_thread, args=(listener.getsockname(),))
        thread.start()
        sock, _ = listener.accept()
    server = engine(ctx, True)
    with sock:
        got = pump_socket(server, sock, lambda got: got.endswith(b"\n"))
        assert got == b"ping\n"
        server.send(b"pong\n")
        assert pump_socket(server, sock, lambda _: server.peer_closed) == b""
        server.shutdown()
        sock.sendall(server.outgoing())
    thread.join(10)
    assert "error" not in result, result
    assert result["reply"] == b"pong\n"
    assert server.get_extra_info("peercert")["subjectAltName"] == (("email", "client@example.test"),)
    assert server.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"


def test_engine_client_against_asyncio_server(certs):
    with asyncio_tls_server(certs.server_context(alpn=["http/1.1"])) as port:
        client = engine(certs.client_context(alpn=["http/1.1"]), False, "localhost")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            client.start()
            pump_socket(client, sock, lambda _: client.handshake_done)
            client.send(b"hello asyncio\n")
            assert pump_socket(client, sock, lambda got: got.endswith(b"\n")) == b"HELLO ASYNCIO\n"
        assert client.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"


# ---- verification: the same failures CPython reports --------------------------------


FAILURES = {
    "untrusted": dict(client=dict(trusted=False), hostname="example.test"),
    "wrong hostname": dict(client={}, hostname="wrong.test"),
    "wrong ip": dict(client={}, hostname="127.0.0.2"),
    "client certificate missing": dict(client={}, server=dict(require_client_cert=True), hostname="example.test"),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", FAILURES)
def test_verification_fails_as_cpython_does(certs, version, case):
    spec = FAILURES[case]

    def fail(kind):
        client = peer(kind, certs.client_context(version, **spec["client"]), False, spec["hostname"])
        server = peer(kind, certs.server_context(version, **spec.get("server", {})), True)
        with pytest.raises(HandshakeFailed) as info:
            handshake(client, server)
            # TLS 1.3: the client finishes first and learns of the server's
            # refusal from its alert.
            client.receive(server.outgoing())
            raise AssertionError("no failure")
        return info.value.side, described(info.value.exc)

    theirs = fail("python")
    ours = fail("engine")
    assert ours == theirs
    if case != "client certificate missing":
        assert ours[1][0] is ssl.SSLCertVerificationError


def test_client_sees_the_alert_for_its_missing_certificate(certs):
    client = engine(certs.client_context("TLSv1.3"), False, "example.test")
    server = engine(certs.server_context("TLSv1.3", require_client_cert=True), True)
    with pytest.raises(HandshakeFailed) as info:
        handshake(client, server)
    assert info.value.side == "server"
    with pytest.raises(ssl.SSLError) as alert:
        client.receive(server.outgoing())
    assert alert.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"


# ---- hostile input ------------------------------------------------------------------


HOSTILE = {
    "plain http": b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",
    "garbage": bytes(range(256)) * 4,
    "bad client hello": b"\x16\x03\x01\x00\x10" + b"\x01\x00\x00\x0c" + b"\xff" * 12,
    "oversized record": b"\x16\x03\x01\xff\xff" + b"\x00" * 100,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_client_hello_fails_as_cpython_does(certs, name):
    def fail(kind):
        server = peer(kind, certs.server_context(), True)
        with pytest.raises(ssl.SSLError) as info:
            server.receive(HOSTILE[name])
        return described(info.value), server.outgoing()

    ours = fail("engine")
    assert ours == fail("python")
    if name == "plain http":
        assert ours[0][3] == "HTTP_REQUEST"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
       cuts=st.lists(st.integers(1, 600), max_size=6))
def test_damaged_flights_in_any_pieces_fail_cleanly(certs, flips, cuts):
    """A real client's flights, bytes flipped, fed in arbitrary pieces:
    the server either carries on or raises ssl.SSLError, nothing else."""
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    client.start()
    flight = bytearray(client.outgoing())
    for where, mask in flips:
        flight[where % len(flight)] ^= mask
    pieces, rest = [], bytes(flight)
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    try:
        for piece in pieces + [rest]:
            server.receive(piece)
        client.receive(server.outgoing())
        server.receive(client.outgoing())
    except ssl.SSLError:
        assert server.shutdown() == 0 or server.handshake_done


@pytest.mark.parametrize("cut", ["mid handshake", "mid record", "between records"])
def test_eof_without_close_notify_is_an_eof_error(certs, cut):
    def fail(kind):
        client = peer(kind, certs.client_context(), False, "example.test")
        server = peer(kind, certs.server_context(), True)
        if cut == "mid handshake":
            client.start()
            server.receive(client.outgoing()[:20])
        else:
            handshake(client, server)
            client.send(b"some data")
            record = client.outgoing()
            assert server.receive(record[:-3] if cut == "mid record" else record) == (
                b"" if cut == "mid record" else b"some data")
        server.feed_eof()
        with pytest.raises(ssl.SSLError) as info:
            server.receive()
        return described(info.value)

    ours = fail("engine")
    assert ours == fail("python")
    assert ours[0] is ssl.SSLEOFError


def test_corrupt_record_after_good_data_delivers_the_data_first(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    client.send(b"good")
    good = client.outgoing()
    client.send(b"evil")
    evil = bytearray(client.outgoing())
    evil[-1] ^= 1
    assert server.receive(good + bytes(evil)) == b"good"
    with pytest.raises(ssl.SSLError) as info:
        server.receive()
    assert info.value.reason == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
    # The fatal alert went out (RFC 8446 section 6.2).
    with pytest.raises(ssl.SSLError) as alert:
        client.receive(server.outgoing())
    assert alert.value.reason == "SSLV3_ALERT_BAD_RECORD_MAC"
    with pytest.raises(ssl.SSLError, match="failed earlier"):
        server.receive(b"more")
    assert server.shutdown() == 0
    assert server.outgoing() == b""


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@contextlib.contextmanager
def s_server_session(certs, tmp_path, version, command):
    """A client engine connected to ``openssl s_server``, which was just
    told `command` and has said all it had to say in answer:
    yields (client, socket, server)."""
    server = OpenSSLServer(certs, version, tmp_path)
    client = engine(certs.client_context(version), False, "localhost")
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            client.start()
            pump_socket(client, sock, lambda _: client.handshake_done)
            server.type(command)
            sock.settimeout(1)
            try:
                while True:
                    client.receive(sock.recv(1 << 16))
                    sock.sendall(client.outgoing())
            except socket.timeout:
                pass
            yield client, sock, server
    finally:
        server.output()


@needs_openssl
def test_server_initiated_renegotiation_is_refused(certs, tmp_path):
    # "r" makes s_server send a HelloRequest; the client answers with a
    # no_renegotiation alert (RFC 5246 section 7.2.2), which OpenSSL's server
    # answers with a fatal handshake_failure.
    with pytest.raises(ssl.SSLError) as info:
        with s_server_session(certs, tmp_path, "TLSv1.2", b"r\n"):
            pass
    assert info.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


@needs_openssl
def test_key_update_requested_by_the_peer(certs, tmp_path):
    # "K": a KeyUpdate asking for ours back (RFC 8446 section 4.6.3), which
    # OpenSSL sends before our next record.
    with s_server_session(certs, tmp_path, "TLSv1.3", b"K\n") as (client, sock, server):
        client.send(b"from the engine\n")
        sock.sendall(client.outgoing())
        server.wait_for(rb"from the engine\n")
        server.type(b"from s_server\n")
        assert pump_socket(client, sock, lambda got: got.endswith(b"\n")) == b"from s_server\n"
    assert b"SSL_do_handshake -> 1" in server.output()


@needs_openssl
def test_client_initiated_renegotiation_is_refused(certs, tmp_path):
    cert = tmp_path / "ca.pem"
    certs.ca.cert_pem.write_to_path(str(cert))
    server = engine(certs.server_context("TLSv1.2"), True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        # "R" on s_client's stdin starts a renegotiation (openssl-s_client(1)).
        proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
             "-CAfile", str(cert), "-servername", "localhost"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sock, _ = listener.accept()
    try:
        with sock:
            pump_socket(server, sock, lambda _: server.handshake_done)
            proc.stdin.write(b"R\n")
            proc.stdin.flush()
            # The server answers the new ClientHello with a no_renegotiation
            # alert; OpenSSL's client then gives up with a fatal one.
            with pytest.raises(ssl.SSLError) as info:
                pump_socket(server, sock, lambda _: False, timeout=5)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"RENEGOTIATING" in out
    assert b"no renegotiation" in out
    assert info.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


def test_a_thousand_handshakes_hold_no_memory_or_descriptors(certs):
    client_ctx = certs.client_context()
    server_ctx = certs.server_context()

    def round_trip(i):
        a, b = socket.socketpair()
        with a, b:
            client = engine(client_ctx, False, "example.test")
            server = engine(server_ctx, True)
            client.start()
            while not (client.handshake_done and server.handshake_done):
                a.sendall(client.outgoing())
                server.receive(b.recv(1 << 16))
                b.sendall(server.outgoing())
                client.receive(a.recv(1 << 16))
            assert transfer(client, server, b"ping %d" % i) == b"ping %d" % i
            try:
                engine(server_ctx, True).receive(HOSTILE["garbage"])
            except ssl.SSLError:
                pass

    for i in range(100):
        round_trip(i)
    gc.collect()
    fds, before = open_fds(), rss()
    for i in range(1000):
        round_trip(i)
    gc.collect()
    assert open_fds() == fds
    assert rss() - before < 2 << 20


def test_idle_sessions_hold_no_record_buffers(certs):
    # OpenSSL's record buffers are ~17 KB each way; an idle session keeps
    # only the SSL object, its session and keys (~14 KB for a server, ~20 KB
    # for a client, which also holds the server's certificate).
    client_ctx = certs.client_context("TLSv1.3")
    server_ctx = certs.server_context("TLSv1.3")

    def idle_pair():
        client = engine(client_ctx, False, "example.test")
        server = engine(server_ctx, True)
        handshake(client, server)  # the client's last read saw only tickets
        return client, server

    for _ in range(10):
        idle_pair()
    gc.collect()
    before = heap_in_use()
    kept = [idle_pair() for _ in range(300)]
    gc.collect()
    per_pair = (heap_in_use() - before) / len(kept)
    assert per_pair < 40_000, per_pair


def test_stale_errors_in_the_thread_queue_are_ignored(certs):
    # SSL_get_error(3) reads the thread's error queue: whatever other code
    # left there must not turn WANT_READ into a failure.
    libcrypto = ctypes.CDLL(ctypes.util.find_library("crypto"))
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    client.send(b"hello")
    record = client.outgoing()
    libcrypto.ERR_new()
    libcrypto.ERR_set_error(20, 100, None)
    assert libcrypto.ERR_peek_error() != 0
    assert server.receive(record[:3]) == b""
    assert server.receive(record[3:]) == b"hello"


# ---- nothing a Python caller does crashes the interpreter ---------------------------


def test_constructor_and_arguments_are_checked(certs):
    with pytest.raises(TypeError):
        TLSEngine()
    with pytest.raises(TypeError):
        TLSEngine.__new__(TLSEngine)
    with pytest.raises(TypeError):
        TLSEngine.__new__(TLSEngine, object())
    with pytest.raises(TypeError):
        TLSEngine.memory(object())
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        TLSEngine.memory(certs.client_context())
    server = engine(certs.server_context(), True)
    with pytest.raises(RuntimeError, match="before the TLS handshake"):
        server.send(b"too early")
    with pytest.raises(ValueError):
        server.receive(b"x", cap=0)
    with pytest.raises(BufferError):
        server.receive(memoryview(b"abcd")[::2])
    with pytest.raises(TypeError):
        server.receive("text")
    assert server.shutdown() == 0  # mid-handshake: nothing to send
    assert server.outgoing() == b""


def test_ssl_object_outliving_its_engine_fails_cleanly(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    sslobj = client.get_extra_info("ssl_object")
    del client
    gc.collect()
    assert sslobj.getpeercert()["subjectAltName"]
    with pytest.raises(ssl.SSLError):
        sslobj.write(b"x")
    with pytest.raises(ssl.SSLError):
        sslobj.read(10)


def test_ssl_object_used_directly_alongside_its_engine(certs):
    client = engine(certs.client_context(), False, "example.test")
    server = engine(certs.server_context(), True)
    handshake(client, server)
    sslobj = client.get_extra_info("ssl_object")
    with pytest.raises(ssl.SSLWantWriteError):
        sslobj.write(b"behind the engine's back")
    with pytest.raises(ssl.SSLWantReadError):
        sslobj.read(10)
    # OpenSSL now expects that write to be retried; the engine's own write
    # is a different one. Whatever OpenSSL makes of it, it is an SSLError.
    try:
        client.send(b"x")
    except ssl.SSLError:
        pass


def test_reentering_the_engine_from_sni_callback_is_refused(certs):
    errors = []
    holder = {}

    def sni(sslobj, name, ctx):
        try:
            holder["server"].start()
        except RuntimeError as exc:
            errors.append(exc)

    server_ctx = certs.server_context()
    server_ctx.sni_callback = sni
    holder["server"] = server = engine(server_ctx, True)
    handshake(engine(certs.client_context(), False, "example.test"), server)
    assert [str(e) for e in errors] == ["TLSEngine re-entered from an OpenSSL callback"]


def test_every_engine_method_survives_misuse():
    # Fresh, mid-handshake, established, closed, failed, and one whose
    # SSLObject was used behind its back.
    result = walk_in_subprocess("""
        import ssl, sys
        sys.path.insert(0, ".")
        from support.tls import Certs, engine, handshake
        from cyreactor._tls import TLSEngine

        certs = Certs()
        def pair():
            return engine(certs.client_context(), False, "example.test"), engine(certs.server_context(), True)

        fresh = pair()
        midway = pair()
        midway[0].start()
        midway[1].receive(midway[0].outgoing())
        live = pair()
        handshake(*live)
        live[0].send(b"unread")
        closed = pair()
        handshake(*closed)
        closed[0].shutdown()
        closed[1].receive(closed[0].outgoing())
        failed = pair()
        try:
            failed[1].receive(b"GET / HTTP/1.1\\r\\n\\r\\n")
        except ssl.SSLError:
            pass
        meddled = pair()
        handshake(*meddled)
        try:
            meddled[0].get_extra_info("ssl_object").write(b"x")
        except ssl.SSLError:
            pass
        classes = [TLSEngine]
        objects = [*fresh, *midway, *live, *closed, *failed, *meddled]
        objects += [e.get_extra_info("ssl_object") for e in objects]
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])
