"""TLS helpers: trustme certificates and contexts, Python's ssl.SSLObject
behind the same small surface as TLSEngine's memory mode, and pumps that
move ciphertext between two peers in memory or over a socket."""
import contextlib
import socket
import ssl
import struct

import trustme

from cyreactor._tls import TLSEngine

VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class Certs:
    """One CA; a server certificate for localhost, 127.0.0.1 and
    example.test, another for other.test, and a client certificate."""

    def __init__(self):
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("localhost", "127.0.0.1", "example.test")
        self.other = self.ca.issue_cert("other.test")
        self.client = self.ca.issue_cert("client@example.test")

    def server_context(self, version=None, alpn=None, cert=None, require_client_cert=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        (cert or self.server).configure_cert(ctx)
        _limit(ctx, version, alpn)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(ctx)
        return ctx

    def client_context(self, version=None, alpn=None, trusted=True, client_cert=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if trusted:
            self.ca.configure_trust(ctx)
        if client_cert:
            self.client.configure_cert(ctx)
        _limit(ctx, version, alpn)
        return ctx


def _limit(ctx, version, alpn):
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)


class PyPeer:
    """ssl.SSLObject over two MemoryBIOs, as asyncio drives it, with the
    surface of TLSEngine's memory mode."""

    def __init__(self, ctx, server_side=False, server_hostname=None):
        self.incoming = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self.incoming, self.out, server_side, server_hostname)
        self.handshake_done = False
        self.peer_closed = False

    def start(self):
        self.receive()

    def receive(self, data=b""):
        if data:
            self.incoming.write(data)
        if not self.handshake_done:
            try:
                self.sslobj.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.handshake_done = True
        chunks = []
        while True:
            try:
                chunk = self.sslobj.read(1 << 16)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            if not chunk:
                self.peer_closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def feed_eof(self):
        self.incoming.write_eof()

    def send(self, data):
        self.sslobj.write(data)

    def shutdown(self):
        try:
            self.sslobj.unwrap()
        except ssl.SSLWantReadError:
            pass

    def outgoing(self):
        return self.out.read()

    def get_extra_info(self, name):
        return self.sslobj if name == "ssl_object" else None


def engine(ctx, server_side=False, server_hostname=None):
    return TLSEngine.memory(ctx, server_side, server_hostname)


def handshake(client, server, rounds=10):
    """Runs both sides to completion in memory; the first error raises from
    the side that met it, as (side, exception) in ``HandshakeFailed``."""
    client.start()
    for _ in range(rounds):
        try:
            server.receive(client.outgoing())
        except ssl.SSLError as exc:
            raise HandshakeFailed("server", exc) from exc
        try:
            client.receive(server.outgoing())
        except ssl.SSLError as exc:
            raise HandshakeFailed("client", exc) from exc
        if client.handshake_done and server.handshake_done:
            # TLS 1.3 session tickets and the like, still in flight.
            client.receive(server.outgoing())
            server.receive(client.outgoing())
            return
    raise AssertionError("the handshake did not finish")


class HandshakeFailed(Exception):
    def __init__(self, side, exc):
        super().__init__(side, exc)
        self.side = side
        self.exc = exc


def transfer(sender, receiver, data):
    sender.send(data)
    return receiver.receive(sender.outgoing())


def pump_socket(peer, sock, until, timeout=10.0):
    """Moves ciphertext between a memory-mode peer and a blocking socket
    until ``until()`` is true; returns the plaintext received."""
    sock.settimeout(timeout)
    got = []
    while True:
        out = peer.outgoing()
        if out:
            sock.sendall(out)
        if until(b"".join(got)):
            return b"".join(got)
        data = sock.recv(1 << 16)
        if not data:
            peer.feed_eof()
        got.append(peer.receive(data))
        if not data:
            return b"".join(got)


