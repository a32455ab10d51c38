"""cyreactor as an asyncio event loop: the three ways in (cyreactor.run,
asyncio.Runner's loop factory, the policy), asyncio's stream, protocol and
buffered-protocol servers on native transports, native handlers and asyncio
tasks on one loop, the HTTP server inside asyncio, TLS, subprocesses,
threads, signals, debug mode, and errors reported as asyncio reports them."""
import asyncio
import gc
import hashlib
import logging
import os
import signal
import socket
import ssl
import sys
import time
import warnings

import pytest

import cyreactor
from cyreactor import http
from support.net import reset


def run(coro):
    return cyreactor.run(coro)


def test_three_ways_to_get_the_loop():
    async def which():
        return type(asyncio.get_running_loop())

    assert run(which()) is cyreactor.Loop
    with asyncio.Runner(loop_factory=cyreactor.new_event_loop) as runner:
        assert runner.run(which()) is cyreactor.Loop
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(cyreactor.EventLoopPolicy())
    try:
        assert asyncio.run(which()) is cyreactor.Loop
    finally:
        asyncio.set_event_loop_policy(old)


def test_the_loop_is_a_complete_abstract_event_loop():
    loop = cyreactor.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert loop.reactor is loop and isinstance(loop, cyreactor.Reactor)
        abstract = {name for name in dir(asyncio.AbstractEventLoop) if not name.startswith("_")}
        missing = {name for name in abstract
                   if getattr(type(loop), name) is getattr(asyncio.AbstractEventLoop, name)}
        assert not missing, f"not implemented: {sorted(missing)}"
    finally:
        loop.close()


async def _echo_streams(reader, writer):
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_streams_echo_integrity_random_payloads_to_4_mib():
    async def main():
        server = await asyncio.start_server(_echo_streams, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def client(size):
            payload = os.urandom(size)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert isinstance(writer.transport, asyncio.Transport)

            async def send():
                writer.write(payload)
                await writer.drain()
                writer.write_eof()

            sender = asyncio.create_task(send())
            got = await reader.read()
            await sender
            writer.close()
            await writer.wait_closed()
            return hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()

        sizes = [0, 1, 1000, 65536, 65537, 1 << 20, 4 << 20] + [os.urandom(1)[0] * 997 for _ in range(13)]
        results = await asyncio.gather(*(client(n) for n in sizes))
        server.close()
        await server.wait_closed()
        return results

    assert all(run(main()))


class BufferedEcho(asyncio.BufferedProtocol):
    def __init__(self):
        self.buf = bytearray(4096)
        self.received = 0

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.received += nbytes
        self.transport.write(bytes(self.buf[:nbytes]))


def test_buffered_protocol_receives_into_its_own_buffer():
    async def main():
        protocols = []

        def factory():
            protocols.append(BufferedEcho())
            return protocols[-1]

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        payload = os.urandom(100_000)
        writer.write(payload)
        got = await reader.readexactly(len(payload))
        writer.close()
        server.close()
        await server.wait_closed()
        return got == payload and protocols[0].received == len(payload)

    assert run(main())


def test_native_handlers_and_asyncio_tasks_share_the_loop():
    # A native handler on the loop's reactor starts a task from
    # data_received; the task awaits and answers.
    class Delayed(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            loop = asyncio.get_running_loop()
            loop.create_task(self.answer(data))

        async def answer(self, data):
            await asyncio.sleep(0.01)
            self.conn.write(data.upper())

    async def main():
        loop = asyncio.get_running_loop()
        listener = loop.reactor.listen("127.0.0.1", 0, Delayed)
        reader, writer = await asyncio.open_connection(*listener.sockname)
        writer.write(b"hello")
        got = await reader.readexactly(5)
        writer.close()
        listener.close()
        return got

    assert run(main()) == b"HELLO"


def test_the_http_server_runs_inside_asyncio_run():
    def app(request):
        return http.Response(200, [("content-type", "text/plain")], f"hi {request.path}")

    async def main():
        loop = asyncio.get_running_loop()
        server = http.HttpServer(app)
        listener = server.listen(loop, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*listener.sockname)
        writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        response = await reader.read()
        server.stop_accepting()
        return response

    response = run(main())
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"hi /x")


def test_tls_server_and_client_with_trustme_certificates():
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main():
        server = await asyncio.start_server(_echo_streams, "127.0.0.1", 0, ssl=server_ctx)
        reader, writer = await asyncio.open_connection(
            *server.sockets[0].getsockname()[:2], ssl=client_ctx, server_hostname="localhost")
        payload = os.urandom(300_000)
        writer.write(payload)
        writer.write_eof() if writer.can_write_eof() else None
        got = await reader.readexactly(len(payload))
        version = writer.get_extra_info("ssl_object").version()
        writer.close()
        server.close()
        await server.wait_closed()
        return got == payload, version

    ok, version = run(main())
    assert ok and version.startswith("TLS")


def test_subprocess_thread_and_executor():
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate(b"piped through")
        threaded = await asyncio.to_thread(sum, range(10))
        resolved = await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        return out, proc.returncode, threaded, resolved[0][4]

    assert run(main()) == (b"PIPED THROUGH", 0, 45, ("127.0.0.1", 80))


def test_signal_handler_runs_on_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, got.set)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(got.wait(), 5)
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)
        return True

    assert run(main())


