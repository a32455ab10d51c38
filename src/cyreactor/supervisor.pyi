import socket
from typing import Any, Callable

from cyreactor.metrics import Scoreboard

class Supervisor:
    worker: Callable[[Callable[[], None]], int | None]
    count: int
    stop_timeout: float
    ready_timeout: float
    min_uptime: float
    max_backoff: float
    scoreboard: Scoreboard | None
    heartbeat_timeout: float | None
    workers: dict[int, Any]
    def __init__(self, worker: Callable[[Callable[[], None]], int | None], count: int, *,
                 stop_timeout: float = ..., ready_timeout: float = ..., min_uptime: float = ...,
                 max_backoff: float = ..., scoreboard: Scoreboard | None = ...,
                 heartbeat_timeout: float | None = ...) -> None: ...
    def run(self, started: Callable[[list[int]], object] | None = ...) -> int: ...

def exit_on_signals() -> None: ...
def reserve_port(host: str, port: int) -> socket.socket: ...
