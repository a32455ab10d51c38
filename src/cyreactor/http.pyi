from typing import Any, Callable

from cyreactor._http import (
    DEMO_BODY as DEMO_BODY,
    Headers as Headers,
    HttpConfig,
    Request as Request,
    RequestHandler as RequestHandler,
    Response as Response,
    ResponseWriter as ResponseWriter,
    http_date as http_date,
)
from cyreactor._httpparser import (
    DEFAULT_LIMITS,
    HttpParseError as HttpParseError,
    RequestParser as RequestParser,
    parse_requests as parse_requests,
)
from cyreactor._loop import Listener, Reactor

__all__: list[str]
DEFAULTS: dict[str, Any]

_App = Callable[[Request], Response] | type[RequestHandler] | None

class HttpServer:
    config: HttpConfig
    listeners: list[Listener]
    def __init__(self, app: _App = ..., **options: Any) -> None: ...
    def listen(self, reactor: Reactor, host: str = ..., port: int = ..., *, reuse_port: bool = ...,
               backlog: int = ...) -> Listener: ...
    def stop_accepting(self) -> None: ...
    def shutdown(self, reactor: Reactor, *, timeout: float = ...,
                 callback: Callable[[], object] | None = ...) -> None: ...
    def stats(self) -> dict[str, int]: ...

def serve(app: _App, host: str = ..., port: int = ..., *, reuse_port: bool = ..., backlog: int = ...,
          shutdown_timeout: float = ..., ready: Callable[[Any], object] | None = ...,
          tune_malloc: bool = ..., **options: Any) -> HttpServer: ...
def keep_freed_memory(max_block: int) -> bool: ...
def url_for(sockname: Any) -> str: ...