class Raising(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        raise ValueError("boom")

    def connection_lost(self, exc):
        self.lost = exc


def test_a_raising_protocol_is_reported_as_asyncio_reports_it_and_loses_its_connection():
    contexts = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: contexts.append(context))
        protocols = []
        server = await loop.create_server(lambda: protocols.append(Raising()) or protocols[-1],
                                          "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"x")
        assert await reader.read() == b""          # the server side was closed
        writer.close()
        server.close()
        await server.wait_closed()
        return protocols[0]

    protocol = run(main())
    assert [c["message"] for c in contexts] == ["Fatal error: protocol.data_received() call failed."]
    assert contexts[0]["protocol"] is protocol and isinstance(contexts[0]["exception"], ValueError)
    assert isinstance(protocol.lost, ValueError)


def test_a_client_reset_mid_stream_reaches_connection_lost():
    async def main():
        lost = asyncio.get_running_loop().create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, data):
                pass

            def connection_lost(self, exc):
                lost.set_result(exc)

        server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
        sock = socket.create_connection(server.sockets[0].getsockname()[:2])
        sock.sendall(b"partial")
        await asyncio.sleep(0.05)
        reset(sock)
        exc = await asyncio.wait_for(lost, 5)
        server.close()
        return exc

    exc = run(main())
    assert exc is None or isinstance(exc, ConnectionResetError)


def test_a_transport_closed_from_another_transports_callback():
    async def main():
        transports = []
        done = asyncio.get_running_loop().create_future()

        class Closer(asyncio.Protocol):
            def connection_made(self, transport):
                transports.append(transport)

            def data_received(self, data):
                for t in transports:
                    if t is not self and not t.is_closing():
                        t.abort()

            def connection_lost(self, exc):
                if not done.done() and all(t.is_closing() for t in transports):
                    done.set_result(True)

        server = await asyncio.get_running_loop().create_server(Closer, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()[:2]
        clients = [await asyncio.open_connection(*addr) for _ in range(2)]
        while len(transports) < 2:
            await asyncio.sleep(0.01)
        clients[0][1].write(b"go")
        await asyncio.wait_for(done, 5)
        for _, w in clients:
            w.close()
        server.close()
        return True

    assert run(main())


def test_debug_mode_logs_slow_callbacks(caplog):
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.01
        loop.call_soon(time.sleep, 0.05)
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.WARNING):
        run(main())
    assert any("took" in r.getMessage() for r in caplog.records)


def test_an_unclosed_loop_warns():
    loop = cyreactor.new_event_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del loop
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_stop_before_run_forever_polls_once():
    loop = cyreactor.new_event_loop()
    try:
        ran = []
        loop.call_soon(ran.append, 1)
        loop.stop()
        loop.run_forever()
        assert ran == [1] and not loop.is_running()
    finally:
        loop.close()


