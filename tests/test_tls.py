"""TLS in the native reactor: listen(ssl=), connect(ssl=), start_tls() and the
HTTPS server, against real clients and servers (Python's ssl, asyncio,
curl, openssl s_client, requests, http.client) with trustme certificates;
hostile peers that must close quietly without disturbing anyone else."""
import asyncio
import contextlib
import gc
from http.client import HTTPSConnection
import logging
import os
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest
import requests
from support.memory import heap_in_use
from support.misuse import walk_in_subprocess
from support.net import open_fds, recv_until_eof
from support.reactor import wait_for
from support.tls import (
    VERSIONS,
    Certs,
    asyncio_tls_server,
    engine,
    handshake_over,
    line_over,
    payload,
    recv_at_least,
    records,
    tls_connect,
    write_pems,
)

import cyreactor
from cyreactor import http, tlsconfig

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

EXTRA_KEYS = ("sslcontext", "ssl_object", "peercert", "cipher", "compression", "tls_version", "alpn_protocol")


@pytest.fixture(scope="module")
def certs():
    return Certs()


@pytest.fixture
def pems(certs, tmp_path):
    return write_pems(certs, tmp_path)


class Recorder(cyreactor.Handler):
    """Records what the reactor tells it in ``events``; echoes what it
    receives unless ``echo`` is false. Every instance joins ``made``."""

    def __init__(self, made, echo=True):
        self.made = made
        self.echo = echo
        self.events = []
        self.received = b""
        self.conn = None
        self.info = None

    def connection_made(self, conn):
        self.conn = conn
        self.info = {key: conn.get_extra_info(key) for key in EXTRA_KEYS}
        self.events.append("made")
        self.made.append(self)

    def data_received(self, data):
        self.received += data
        if self.echo:
            self.conn.write(data)

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))


def recorders(**kwargs):
    """(factory, made): handlers the factory made and that were connected."""
    made, built = [], []

    def factory():
        built.append(Recorder(made, **kwargs))
        return built[-1]

    factory.built = built
    return factory, made


def serve(running, factory, ctx, **kwargs):
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, factory, ssl=ctx, **kwargs)
    return listener.sockname[1]


# ---- talking to real clients -----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_echo_with_python_ssl_client(running, certs, version):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context(version, ["http/1.1"]))
    with tls_connect(port, certs.client_context(version, ["http/1.1"])) as sock:
        for n in (1, 100_000, 1 << 20):
            sock.sendall(payload(n))
            assert recv_at_least(sock, n) == payload(n)
        assert sock.version() == version
        sock.unwrap()
    wait_for(lambda: len(made[0].events) == 3)
    handler = made[0]
    assert handler.events == ["made", "eof", ("lost", None)]
    assert handler.info["tls_version"] == version
    assert handler.info["alpn_protocol"] == "http/1.1"
    assert handler.info["cipher"][1] == version
    assert isinstance(handler.info["ssl_object"], ssl.SSLObject)
    assert handler.info["sslcontext"] is handler.info["ssl_object"].context
    assert handler.info["peercert"] is None and handler.info["compression"] is None
    stats = running.reactor.stats()
    assert stats["tls_handshakes"] == 1 and stats["handshake_failures"] == 0


@contextlib.contextmanager
def session(running, certs):
    """An echo server and a client that exchanged a byte with it: yields
    (the client's socket, the server's handler, the port)."""
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())
    with tls_connect(port, certs.client_context()) as sock:
        sock.sendall(b"x")
        assert recv_at_least(sock, 1) == b"x"
        yield sock, made[0], port


def test_extra_info_before_and_after(running, certs):
    with session(running, certs) as (sock, handler, port):
        conn = handler.conn
        assert running.call(conn.get_extra_info, "nonsense", 42) == 42
        assert running.call(conn.get_extra_info, "peername") == sock.getsockname()
        assert repr(conn).startswith(f"<Connection fd={conn.fileno()} tls ")
    wait_for(lambda: ("lost", None) in handler.events)
    # The TLS session went with the connection; plaintext keys remain.
    assert conn.get_extra_info("ssl_object", "gone") == "gone"


