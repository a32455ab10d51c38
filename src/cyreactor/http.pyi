import socket
import ssl
from typing import Any, Awaitable, Callable, Literal, Sequence

from cyreactor._http import (
    DEMO_BODY as DEMO_BODY,
    ClientDisconnected as ClientDisconnected,
    FileWrapper as FileWrapper,
    Headers as Headers,
    Request as Request,
    RequestHandler as RequestHandler,
    Response as Response,
    ResponseWriter as ResponseWriter,
    ServerCore,
    http_date as http_date,
)
from cyreactor._httpparser import (
    HttpParseError as HttpParseError,
    RequestParser as RequestParser,
    parse_requests as parse_requests,
)
from cyreactor._loop import Listener, Reactor
from cyreactor.metrics import Scoreboard

__all__: list[str]
DEFAULTS: dict[str, Any]

_App = Any   # native: Callable[[Request], Response | Awaitable[Response]], a RequestHandler subclass,
             # a Router or None; asgi: an ASGI 3.0 app; wsgi: a WSGI app
_Interface = Literal["native", "asgi", "wsgi"]
INTERFACES: tuple[str, ...]

# The keyword options below are cyreactor.http_options' table, in its order
# (tests/test_http_options.py checks them).

class HttpServer:
    core: ServerCore
    listeners: list[Listener]
    interface: str
    def __init__(self, app: _App = ..., *, interface: _Interface = ..., root_path: str = ...,
                 threads: int = ..., multiprocess: bool = ..., max_request_line: int = ..., max_head_size: int = ...,
                 max_headers: int = ..., max_body_size: int = ..., header_timeout: float = ...,
                 body_timeout: float = ..., min_body_rate: int = ..., keepalive_timeout: float = ...,
                 send_timeout: float = ..., linger_timeout: float = ..., max_connections: int = ...,
                 shutdown_timeout: float = ..., drain_delay: float = ..., health_path: str = ...,
                 metrics_path: str = ..., proxy_headers: bool = ..., forwarded_allow_ips: str = ...,
                 access_log: bool = ..., access_log_format: str = ...,
                 proxy_protocol: bool = ..., handshake_timeout: float = ...) -> None: ...
    def listen(self, reactor: Reactor, host: str = ..., port: int = ..., *, reuse_port: bool = ...,
               backlog: int = ..., ssl: ssl.SSLContext | None = ...,
               proxy_protocol: bool | None = ...) -> Listener: ...
    def listen_unix(self, reactor: Reactor, path: str, *, backlog: int = ...,
                    ssl: ssl.SSLContext | None = ..., proxy_protocol: bool | None = ...) -> Listener: ...
    def listen_socket(self, reactor: Reactor, sock: socket.socket, *, backlog: int = ...,
                      ssl: ssl.SSLContext | None = ..., proxy_protocol: bool | None = ...) -> Listener: ...
    @property
    def needs_loop(self) -> bool: ...
    def serve_metrics(self, reactor: Reactor, scoreboard: Scoreboard | None = ...) -> Callable[[], bytes]: ...
    def heartbeat(self, reactor: Reactor, scoreboard: Scoreboard, max_requests: int = ...) -> None: ...
    def stop_accepting(self) -> None: ...
    def shutdown(self, reactor: Reactor, *, timeout: float | None = ...,
                 callback: Callable[[], object] | None = ..., stop_reactor: bool = ...,
                 drain_delay: float | None = ...) -> None: ...
    def stats(self) -> dict[str, int]: ...

class Router:
    def __init__(self, routes: dict[str, Any] | None = ...) -> None: ...
    def add(self, path: str, endpoint: Any, methods: list[str] | None = ...) -> Any: ...
    def route(self, path: str, methods: list[str] | None = ...) -> Callable[[Any], Any]: ...
    def handler_for(self, request: Request) -> type[RequestHandler] | None: ...
    def __call__(self, request: Request) -> Response | Awaitable[Response]: ...

HEARTBEAT_INTERVAL: float

def serve(app: _App, host: str = ..., port: int = ..., *, interface: _Interface = ..., root_path: str = ...,
          threads: int = ..., lifespan: str = ..., sockets: Sequence[socket.socket] | None = ...,
          reuse_port: bool = ..., backlog: int = ..., ready: Callable[[Any], object] | None = ...,
          setup: Callable[[Any, HttpServer], object] | None = ...,
          tune_malloc: bool = ..., metrics_port: int | socket.socket | None = ..., scoreboard: Scoreboard | None = ...,
          max_requests: int = ..., ssl: ssl.SSLContext | None = ..., max_request_line: int = ...,
          max_head_size: int = ..., max_headers: int = ..., max_body_size: int = ...,
          header_timeout: float = ..., body_timeout: float = ..., min_body_rate: int = ...,
          keepalive_timeout: float = ..., send_timeout: float = ..., linger_timeout: float = ...,
          max_connections: int = ..., shutdown_timeout: float = ..., drain_delay: float = ...,
          health_path: str = ..., metrics_path: str = ..., proxy_headers: bool = ...,
          forwarded_allow_ips: str = ..., access_log: bool = ...,
          access_log_format: str = ..., proxy_protocol: bool = ..., handshake_timeout: float = ...) -> HttpServer: ...
async def serve_async(app: _App, host: str = ..., port: int = ..., *, reuse_port: bool = ..., backlog: int = ...,
                      ready: Callable[[Any], object] | None = ..., ssl: ssl.SSLContext | None = ...,
                      max_request_line: int = ...,
                      max_head_size: int = ..., max_headers: int = ..., max_body_size: int = ...,
                      header_timeout: float = ..., body_timeout: float = ..., min_body_rate: int = ...,
                      keepalive_timeout: float = ..., send_timeout: float = ..., linger_timeout: float = ...,
                      max_connections: int = ..., shutdown_timeout: float = ..., drain_delay: float = ...,
                      health_path: str = ..., metrics_path: str = ..., proxy_headers: bool = ...,
                      forwarded_allow_ips: str = ..., access_log: bool = ...,
                      access_log_format: str = ..., proxy_protocol: bool = ..., handshake_timeout: float = ...) -> None: ...
def keep_freed_memory(max_block: int) -> bool: ...
def url_for(sockname: Any, tls: bool = ...) -> str: ...
