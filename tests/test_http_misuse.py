"""Nothing a Python caller does to the HTTP modules crashes the interpreter
(issue 8 item 5): every public class and method, and every function of the
modules, is called with wrong, missing and hostile arguments, on objects
made every way a caller can and on objects the server made, live and
finished, in a child interpreter that must not die of a signal."""
from support.misuse import walk_in_subprocess


def test_every_http_class_and_method_survives_misuse():
    # ServerCore()'s protocols (the issue's "config object") died of SIGSEGV
    # on resume_writing() and connection_made(None).
    result = walk_in_subprocess("""
        import socket, types
        import cyreactor
        from cyreactor import _http, _httpparser, http, http_options

        made = {}

        class Capture(http.RequestHandler):
            def __init__(self, request, response):
                super().__init__(request, response)
                made["request"], made["writer"], made["handler"] = request, response, self

            def on_complete(self):
                self.response.start(200, content_length=4)
                self.response.write(b"ok")            # left unfinished

        reactor = cyreactor.Reactor()
        server = http.HttpServer(Capture)
        port = server.listen(reactor, "127.0.0.1", 0).sockname[1]
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
        while "writer" not in made or not made["writer"].started:
            reactor.run_once(0.1)
        live = reactor.connections()[0].handler

        def public(module):
            return [v for k, v in vars(module).items()
                    if not k.startswith("_") and getattr(v, "__module__", None) == module.__name__]

        modules = [_http, _httpparser, http_options]
        classes = [v for m in modules + [http] for v in public(m) if isinstance(v, type)]
        # Module functions, but not those that serve, fork or tune the process.
        functions = types.SimpleNamespace(**{
            f.__name__: f for m in modules + [http] for f in public(m)
            if callable(f) and not isinstance(f, type) and f.__name__ not in ("serve", "keep_freed_memory")},
            _bench_build_head=_http._bench_build_head, _bench_feed=_httpparser._bench_feed)
        objects = [live, server, server.core, made["request"], made["writer"], made["handler"],
                   _http.ServerCore()(), _http.ServerCore(print)(), _http.ServerCore(Capture)(),
                   http.Response(200, body=iter([b"x"])), _httpparser.RequestParser(max_body_size=10),
                   functions]
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])


def test_the_app_interfaces_survive_misuse():
    # What an ASGI app and a WSGI app are given (the cycle behind receive and
    # send, the job behind start_response, the input), live and finished.
    result = walk_in_subprocess("""
        import select, socket, time
        import cyreactor
        from cyreactor import _http, apps, http

        made = {}

        async def asgi(scope, receive, send):
            made["cycle"] = receive.__self__
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"ok"})

        def wsgi(environ, start_response):
            made.setdefault("jobs", []).append(start_response.__self__)
            made.setdefault("inputs", []).append(environ["wsgi.input"])
            start_response("200 OK", [])
            return [b"ok"]

        loop = cyreactor.Loop()
        for app, interface, threads in ((asgi, "asgi", 0), (wsgi, "wsgi", 0), (wsgi, "wsgi", 2)):
            server = http.HttpServer(app, interface=interface, threads=threads)
            port = server.listen(loop, "127.0.0.1", 0).sockname[1]
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"POST / HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 1\\r\\n\\r\\nx")
            deadline = time.monotonic() + 5
            while not select.select([client], [], [], 0)[0] and time.monotonic() < deadline:
                loop.run_once(0.05)
            made[interface + str(threads)] = (server, client)

        classes = [_http.AsgiAdapter, _http.WsgiAdapter, _http.AppAdapter, _http.AsgiCycle, _http.WsgiJob,
                   _http.FileWrapper, _http.Responder, http.Router, apps.Lifespan]
        objects = [made["cycle"], *made["jobs"], *made["inputs"], _http.FileWrapper(None),
                   _http.AsgiAdapter(asgi), _http.WsgiAdapter(wsgi), http.Router()]
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])