@pytest.mark.parametrize("case", ["required", "optional, none given", "required, none given", "untrusted"])
def test_client_certificates(running, certs, case):
    server_ctx = certs.server_context(require_client_cert=True)
    if case.startswith("optional"):
        server_ctx.verify_mode = ssl.CERT_OPTIONAL
    client_ctx = certs.client_context(version="TLSv1.2", client_cert=case == "required")
    if case == "untrusted":
        trustme_other = type(certs)()
        trustme_other.client.configure_cert(client_ctx)
    factory, made = recorders()
    port = serve(running, factory, server_ctx)
    if case in ("required", "optional, none given"):
        with tls_connect(port, client_ctx) as sock:
            sock.sendall(b"hi")
            assert recv_at_least(sock, 2) == b"hi"
        peercert = made[0].info["peercert"]
        if case == "required":
            assert peercert["subjectAltName"] == (("email", "client@example.test"),)
        else:
            assert peercert is None
        return
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with tls_connect(port, client_ctx) as sock:
            sock.sendall(b"hi")
            sock.recv(10)        # TLS 1.2: the refusal is the handshake's
    wait_for(lambda: running.reactor.stats()["handshake_failures"] == 1)
    assert made == [] and factory.built[0].events == []


def test_sni_callback_switches_the_certificate(running, certs):
    other = certs.server_context(cert=certs.other)
    seen = []

    def sni(sslobj, name, ctx):
        seen.append(name)
        if name == "other.test":
            sslobj.context = other

    server_ctx = certs.server_context()
    server_ctx.sni_callback = sni
    factory, made = recorders()
    port = serve(running, factory, server_ctx)
    with tls_connect(port, certs.client_context(), "other.test") as sock:
        assert sock.getpeercert()["subjectAltName"] == (("DNS", "other.test"),)
    with tls_connect(port, certs.client_context(), "example.test") as sock:
        assert ("DNS", "example.test") in sock.getpeercert()["subjectAltName"]
    assert seen == ["other.test", "example.test"]
    wait_for(lambda: len(made) == 2)
    assert made[0].info["sslcontext"] is other


def https_server(running, ctx, **options):
    def app(request):
        return http.Response(200, [("content-type", "text/plain")], f"{request.scheme} {request.path}\n")

    server = http.HttpServer(app, **options)
    return running.call(server.listen, running.reactor, "127.0.0.1", 0, ssl=ctx).sockname[1]


