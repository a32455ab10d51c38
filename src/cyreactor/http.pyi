import socket
import ssl
from typing import Any, Callable, Sequence

from cyreactor._http import (
    DEMO_BODY as DEMO_BODY,
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

_App = Callable[[Request], Response] | type[RequestHandler] | None

# The keyword options below are cyreactor.http_options' table, in its order
# (tests/test_http_options.py checks them).

class HttpServer:
    core: ServerCore
    listeners: list[Listener]
    def __init__(self, app: _App = ..., *, max_request_line: int = ..., max_head_size: int = ...,
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
    def listen_socket(self, reactor: Reactor, sock: socket.socket, *, backlog: int = ...,
                      ssl: ssl.SSLContext | None = ..., proxy_protocol: bool | None = ...) -> Listener: ...
    def serve_metrics(self, reactor: Reactor, scoreboard: Scoreboard | None = ...) -> Callable[[], bytes]: ...
    def heartbeat(self, reactor: Reactor, scoreboard: Scoreboard, max_requests: int = ...) -> None: ...
    def stop_accepting(self) -> None: ...
    def shutdown(self, reactor: Reactor, *, timeout: float | None = ...,
                 callback: Callable[[], object] | None = ..., stop_reactor: bool = ...,
                 drain_delay: float | None = ...) -> None: ...
    def stats(self) -> dict[str, int]: ...

HEARTBEAT_INTERVAL: float

def serve(app: _App, host: str = ..., port: int = ..., *, sockets: Sequence[socket.socket] | None = ...,
          reuse_port: bool = ..., backlog: int = ..., ready: Callable[[Any], object] | None = ...,
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