def serve_once(ctx, handle):
    """A listening socket on 127.0.0.1 whose first connection is wrapped
    by Python's ssl (server side) and passed to ``handle`` in a thread."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    result = {}

    def run():
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                result["value"] = handle(tls)
        except BaseException as exc:  # reported by the test through result
            result["error"] = exc
        finally:
            listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname(), thread, result


class OpenSSLServer:
    """``openssl s_server`` for one connection on 127.0.0.1, with its
    interactive commands (openssl-s_server(1), CONNECTED COMMANDS) on stdin."""

    def __init__(self, certs, version, tmp_path):
        import subprocess

        pem = tmp_path / "server.pem"
        certs.server.private_key_and_cert_chain_pem.write_to_path(str(pem))
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(pem),
             "-" + version.replace("TLSv1.", "tls1_"), "-naccept", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._printed = b""
        match = self.wait_for(rb"ACCEPT \S+:(\d+)\n")
        self.port = int(match.group(1))

    def type(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def wait_for(self, pattern, timeout=10.0):
        """The match of `pattern` (a bytes regex) in what s_server printed."""
        import os
        import re
        import select
        import time

        deadline = time.monotonic() + timeout
        while not (match := re.search(pattern, self._printed)):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"s_server never printed {pattern!r}: {self._printed[-500:]!r}")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise AssertionError(f"s_server exited without printing {pattern!r}")
            self._printed += chunk
        return match

    def output(self):
        """Stops the server (end of input, then SIGTERM if it lingers);
        everything it printed."""
        import subprocess

        if self.proc.returncode is None:
            try:
                rest, _ = self.proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                rest, _ = self.proc.communicate(timeout=5)
            self._printed += rest
        return self._printed


def write_pems(certs, directory):
    """The server's chain+key, the other certificate's, the client's, and the
    CA as PEM files in ``directory``: {"server", "other", "client", "ca"}."""
    paths = {}
    for name in ("server", "other", "client"):
        path = directory / f"{name}.pem"
        getattr(certs, name).private_key_and_cert_chain_pem.write_to_path(str(path))
        paths[name] = str(path)
    paths["ca"] = str(directory / "ca.pem")
    certs.ca.cert_pem.write_to_path(paths["ca"])
    return paths


def tls_connect(port, ctx, server_hostname="localhost", timeout=10.0):
    """A blocking ssl.SSLSocket connected (and handshaken) to 127.0.0.1:port."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def recv_at_least(sock, n):
    """At least ``n`` bytes from ``sock`` (fewer only at EOF)."""
    got = b""
    while len(got) < n:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    return got


def payload(n):
    return bytes(i * 7 % 251 for i in range(n))


def records(ciphertext):
    """(content type, length) of each TLS record (RFC 8446 section 5.1)."""
    out = []
    while ciphertext:
        kind, _, length = struct.unpack("!BHH", ciphertext[:5])
        out.append((kind, length))
        ciphertext = ciphertext[5 + length:]
    return out


def handshake_over(sock, client, before=b"", answer=b""):
    """Runs a memory-mode client's handshake over a blocking socket:
    ``before`` goes in the same write as its first flight (a PROXY header,
    a STARTTLS command); ``answer`` is the plaintext the server must send
    first."""
    client.start()
    sock.sendall(before + client.outgoing())
    if answer:
        assert sock.recv(len(answer)) == answer
    while not client.handshake_done:
        client.receive(sock.recv(1 << 16))
        sock.sendall(client.outgoing())


def line_over(sock, client, data):
    """Sends ``data`` through a memory-mode client; the plaintext that comes
    back, up to a newline."""
    client.send(data)
    sock.sendall(client.outgoing())
    got = b""
    while not got.endswith(b"\n"):
        got += client.receive(sock.recv(1 << 16))
    return got


@contextlib.contextmanager
def asyncio_tls_server(ctx):
    """An asyncio TLS server on a thread of its own that answers the first
    line of each connection upper-cased, then closes: yields its port."""
    import asyncio
    import threading

    ready = threading.Event()
    state = {}

    async def main():
        async def echo(reader, writer):
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ctx)
        state["port"] = server.sockets[0].getsockname()[1]
        state["stop"] = asyncio.get_running_loop().create_future()
        ready.set()
        await state["stop"]
        server.close()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "the asyncio server did not start"
        yield state["port"]
    finally:
        loop.call_soon_threadsafe(lambda: state["stop"].done() or state["stop"].set_result(None))
        thread.join(10)
        loop.close()