@needs_curl
@pytest.mark.parametrize("alpn", ["offered", "not offered"])
@pytest.mark.parametrize("sni", ["present", "absent"])
def test_curl(running, certs, pems, alpn, sni):
    seen = []
    ctx = tlsconfig.server_context(pems["server"])
    ctx.sni_callback = lambda sslobj, name, c: seen.append(name)
    port = https_server(running, ctx)
    host = "localhost" if sni == "present" else "127.0.0.1"
    out = subprocess.run(
        ["curl", "-sS", "-v", "--cacert", pems["ca"], *([] if alpn == "offered" else ["--no-alpn"]),
         f"https://{host}:{port}/a", f"https://{host}:{port}/b"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "https /a\nhttps /b\n"
    assert "Re-using existing connection" in out.stderr      # keep-alive over TLS
    assert ("ALPN: server accepted http/1.1" in out.stderr) == (alpn == "offered")
    assert seen == (["localhost"] if sni == "present" else [None])


@needs_curl
def test_curl_offering_h2_gets_http11(running, pems):
    port = https_server(running, tlsconfig.server_context(pems["server"]))
    out = subprocess.run(["curl", "-sS", "-v", "--http2", "--cacert", pems["ca"], f"https://localhost:{port}/"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "ALPN: server accepted http/1.1" in out.stderr, out.stderr
    assert out.stdout == "https /\n"


@needs_openssl
@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_openssl_s_client(running, certs, pems, version):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", f"-{version}", "-CAfile", pems["ca"],
         "-servername", "localhost", "-verify_return_error", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"hello s_client\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"hello s_client\n"
    finally:
        proc.kill()
        proc.communicate()
    assert made[0].info["tls_version"] == version.replace("tls1_", "TLSv1.")


def test_requests_and_http_client(running, pems):
    port = https_server(running, tlsconfig.server_context(pems["server"]))
    response = requests.get(f"https://localhost:{port}/r", verify=pems["ca"], timeout=10)
    assert response.status_code == 200 and response.text == "https /r\n"
    ctx = ssl.create_default_context(cafile=pems["ca"])
    conn = HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        for path in ("/one", "/two"):
            conn.request("GET", path)
            reply = conn.getresponse()
            assert (reply.status, reply.read()) == (200, f"https {path}\n".encode())
    finally:
        conn.close()


def test_asyncio_client_against_our_server(running, certs):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=certs.client_context(),
                                                       server_hostname="localhost")
        writer.write(b"from asyncio\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    assert asyncio.run(client()) == b"from asyncio\n"
    wait_for(lambda: ("lost", None) in made[0].events)


class Client(cyreactor.Handler):
    """An outbound connection's handler: sends ``message`` on
    connection_made() and records the rest."""

    def __init__(self, message=b""):
        self.message = message
        self.events = []
        self.received = b""
        self.done = threading.Event()
        self.conn = None

    def connection_made(self, conn):
        self.conn = conn
        self.events.append(("made", conn.get_extra_info("tls_version"),
                            conn.get_extra_info("peercert")["subjectAltName"]))
        if self.message:
            conn.write(self.message)

    def data_received(self, data):
        self.received += data
        if self.received.endswith(b"\n"):
            self.conn.close()

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.done.set()


@pytest.mark.parametrize("version", VERSIONS)
def test_our_client_against_asyncio_server(running, certs, version):
    with asyncio_tls_server(certs.server_context(version)) as port:
        client = Client(b"hello asyncio\n")
        running.call(running.reactor.connect, "127.0.0.1", port, lambda: client,
                     ssl=certs.client_context(version), server_hostname="example.test")
        assert client.done.wait(10)
    assert client.received == b"HELLO ASYNCIO\n"
    assert client.events[0] == ("made", version, (("DNS", "localhost"), ("IP Address", "127.0.0.1"),
                                                  ("DNS", "example.test")))
    assert client.events[-1] == ("lost", None)


def test_our_client_writes_before_the_handshake_go_after_it(running, certs):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())
    client = Client()

    def connect_and_write():
        conn = running.reactor.connect("127.0.0.1", port, lambda: client, ssl=certs.client_context(),
                                       server_hostname="localhost")
        conn.write(b"early ")
        conn.writelines([b"and ", b"more\n"])
        assert conn.get_write_buffer_size() == 15
        conn.write_eof()

    running.call(connect_and_write)
    assert client.done.wait(10)
    assert client.received == b"early and more\n"
    assert made[0].received == b"early and more\n"


@pytest.mark.parametrize("case", ["untrusted", "wrong hostname", "no hostname"])
def test_our_client_verification_failure_is_connection_lost_alone(running, certs, case):
    ctx = certs.client_context(trusted=case != "untrusted")
    hostname = {"untrusted": "localhost", "wrong hostname": "wrong.test", "no hostname": None}[case]
    with asyncio_tls_server(certs.server_context()) as port:
        client = Client(b"never\n")
        if case == "no hostname":
            with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
                running.call(running.reactor.connect, "127.0.0.1", port, lambda: client, ssl=ctx,
                             server_hostname="")
            return
        running.call(running.reactor.connect, "127.0.0.1", port, lambda: client, ssl=ctx,
                     server_hostname=hostname)
        assert client.done.wait(10)
    assert len(client.events) == 1
    exc = client.events[0][1]
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert exc.reason == "CERTIFICATE_VERIFY_FAILED"


def test_our_client_handshake_timeout(running, certs):
    with socket.create_server(("127.0.0.1", 0)) as silent:
        client = Client(b"x")
        running.call(running.reactor.connect, "127.0.0.1", silent.getsockname()[1], lambda: client,
                     ssl=certs.client_context(), server_hostname="localhost", handshake_timeout=0.2)
        assert client.done.wait(10)
    assert len(client.events) == 1
    exc = client.events[0][1]
    assert isinstance(exc, ConnectionAbortedError) and "TLS handshake" in str(exc)


# ---- the lifecycle -------------------------------------------------------------


def test_eof_without_close_notify_is_eof_as_in_asyncio(running, certs, caplog):
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context())
    with caplog.at_level(logging.DEBUG, logger="cyreactor"):
        sock = tls_connect(port, certs.client_context())
        sock.sendall(b"truncated")
        wait_for(lambda: made and made[0].received == b"truncated")
        # A FIN without close_notify (SSLSocket.shutdown() sends none). A
        # close() would be a reset here: the session tickets are unread.
        sock.shutdown(socket.SHUT_WR)
        wait_for(lambda: len(made[0].events) == 3)
        sock.close()
    assert made[0].events == ["made", "eof", ("lost", None)]
    assert any("EOF without close_notify" in r.getMessage() for r in caplog.records)


def test_close_sends_close_notify_and_ends_with_the_peers(running, certs):
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context())
    with tls_connect(port, certs.client_context()) as sock:
        sock.sendall(b"bye")
        wait_for(lambda: made and made[0].received == b"bye")
        running.call(lambda: (made[0].conn.write(b"last words"), made[0].conn.close()))
        assert recv_at_least(sock, 100) == b"last words"     # then close_notify: b""
        assert made[0].events == ["made"]                    # awaiting ours
        sock.unwrap()
        wait_for(lambda: len(made[0].events) == 2)
    assert made[0].events == ["made", ("lost", None)]


def test_data_and_close_notify_in_one_read(running, certs):
    # After the data, the engine still has close_notify to report: the read
    # that is skipped when nothing is left must not be skipped here.
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context())
    client = engine(certs.client_context(), False, "localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        handshake_over(sock, client)
        client.send(b"last words")
        client.shutdown()
        sock.sendall(client.outgoing())
        wait_for(lambda: made and len(made[0].events) == 3)
        client.receive(recv_until_eof(sock))
    assert made[0].received == b"last words"
    assert made[0].events == ["made", "eof", ("lost", None)]
    assert client.peer_closed


def test_a_peer_that_never_answers_close_notify_is_lost_with_timeout_error(running, certs):
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context(), ssl_shutdown_timeout=0.2)
    with tls_connect(port, certs.client_context()) as sock:
        sock.sendall(b"x")
        wait_for(lambda: made and made[0].received == b"x")
        running.call(made[0].conn.close)
        assert recv_at_least(sock, 1) == b""
        wait_for(lambda: len(made[0].events) == 2)
    exc = made[0].events[1][1]
    assert isinstance(exc, TimeoutError) and str(exc) == "SSL shutdown timed out"


