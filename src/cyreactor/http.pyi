from typing import Any, Callable

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
                 shutdown_timeout: float = ..., access_log: bool = ...) -> None: ...
    def listen(self, reactor: Reactor, host: str = ..., port: int = ..., *, reuse_port: bool = ...,
               backlog: int = ...) -> Listener: ...
    def stop_accepting(self) -> None: ...
    def shutdown(self, reactor: Reactor, *, timeout: float | None = ...,
                 callback: Callable[[], object] | None = ..., stop_reactor: bool = ...) -> None: ...
    def stats(self) -> dict[str, int]: ...

def serve(app: _App, host: str = ..., port: int = ..., *, reuse_port: bool = ..., backlog: int = ...,
          ready: Callable[[Any], object] | None = ..., tune_malloc: bool = ..., max_request_line: int = ...,
          max_head_size: int = ..., max_headers: int = ..., max_body_size: int = ...,
          header_timeout: float = ..., body_timeout: float = ..., min_body_rate: int = ...,
          keepalive_timeout: float = ..., send_timeout: float = ..., linger_timeout: float = ...,
          max_connections: int = ..., shutdown_timeout: float = ..., access_log: bool = ...) -> HttpServer: ...
async def serve_async(app: _App, host: str = ..., port: int = ..., *, reuse_port: bool = ..., backlog: int = ...,
                      ready: Callable[[Any], object] | None = ..., max_request_line: int = ...,
                      max_head_size: int = ..., max_headers: int = ..., max_body_size: int = ...,
                      header_timeout: float = ..., body_timeout: float = ..., min_body_rate: int = ...,
                      keepalive_timeout: float = ..., send_timeout: float = ..., linger_timeout: float = ...,
                      max_connections: int = ..., shutdown_timeout: float = ..., access_log: bool = ...) -> None: ...
def keep_freed_memory(max_block: int) -> bool: ...
def url_for(sockname: Any) -> str: ...