def test_aiohttp_server_and_client():
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def hello(request):
        return web.Response(text="hello")

    async def upload(request):
        data = await request.read()
        return web.Response(text=hashlib.sha256(data).hexdigest())

    async def stream(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(100):
            await response.write(b"%d\n" % i)
        await response.write_eof()
        return response

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str(msg.data.upper())
        return sock

    async def main():
        app = web.Application(client_max_size=16 << 20)
        app.add_routes([web.get("/", hello), web.post("/up", upload), web.get("/stream", stream),
                        web.get("/ws", ws)])
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        payload = os.urandom(5 << 20)
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/") as r:
                assert await r.text() == "hello"
            async with session.post(base + "/up", data=payload) as r:
                assert await r.text() == hashlib.sha256(payload).hexdigest()
            async with session.get(base + "/stream") as r:
                assert (await r.text()).splitlines() == [str(i) for i in range(100)]
            async with session.ws_connect(base + "/ws") as sock:
                await sock.send_str("ping")
                assert (await sock.receive()).data == "PING"
        await runner.cleanup()
        return True

    assert run(main())


def test_uvicorn_serves_starlette_on_the_cyreactor_loop(tmp_path):
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    import subprocess
    import urllib.request

    (tmp_path / "app.py").write_text(
        "import asyncio\n"
        "from starlette.applications import Starlette\n"
        "from starlette.responses import PlainTextResponse\n"
        "from starlette.routing import Route\n"
        "async def home(request):\n"
        "    return PlainTextResponse(type(asyncio.get_running_loop()).__module__)\n"
        "app = Starlette(routes=[Route('/', home)])\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:app", "--port", str(port),
                             "--host", "127.0.0.1", "--loop", "cyreactor:new_event_loop"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read()
                break
            except OSError:
                assert time.monotonic() < deadline, proc.stdout.read1(10000) if proc.poll() is not None else "no answer"
                time.sleep(0.1)
        assert body == b"cyreactor.eventloop"
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_serve_async_serves_until_cancelled_then_drains():
    async def main():
        bound = asyncio.get_running_loop().create_future()
        server = asyncio.get_running_loop().create_task(
            http.serve_async(lambda request: http.Response(200, body=b"ok"), port=0,
                             ready=bound.set_result))
        host, port = (await bound)[:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        rest = await reader.read()          # the idle keep-alive connection is closed
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(host, port)
        return head, rest

    head, rest = run(main())
    assert head.startswith(b"HTTP/1.1 200 OK") and rest == b"ok"


def test_half_close_keeps_the_other_direction_open():
    async def main():
        class Upper(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
                self.data = b""

            def data_received(self, data):
                self.data += data

            def eof_received(self):
                self.transport.write(self.data.upper())
                self.transport.close()
                return True

        server = await asyncio.get_running_loop().create_server(Upper, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"half")
        writer.write_eof()
        got = await reader.read()
        writer.close()
        server.close()
        return got

    assert run(main()) == b"HALF"


def test_an_asyncio_server_out_of_descriptors_keeps_serving():
    # EMFILE: the listener is set aside, not spun on; served clients are
    # unaffected and new ones are accepted once descriptors are free.
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import asyncio, resource, socket, cyreactor
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        async def echo(reader, writer):
            while data := await reader.read(100):
                writer.write(data)
            writer.close()

        async def main():
            loop = asyncio.get_running_loop()
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            addr = server.sockets[0].getsockname()
            first = await asyncio.open_connection(*addr)
            flood = []
            for _ in range(80):
                try:
                    flood.append(socket.create_connection(addr, timeout=1))
                except OSError:
                    break
            await asyncio.sleep(0.3)
            before = loop.stats()["iterations"]
            await asyncio.sleep(0.5)
            spin = loop.stats()["iterations"] - before
            first[1].write(b"still here")
            assert await first[0].readexactly(10) == b"still here"
            for s in flood:
                s.close()
            await asyncio.sleep(0.3)
            r, w = await asyncio.open_connection(*addr)
            w.write(b"new")
            assert await r.readexactly(3) == b"new"
            assert loop.stats()["emfile"] > 0, loop.stats()
            print("ok", spin)

        cyreactor.run(main())
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-3000:]
    assert int(proc.stdout.split()[1]) < 50       # no busy loop while out of descriptors