def test_write_eof_is_close_notify_and_reading_goes_on(running, certs):
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context("TLSv1.3"))
    with tls_connect(port, certs.client_context("TLSv1.3")) as sock:
        sock.sendall(b"a")
        wait_for(lambda: made and made[0].received == b"a")
        running.call(lambda: (made[0].conn.write(b"half"), made[0].conn.write_eof()))
        assert recv_at_least(sock, 10) == b"half"            # then close_notify
        sock.sendall(b" and more")                           # TLS 1.3 half-close
        wait_for(lambda: made[0].received == b"a and more")
        sock.unwrap()
        wait_for(lambda: len(made[0].events) == 3)
    assert made[0].events == ["made", "eof", ("lost", None)]


class Pauser(Recorder):
    """Pauses reading after its first chunk; resume() resumes it."""

    def data_received(self, data):
        super().data_received(data)
        self.conn.pause_reading()


def test_pause_reading_holds_decrypted_input_until_resumed(running, certs):
    made = []
    port = serve(running, lambda: Pauser(made, echo=False), certs.server_context())
    data = payload(300_000)
    with tls_connect(port, certs.client_context()) as sock:
        sock.sendall(data)
        resumes = 0
        while True:
            wait_for(lambda: made and not made[0].conn.is_reading())
            before = len(made[0].received)
            if made[0].received == data:
                break
            time.sleep(0.02)
            assert len(made[0].received) == before, "delivered while paused"
            running.call(made[0].conn.resume_reading)
            resumes += 1
            wait_for(lambda: len(made[0].received) > before)
    # Whether the rest came in one delivery or several depends on how the
    # records were read; each came after a resume, none was lost.
    assert resumes >= 1 and running.reactor.stats()["read_paused"] == resumes + 1


def test_records_queued_while_deferred_are_still_sent(running, certs):
    # A small write outside the connection's own read event is deferred to
    # the end of the iteration; a close() in the same callback encrypts it
    # with close_notify into a queue the kernel cannot take yet. The end of
    # the iteration must still send that queue (or arm EPOLLOUT for it),
    # though no plaintext is left to encrypt: it once stayed unsent for ever.
    factory, made = recorders(echo=False)
    port = serve(running, factory, certs.server_context())
    with tls_connect(port, certs.client_context()) as sock:
        wait_for(lambda: made)
        conn = made[0].conn
        running.call(conn.write, b"x" * (4 << 20))        # more than the kernel takes
        wait_for(lambda: running.call(conn.get_write_buffer_size) > 0)

        def write_and_close():
            conn.write(b"tail")
            conn.close()

        running.call(write_and_close)
        received = bytearray()
        try:
            while chunk := sock.recv(1 << 20):
                received += chunk
        except ssl.SSLEOFError:
            pass                # the server's FIN may end a read before close_notify is seen
        assert bytes(received) == b"x" * (4 << 20) + b"tail"
    wait_for(lambda: made[0].events[-1][0] == "lost")


class Buffered(cyreactor.Handler):
    """asyncio.BufferedProtocol's pair, with a small buffer."""

    def __init__(self, made):
        self.buf = bytearray(1000)
        self.received = b""
        self.calls = 0
        made.append(self)

    def connection_made(self, conn):
        self.conn = conn

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.received += bytes(self.buf[:nbytes])
        self.calls += 1


def test_get_buffer_handler_receives_plaintext(running, certs):
    made = []
    port = serve(running, lambda: Buffered(made), certs.server_context())
    data = payload(100_000)
    with tls_connect(port, certs.client_context()) as sock:
        sock.sendall(data)
        wait_for(lambda: made and made[0].received == data)
    assert made[0].calls >= 100


class Batch(cyreactor.Handler):
    def connection_made(self, conn):
        self.conn = conn

    def data_received(self, data):
        for i in range(10):
            self.conn.write(b"piece %d\n" % i)


class Later(Batch):
    """Writes its pieces from a callback, outside its own read event."""

    def data_received(self, data):
        self.conn.reactor.call_soon(Batch.data_received, self, data)


@pytest.mark.parametrize("handler", [Batch, Later], ids=["in the read event", "from a callback"])
def test_small_writes_become_one_record(running, certs, handler):
    port = serve(running, handler, certs.server_context("TLSv1.2"))
    client = engine(certs.client_context("TLSv1.2"), False, "localhost")
    expected = b"".join(b"piece %d\n" % i for i in range(10))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        handshake_over(sock, client)
        client.send(b"go")
        sock.sendall(client.outgoing())
        ciphertext = b""
        while len(ciphertext) < 5 or len(ciphertext) < 5 + struct.unpack("!H", ciphertext[3:5])[0]:
            ciphertext += sock.recv(1 << 16)
    assert [kind for kind, _ in records(ciphertext)] == [23]      # one application_data record
    assert client.receive(ciphertext) == expected


def test_pipelined_https_responses_are_one_record(running, certs):
    server = http.HttpServer()
    port = running.call(server.listen, running.reactor, "127.0.0.1", 0,
                        ssl=certs.server_context("TLSv1.2")).sockname[1]
    client = engine(certs.client_context("TLSv1.2"), False, "localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        handshake_over(sock, client)
        client.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 16)
        sock.sendall(client.outgoing())
        ciphertext = b""
        plain = b""
        while plain.count(http.DEMO_BODY) < 16:
            chunk = sock.recv(1 << 16)
            ciphertext += chunk
            plain += client.receive(chunk)
    assert len(records(ciphertext)) == 1


def test_https_pipelining_without_reading_pauses_input_and_loses_nothing(running, certs):
    # The HTTP server stops reading when the client does not read (its
    # stash, pause_reading()); the TLS engine stashes the rest of the window
    # and delivers it when reading resumes: every request is answered, in
    # order.
    server = http.HttpServer()
    port = running.call(server.listen, running.reactor, "127.0.0.1", 0, ssl=certs.server_context()).sockname[1]
    client = engine(certs.client_context(), False, "localhost")
    batch = 4096
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        handshake_over(sock, client)
        sock.setblocking(False)
        ciphertext, sent, total = b"", 0, 0
        # Until the server has stopped reading, then one batch more (the
        # requests it holds while paused); bounded in time and count.
        deadline = time.monotonic() + 5
        paused_at = None
        while time.monotonic() < deadline and total <= 64 * batch:
            if sent == len(ciphertext):
                if paused_at is None and running.call(running.reactor.stats)["read_paused"]:
                    paused_at = total
                if paused_at is not None and total > paused_at:
                    break
                client.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * batch)
                ciphertext, sent, total = client.outgoing(), 0, total + batch
            try:
                sent += sock.send(ciphertext[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        assert running.call(running.reactor.stats)["read_paused"] >= 1   # the server stopped reading
        status = b"HTTP/1.1 200 OK\r\n"
        answered, tail = 0, b""
        deadline = time.monotonic() + 60
        while answered < total:
            assert time.monotonic() < deadline
            readable, writable, _ = select.select([sock], [sock] if sent < len(ciphertext) else [], [], 1)
            if writable:
                sent += sock.send(ciphertext[sent:])
            if readable:
                chunk = tail + client.receive(sock.recv(1 << 16))
                answered += chunk.count(status)
                tail = chunk[1 - len(status):]      # a status line cut between two reads
    assert answered == total > batch


class Flood(cyreactor.Handler):
    def __init__(self, made):
        self.paused = 0
        made.append(self)

    def connection_made(self, conn):
        self.conn = conn
        conn.set_write_buffer_limits(high=64 * 1024)
        self.pump()

    def pump(self):
        while not self.paused and not self.conn.is_closing():
            self.conn.write(b"z" * 16384)

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.conn.close()


def test_flow_control_pauses_a_writer_the_client_does_not_read(running, certs):
    made = []
    port = serve(running, lambda: Flood(made), certs.server_context())
    with tls_connect(port, certs.client_context()) as sock:
        wait_for(lambda: made and made[0].paused == 1)
        assert 64 * 1024 < running.call(made[0].conn.get_write_buffer_size) < 200 * 1024
        assert set(recv_until_eof(sock)) == {ord("z")}


class StartTLSServer(Recorder):
    """Plaintext until "STARTTLS\\n", then TLS; echoes upper-cased."""

    ctx = None

    def data_received(self, data):
        if self.conn.get_extra_info("ssl_object") is None:
            command, _, rest = data.partition(b"\n")
            assert command == b"STARTTLS"
            self.conn.write(b"GO AHEAD\n")
            self.conn.start_tls(self.ctx, server_side=True, initial_data=rest)
            return
        self.received += data
        self.conn.write(data.upper())


def test_start_tls_server_side_with_the_bytes_already_received(running, certs):
    made = []
    StartTLSServer.ctx = certs.server_context()
    port = running.call(running.reactor.listen, "127.0.0.1", 0, lambda: StartTLSServer(made)).sockname[1]
    client = engine(certs.client_context(), False, "localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # The command and the ClientHello in one write: the handler passes
        # the rest of its read to start_tls().
        handshake_over(sock, client, before=b"STARTTLS\n", answer=b"GO AHEAD\n")
        assert line_over(sock, client, b"secret\n") == b"SECRET\n"
    assert made[0].info["tls_version"] is None         # at connection_made: plaintext


class StartTLSClient(Client):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx

    def connection_made(self, conn):
        self.conn = conn
        conn.write(b"STARTTLS\n")

    def data_received(self, data):
        if data == b"GO AHEAD\n":
            self.conn.start_tls(self.ctx, server_hostname="localhost")
            self.conn.write(b"over tls\n")         # held until the handshake is done
            return
        super().data_received(data)


def test_start_tls_client_side(running, certs):
    server_ctx = certs.server_context()
    result = {}

    def serve_one(listener):
        conn, _ = listener.accept()
        with conn:
            assert conn.recv(9) == b"STARTTLS\n"
            conn.sendall(b"GO AHEAD\n")
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                line = tls.recv(100)
                result["line"] = line
                tls.sendall(line.upper())

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve_one, args=(listener,))
        thread.start()
        client = StartTLSClient(certs.client_context())
        running.call(running.reactor.connect, "127.0.0.1", listener.getsockname()[1], lambda: client)
        assert client.done.wait(10)
        thread.join(10)
    assert result["line"] == b"over tls\n" and client.received == b"OVER TLS\n"


# ---- hostile peers --------------------------------------------------------------


def client_hello(certs):
    client = engine(certs.client_context(), False, "localhost")
    client.start()
    return client.outgoing()


HOSTILE = {
    "plain http": lambda certs: (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "close"),
    "garbage": lambda certs: (bytes(range(256)) * 4, "close"),
    "truncated client hello": lambda certs: (client_hello(certs)[:40], "eof"),
    "stalled mid-handshake": lambda certs: (client_hello(certs)[:40], "stall"),
    "silent": lambda certs: (b"", "stall"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_peers_close_quietly_and_spare_the_others(running, certs, name, caplog):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context(), handshake_timeout=0.3)
    data, then = HOSTILE[name](certs)
    with tls_connect(port, certs.client_context()) as good, caplog.at_level(logging.DEBUG, "cyreactor"):
        good.sendall(b"before")
        assert recv_at_least(good, 6) == b"before"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as bad:
            bad.sendall(data)
            if then == "eof":
                bad.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            try:
                assert recv_until_eof(bad) == b""
            except ConnectionResetError:
                pass
            took = time.monotonic() - started
        if then == "stall":
            assert 0.25 < took < 5
        good.sendall(b"after")
        assert recv_at_least(good, 5) == b"after"
    wait_for(lambda: running.reactor.stats()["handshake_failures"] == 1)
    assert len(made) == 1 and factory.built[1].events == []       # never made, never lost
    assert any(r.levelno == logging.DEBUG and "failed" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]


def test_plain_http_to_the_https_port_is_answered_400_in_the_clear(running, certs):
    port = https_server(running, certs.server_context())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = recv_until_eof(sock)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert reply.endswith(b"plain HTTP request sent to the HTTPS port\n")


def test_200_concurrent_handshakes(running, certs):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())
    ctx = certs.client_context()

    async def one(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
        writer.write(b"%d\n" % i)
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    async def many():
        return await asyncio.gather(*[one(i) for i in range(200)])

    assert asyncio.run(many()) == [b"%d\n" % i for i in range(200)]
    wait_for(lambda: running.reactor.stats()["open"] == 0)
    assert running.reactor.stats()["tls_handshakes"] == 200


def test_1000_handshakes_hold_no_descriptors_or_memory(running, certs):
    factory, made = recorders()
    port = serve(running, factory, certs.server_context())
    ctx = certs.client_context()

    def rounds(n):
        for i in range(n):
            with tls_connect(port, ctx) as sock:
                sock.sendall(b"ping")
                assert recv_at_least(sock, 4) == b"ping"
            if i % 7 == 0:           # and a failed handshake now and then
                with socket.create_connection(("127.0.0.1", port)) as bad:
                    bad.sendall(b"\x16\x03\x01\x00\x05junk!")
                    recv_until_eof(bad)
        wait_for(lambda: running.reactor.stats()["open"] == 0)
        made.clear()
        factory.built.clear()
        gc.collect()

    rounds(200)
    fds, heap = open_fds(), heap_in_use()
    rounds(1000)
    assert open_fds() == fds
    assert heap_in_use() - heap < 1 << 20


# ---- the HTTPS server from the command line, and the README --------------------------


def run_server(argv, cwd=None):
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd)
    line = proc.stdout.readline()
    match = re.search(r"(\d+)\D*$", line.strip())
    if not match:
        proc.kill()
        raise AssertionError(f"{line!r} {proc.communicate()[1]}")
    return proc, line, int(match.group(1))


def stop(proc):
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_serves_https_with_uvicorns_flags(pems):
    proc, line, port = run_server(["-m", "cyreactor", "--port", "0", "--ssl-certfile", pems["server"],
                                   "--ssl-ca-certs", pems["ca"], "--ssl-cert-reqs", "2"])
    try:
        assert line.startswith(f"cyreactor demo server listening on https://127.0.0.1:{port}/")
        ctx = ssl.create_default_context(cafile=pems["ca"])
        ctx.load_cert_chain(pems["client"])
        with tls_connect(port, ctx) as sock:
            assert sock.selected_alpn_protocol() is None
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_until_eof(sock).endswith(http.DEMO_BODY)
        ctx = ssl.create_default_context(cafile=pems["ca"])
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with pytest.raises((ssl.SSLError, ConnectionError)):   # no client certificate
            with tls_connect(port, ctx) as sock:
                assert sock.selected_alpn_protocol() == "http/1.1"
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(100)
    finally:
        stop(proc)


def test_cli_encrypted_key_and_its_password(certs, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.server.private_key_pem.bytes(), None)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"sesame")))
    certs.server.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    flags = ["--ssl-certfile", str(tmp_path / "cert.pem"), "--ssl-keyfile", str(tmp_path / "key.pem")]
    out = subprocess.run([sys.executable, "-m", "cyreactor", "--port", "0", *flags,
                          "--ssl-keyfile-password", "wrong"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "error:" in out.stderr
    proc, line, port = run_server(["-m", "cyreactor", "--port", "0", *flags, "--ssl-keyfile-password", "sesame"])
    try:
        with tls_connect(port, certs.client_context()) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_until_eof(sock).endswith(http.DEMO_BODY)
    finally:
        stop(proc)


def test_cli_refuses_tls_flags_without_a_certificate(pems):
    out = subprocess.run([sys.executable, "-m", "cyreactor", "--ssl-keyfile", pems["server"]],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "error: the TLS flags need --ssl-certfile" in out.stderr


def readme_block(heading):
    """The first ```python block after ``heading`` in README.md."""
    readme = (__import__("pathlib").Path(__file__).parent.parent / "README.md").read_text()
    rest = readme[readme.index(heading):]
    return re.search(r"```python\n(.*?)```", rest, re.S).group(1)


@pytest.mark.parametrize("heading", ["### A TLS echo server", "### An HTTPS server"])
def test_readme_tls_examples(tmp_path, certs, pems, heading):
    certs.server.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    certs.server.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    code = readme_block(heading)
    assert "8443" in code
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = code.replace("8443", str(port))
    (tmp_path / "example.py").write_text("print('ready', flush=True)\n" + code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "example.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout.readline() == "ready\n"
        ctx = ssl.create_default_context(cafile=pems["ca"])
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = tls_connect(port, ctx)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with sock:
            if "HTTPS" in heading:
                sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert recv_until_eof(sock).endswith(b"hello over https\n")
            else:
                sock.sendall(b"echo me")
                assert recv_at_least(sock, 7) == b"echo me"
    finally:
        stop(proc)


# ---- misuse ------------------------------------------------------------------------


def test_arguments_are_checked(reactor, certs):
    with pytest.raises(TypeError, match="ssl must be an ssl.SSLContext"):
        reactor.listen("127.0.0.1", 0, Recorder, ssl="cert.pem")
    with pytest.raises(ValueError, match="ssl_shutdown_timeout is only meaningful with ssl"):
        reactor.listen("127.0.0.1", 0, Recorder, ssl_shutdown_timeout=1)
    with pytest.raises(ValueError, match="handshake_timeout is only meaningful"):
        reactor.listen("127.0.0.1", 0, Recorder, handshake_timeout=1)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="handshake_timeout"):
            reactor.listen("127.0.0.1", 0, Recorder, ssl=certs.server_context(), handshake_timeout=bad)
    with pytest.raises(ssl.SSLError, match="PROTOCOL_TLS_CLIENT"):    # a client context cannot serve
        reactor.listen("127.0.0.1", 0, Recorder, ssl=certs.client_context())
    with pytest.raises(ValueError, match="only meaningful with ssl"):
        reactor.connect("127.0.0.1", 1, Recorder, server_hostname="x")
    assert reactor.stats()["listeners"] == 0


def test_start_tls_and_sendfile_misuse(running, certs, tmp_path):
    with session(running, certs) as (sock, handler, port):
        conn = handler.conn
        with pytest.raises(RuntimeError, match="already uses TLS"):
            running.call(conn.start_tls, certs.server_context(), server_side=True)
        (tmp_path / "f").write_bytes(b"data")
        with open(tmp_path / "f", "rb") as f, pytest.raises(RuntimeError, match="not available on a TLS"):
            running.call(conn.sendfile, f)

    def too_early():
        conn = running.reactor.connect("127.0.0.1", port, cyreactor.Handler)
        try:
            conn.start_tls(certs.client_context(), server_hostname="localhost")
        finally:
            conn.abort()

    with pytest.raises(RuntimeError, match="established"):
        running.call(too_early)


def test_every_method_survives_misuse_in_every_tls_and_proxy_state():
    # Connections mid-handshake, waiting for a PROXY header, established
    # on either side, and waiting for the peer's close_notify: each walked
    # alive (abort() and close() left out), then walked whole.
    result = walk_in_subprocess("""
        import socket, sys
        sys.path.insert(0, ".")
        import cyreactor
        from cyreactor._tls import TLSEngine
        from support.misuse import call_everything
        from support.tls import Certs

        certs = Certs()
        reactor = cyreactor.Reactor()
        tls = reactor.listen("127.0.0.1", 0, cyreactor.Handler, ssl=certs.server_context())
        proxy = reactor.listen("127.0.0.1", 0, cyreactor.Handler, proxy_protocol=True,
                               ssl=certs.server_context())
        silent = socket.create_connection(tls.sockname)
        half = socket.create_connection(proxy.sockname)
        half.sendall(b"PROXY TCP4 ")
        outbound = reactor.connect("127.0.0.1", tls.sockname[1], cyreactor.Handler,
                                   ssl=certs.client_context(), server_hostname="localhost")
        client = TLSEngine.memory(certs.client_context(), False, "localhost")
        raw = socket.create_connection(tls.sockname)
        raw.setblocking(False)
        client.start()
        for _ in range(100):
            raw.send(client.outgoing())
            reactor.run_once(0.01)
            try:
                client.receive(raw.recv(65536))
            except BlockingIOError:
                pass
        waiting = [c for c in reactor.connections() if c.get_extra_info("peername") == raw.getsockname()]
        waiting[0].close()                         # close_notify out; raw never answers
        live = reactor.connections()
        assert len(live) == 5, live
        for conn in live:
            call_everything(conn, skip={"abort", "close"})
        classes = []
        objects = live + [tls, proxy, reactor]
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])
